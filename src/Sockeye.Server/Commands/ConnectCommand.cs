using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Commands;

/// <summary>
/// CONNECT: resolves the destination and tries each of its addresses in turn, all within one connect timeout,
/// and reports the outcome as the reply code that matches what really happened.
/// </summary>
internal sealed class ConnectCommand
{
    private readonly IHostResolver _resolver;
    private readonly OutboundOptions _outbound;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;

    public ConnectCommand(IHostResolver resolver, TimeSpan timeout, OutboundOptions outbound, TimeProvider timeProvider)
    {
        _outbound = outbound;
        _resolver = resolver;
        _timeout = timeout;
        _timeProvider = timeProvider;
    }

    public async Task<ConnectResult> ConnectAsync(Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            IPAddress[] addresses = destination.TryGetIPAddress(out IPAddress? address)
                ? [address]
                : await _resolver.ResolveAsync(destination.DomainName!, linked.Token).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                return ConnectResult.Failed(SocketError.HostNotFound);
            }

            SocketError lastError = SocketError.HostUnreachable;
            foreach (IPAddress candidate in addresses)
            {
                // An IPv4-mapped IPv6 address would fail on an IPv6-only socket; it is an IPv4 destination.
                IPAddress target = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
                var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    if (_outbound.For(target.AddressFamily) is IPAddress source)
                    {
                        socket.Bind(new IPEndPoint(source, 0));
                    }

                    await socket.ConnectAsync(new IPEndPoint(target, port), linked.Token).ConfigureAwait(false);
                    socket.NoDelay = true;
                    return new ConnectResult(socket, Socks5ReplyCode.Succeeded, SocketError.Success);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    lastError = e.SocketErrorCode;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            return ConnectResult.Failed(lastError);
        }
        catch (SocketException e)
        {
            // Only the resolver gets here: connect errors are caught per address above.
            return ConnectResult.Failed(e.SocketErrorCode);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return ConnectResult.Failed(SocketError.TimedOut);
        }
    }
}
