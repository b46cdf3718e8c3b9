using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Client;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Rules;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>CONNECT along a rule's route: directly from a chosen address or interface, or onward through upstream proxies.</summary>
internal sealed partial class ConnectCommand
{
    private readonly ILogger _logger;
    private readonly LogGate _upstreamFailures;

    /// <summary>
    /// Connects to <paramref name="destination"/> along <paramref name="route"/>, then along its fallbacks in turn while
    /// one fails (each with a whole connect timeout of its own). A denial by the rules is final: no fallback is tried for it.
    /// </summary>
    public async Task<ConnectResult> ConnectRoutedAsync(RouteOptions route, Socks5Address destination, ushort port, IDestinationCheck? check, TunnelSocket? client,
        CancellationToken cancellationToken)
    {
        for (RouteOptions? attempt = route; ; attempt = attempt.Fallback)
        {
            ConnectResult result = attempt.IsDirect
                ? await ConnectAsync(destination, port, check, client, cancellationToken, attempt).ConfigureAwait(false)
                : await ConnectUpstreamAsync(attempt, destination, port, client, cancellationToken).ConfigureAwait(false);
            if (result.Target is not null || result.ReplyCode == Socks5ReplyCode.ConnectionNotAllowed || attempt.Fallback is null
                || cancellationToken.IsCancellationRequested)
            {
                return result;
            }
        }
    }

    /// <summary>
    /// Connects to the route's first upstream (its name resolved here, the only one that is), then has the chain carry the
    /// connection to <paramref name="destination"/>, whose name the last upstream resolves. What the chain reports becomes
    /// the reply: the upstream's own code where it gave one, X'06' for the connect timeout, X'01' for an upstream that is
    /// down or broken.
    /// </summary>
    private async Task<ConnectResult> ConnectUpstreamAsync(RouteOptions route, Socks5Address destination, ushort port, TunnelSocket? client, CancellationToken cancellationToken) =>
        (await OpenUpstreamAsync(route, destination, port, associate: false, client, cancellationToken).ConfigureAwait(false)).Result;

    /// <summary>
    /// UDP ASSOCIATE along a route whose last upstream speaks SOCKS5: connects to the first upstream as a routed CONNECT
    /// does, then has the chain open a UDP association at its last hop. On success the result's target is the control
    /// connection, which the caller keeps open for the association's life, and the relay is where datagrams go. Failures
    /// are reported (event 1022) and mapped to reply codes as for CONNECT. Fallbacks are not tried.
    /// </summary>
    public Task<(ConnectResult Result, IPEndPoint? Relay)> AssociateUpstreamAsync(RouteOptions route, TunnelSocket? client, CancellationToken cancellationToken) =>
        OpenUpstreamAsync(route, default, 0, associate: true, client, cancellationToken);

    private async Task<(ConnectResult Result, IPEndPoint? Relay)> OpenUpstreamAsync(RouteOptions route, Socks5Address destination, ushort port, bool associate,
        TunnelSocket? client, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Socks5Proxy first = route.Upstreams[0];
        TunnelSocket? socket = null;
        try
        {
            IPAddress[] addresses = IPAddress.TryParse(first.Host, out IPAddress? literal)
                ? [literal]
                : await _resolver.ResolveAsync(first.Host, linked.Token).ConfigureAwait(false);
            SocketError error = SocketError.HostNotFound;
            IPAddress? reached = null;
            foreach (IPAddress address in addresses)
            {
                (socket, error) = await ConnectOneAsync(address, (ushort)first.Port, client, route, linked.Token).ConfigureAwait(false);
                if (socket is not null)
                {
                    reached = address;
                    break;
                }
            }

            if (socket is null)
            {
                ReportUpstreamFailure(route, $"cannot connect to {first}: {error}");
                return (error == SocketError.TimedOut && timeout.IsCancellationRequested
                    ? ConnectResult.Failed(SocketError.TimedOut)
                    : new ConnectResult(null, Socks5ReplyCode.GeneralFailure, error), null);
            }

            // The chain reads no byte past its last answer: what the destination sends at once stays in the socket for the relay.
            using var stream = new TunnelSocketStream(socket);
            IPEndPoint? relay = null;
            if (associate)
            {
                relay = await ProxyChain.UdpAssociateAsync(stream, [.. route.Upstreams], reached!, linked.Token).ConfigureAwait(false);
            }
            else
            {
                await ProxyChain.ConnectAsync(stream, [.. route.Upstreams], destination, port, linked.Token).ConfigureAwait(false);
            }

            ConnectResult connected = ConnectResult.Connected(socket);
            socket = null;
            return (connected, relay);
        }
        catch (SocksException e)
        {
            // The destination's own failure (refused, unreachable) reported by the last upstream is not the route's.
            if (e.Error != SocksError.CommandFailed)
            {
                ReportUpstreamFailure(route, e.Message);
            }

            Socks5ReplyCode code = e.Error switch
            {
                SocksError.TimedOut => Socks5ReplyCode.TtlExpired,
                _ => e.ReplyCode ?? Socks5ReplyCode.GeneralFailure,
            };
            return (new ConnectResult(null, code, SocketError.SocketError), null);
        }
        catch (SocketException e)
        {
            ReportUpstreamFailure(route, e.Message);
            return (new ConnectResult(null, Socks5ReplyCode.GeneralFailure, e.SocketErrorCode), null);
        }
        catch (IOException e)
        {
            ReportUpstreamFailure(route, e.Message);
            return (new ConnectResult(null, Socks5ReplyCode.GeneralFailure, SocketError.ConnectionReset), null);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            ReportUpstreamFailure(route, $"no answer within the connect timeout ({_timeout.TotalSeconds:0.###} s)");
            return (ConnectResult.Failed(SocketError.TimedOut), null);
        }
        finally
        {
            socket?.Abort();
        }
    }

    private void ReportUpstreamFailure(RouteOptions route, string reason)
    {
        if (_upstreamFailures.TryReport(out long occurrences))
        {
            ServerLog.UpstreamFailed(_logger, route.ToString(), reason, occurrences);
        }
    }
}
