using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>
/// BIND (RFC 1928 §4): listens on an ephemeral port for exactly one incoming connection from the peer the client named,
/// for protocols like FTP whose server connects back. The listening socket lives only until that connection, the accept
/// timeout, or the client's leaving, whichever comes first.
/// </summary>
internal sealed class BindCommand
{
    private readonly TransportEngine _engine;
    private readonly BindOptions _options;
    private readonly DnsCache _resolver;
    private readonly TimeProvider _timeProvider;

    public BindCommand(TransportEngine engine, BindOptions options, DnsCache resolver, TimeProvider timeProvider)
    {
        _engine = engine;
        _options = options;
        _resolver = resolver;
        _timeProvider = timeProvider;
    }

    /// <summary>
    /// Opens the listening socket on <paramref name="localAddress"/> (the address the client reached us on), port 0, near
    /// <paramref name="client"/>. Returns it with the endpoint to announce, or <see langword="null"/> and the error (out of
    /// descriptors too: the client is answered X'01', the server goes on).
    /// </summary>
    public BindListener? Listen(IPAddress localAddress, TunnelSocket client, out IPEndPoint announced, out SocketError error)
    {
        BindListener? listener = _engine.ListenForPeer(localAddress, client, out error);
        IPEndPoint? bound = listener?.LocalEndPoint;
        announced = bound is null ? new IPEndPoint(IPAddress.Any, 0) : new IPEndPoint(_options.AdvertiseAddress ?? bound.Address, bound.Port);
        return listener;
    }

    /// <summary>
    /// Waits for the incoming connection on <paramref name="listener"/>, which it always disposes, while watching the
    /// client's control connection so that a client that leaves early does not keep a port open. What the client sends
    /// meanwhile belongs to the tunnel: it is read into <paramref name="clientBytes"/>, and the result says how much.
    /// </summary>
    /// <remarks>
    /// Once <paramref name="clientBytes"/> is full, the rest stays in the kernel for the relay, and the client is no longer
    /// watched: with unread data a zero-byte read completes at once, so watching on would spin. Such a client is noticed
    /// leaving only when the accept timeout runs out.
    /// </remarks>
    public async Task<BindResult> AcceptAsync(BindListener listener, TunnelSocket client, Socks5Address expectedPeer, Memory<byte> clientBytes, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.AcceptTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Task<ClientWatch> watch = WatchClientAsync(client, clientBytes, linked.Token);
        BindResult result;
        try
        {
            result = await WaitForPeerAsync(listener, watch, expectedPeer, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            result = new BindResult(null, Socks5ReplyCode.TtlExpired, BindOutcome.TimedOut);
        }
        catch (SocketException e) when (!cancellationToken.IsCancellationRequested)
        {
            result = new BindResult(null, ReplyCodes.FromSocketError(e.SocketErrorCode), BindOutcome.Failed);
        }
        finally
        {
            listener.Dispose();
            await linked.CancelAsync().ConfigureAwait(false);

            // Always awaited, also when the session is aborted: a read into the caller's buffer must not outlive this call.
            await watch.ConfigureAwait(false);
        }

        // Also when the peer won the race: whatever the watch read came before the second reply, so it goes first in the tunnel.
        ClientWatch watched = await watch.ConfigureAwait(false);
        return result with { ClientBytes = watched.Received, ClientError = watched.Error };
    }

    /// <summary>The accept itself, ended early by <paramref name="watch"/> when the client leaves.</summary>
    private async Task<BindResult> WaitForPeerAsync(BindListener listener, Task<ClientWatch> watch, Socks5Address expectedPeer, CancellationToken cancellationToken)
    {
        IPAddress[]? allowed = await ResolveExpectedPeerAsync(expectedPeer, cancellationToken).ConfigureAwait(false);
        Task<TunnelSocket> accept = listener.AcceptAsync(cancellationToken).AsTask();
        Task first = await Task.WhenAny(accept, watch).ConfigureAwait(false);
        if (first == watch && (await watch.ConfigureAwait(false)).ClientGone)
        {
            return new BindResult(null, Socks5ReplyCode.GeneralFailure, BindOutcome.ClientGone);
        }

        TunnelSocket peer = await accept.ConfigureAwait(false);
        var peerEndPoint = (IPEndPoint)peer.RemoteEndPoint!;
        if (allowed is not null && !Contains(allowed, peerEndPoint.Address))
        {
            // RFC 1928: DST.ADDR names the host expected to connect; anyone else is turned away.
            peer.Abort();
            return new BindResult(null, Socks5ReplyCode.ConnectionNotAllowed, BindOutcome.UnexpectedPeer);
        }

        return new BindResult(peer, Socks5ReplyCode.Succeeded, BindOutcome.Accepted);
    }

    /// <summary>
    /// The addresses a peer may come from, or <see langword="null"/> for anyone (DST.ADDR 0.0.0.0 or ::). A name written
    /// as an address is that address, so the names "0" and "::" mean anyone too.
    /// </summary>
    private async Task<IPAddress[]?> ResolveExpectedPeerAsync(Socks5Address expected, CancellationToken cancellationToken)
    {
        if (expected.TryGetLiteralIPAddress(out IPAddress? address))
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
    /// Reads what the client sends into <paramref name="room"/> until it closes or resets (<see cref="ClientWatch.ClientGone"/>),
    /// the room is full, or the wait is canceled. Each pass waits with a zero-byte read, which cancels without losing
    /// data, then reads what arrived; every pass but the last reads at least one byte, so the loop ends.
    /// </summary>
    private static async Task<ClientWatch> WatchClientAsync(TunnelSocket client, Memory<byte> room, CancellationToken cancellationToken)
    {
        int received = 0;
        try
        {
            while (true)
            {
                await client.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
                if (received == room.Length)
                {
                    // No room: leave the data for the relay and stop watching, since with data unread the zero-byte read
                    // would complete at once, forever. Nothing unread means the read completed for EOF.
                    return new ClientWatch(client.Available == 0, received, SocketError.Success);
                }

                int read = await client.ReceiveAsync(room[received..], cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return new ClientWatch(ClientGone: true, received, SocketError.Success);
                }

                received += read;
            }
        }
        catch (OperationCanceledException)
        {
            return new ClientWatch(ClientGone: false, received, SocketError.Success);
        }
        catch (SocketException e)
        {
            return new ClientWatch(ClientGone: true, received, e.SocketErrorCode);
        }
        catch (ObjectDisposedException)
        {
            return new ClientWatch(ClientGone: true, received, SocketError.Success);
        }
    }

    /// <summary>What watching the client found: whether it left (with its reset's error, if it reset), and how much it sent.</summary>
    private readonly record struct ClientWatch(bool ClientGone, int Received, SocketError Error);
}
