using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Commands;

/// <summary>
/// BIND (RFC 1928 §4): listens on an ephemeral port for exactly one incoming connection from the peer the client named,
/// for protocols like FTP whose server connects back. The listening socket lives only until that connection, the accept
/// timeout, or the client's leaving, whichever comes first.
/// </summary>
internal sealed class BindCommand
{
    private readonly BindOptions _options;
    private readonly IHostResolver _resolver;
    private readonly TimeProvider _timeProvider;

    public BindCommand(BindOptions options, IHostResolver resolver, TimeProvider timeProvider)
    {
        _options = options;
        _resolver = resolver;
        _timeProvider = timeProvider;
    }

    /// <summary>
    /// Opens the listening socket on <paramref name="localAddress"/> (the address the client reached us on), port 0.
    /// Returns it with the endpoint to announce, or <see langword="null"/> and the error.
    /// </summary>
    public Socket? Listen(IPAddress localAddress, out IPEndPoint announced, out SocketError error)
    {
        Socket? listener = null;
        try
        {
            // Out of descriptors (EMFILE) fails here, as a value: the client is answered X'01', the server goes on.
            listener = new Socket(localAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(localAddress, 0));

            // One connection is all BIND takes; a backlog of 1 leaves no queue for strangers.
            listener.Listen(1);
            var bound = (IPEndPoint)listener.LocalEndPoint!;
            announced = new IPEndPoint(_options.AdvertiseAddress ?? bound.Address, bound.Port);
            error = SocketError.Success;
            return listener;
        }
        catch (SocketException e)
        {
            listener?.Dispose();
            announced = new IPEndPoint(IPAddress.Any, 0);
            error = e.SocketErrorCode;
            return null;
        }
    }

    /// <summary>
    /// Waits for the incoming connection on <paramref name="listener"/>, which it always disposes, while watching the
    /// client's control connection so that a client that leaves early does not keep a port open.
    /// </summary>
    public async Task<BindResult> AcceptAsync(Socket listener, Socket client, Socks5Address expectedPeer, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.AcceptTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Task<bool> clientGone = WatchForCloseAsync(client, linked.Token);
        try
        {
            IPAddress[]? allowed = await ResolveExpectedPeerAsync(expectedPeer, linked.Token).ConfigureAwait(false);
            Task<Socket> accept = listener.AcceptAsync(linked.Token).AsTask();
            Task first = await Task.WhenAny(accept, clientGone).ConfigureAwait(false);
            if (first == clientGone && await clientGone.ConfigureAwait(false))
            {
                return new BindResult(null, Socks5ReplyCode.GeneralFailure, BindOutcome.ClientGone);
            }

            Socket peer = await accept.ConfigureAwait(false);
            var peerEndPoint = (IPEndPoint)peer.RemoteEndPoint!;
            if (allowed is not null && !Contains(allowed, peerEndPoint.Address))
            {
                // RFC 1928: DST.ADDR names the host expected to connect; anyone else is turned away.
                Relay.SocketErrors.Abort(peer);
                return new BindResult(null, Socks5ReplyCode.ConnectionNotAllowed, BindOutcome.UnexpectedPeer);
            }

            peer.NoDelay = true;
            return new BindResult(peer, Socks5ReplyCode.Succeeded, BindOutcome.Accepted);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new BindResult(null, Socks5ReplyCode.TtlExpired, BindOutcome.TimedOut);
        }
        catch (SocketException e) when (!cancellationToken.IsCancellationRequested)
        {
            return new BindResult(null, ReplyCodes.FromSocketError(e.SocketErrorCode), BindOutcome.Failed);
        }
        finally
        {
            listener.Dispose();
            await linked.CancelAsync().ConfigureAwait(false);
            await clientGone.ConfigureAwait(false);
        }
    }

    /// <summary>The addresses a peer may come from, or <see langword="null"/> for anyone (DST.ADDR 0.0.0.0 or ::).</summary>
    private async Task<IPAddress[]?> ResolveExpectedPeerAsync(Socks5Address expected, CancellationToken cancellationToken)
    {
        if (expected.TryGetIPAddress(out IPAddress? address))
        {
            return address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? null : [address];
        }

        return await _resolver.ResolveAsync(expected.DomainName!, cancellationToken).ConfigureAwait(false);
    }

    private static bool Contains(IPAddress[] allowed, IPAddress candidate)
    {
        IPAddress normalized = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
        foreach (IPAddress address in allowed)
        {
            IPAddress expected = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            if (expected.Equals(normalized))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Completes with <see langword="true"/> when the client closes or resets its control connection, and with
    /// <see langword="false"/> when it sends data (left unread for the relay) or the wait is canceled.
    /// </summary>
    private static async Task<bool> WatchForCloseAsync(Socket client, CancellationToken cancellationToken)
    {
        try
        {
            await client.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return client.Available == 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }
}
