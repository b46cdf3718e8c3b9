using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Sessions;

/// <summary>The three commands, from request to the end of their relay.</summary>
internal sealed partial class ProxySession
{
    /// <summary>CONNECT the general way: names (resolved, then raced), and every connect on an engine without a fast path.</summary>
    private Task<ConnectResult> ConnectThroughCommandAsync(in Socks5Request request) => _route is { } route
        ? _settings.Connect.ConnectRoutedAsync(route, request.Destination, request.Port, DestinationCheck, _client, _lifetime.Token)
        : _settings.Connect.ConnectAsync(request.Destination, request.Port, DestinationCheck, _client, _lifetime.Token);

    /// <summary>
    /// Answers CONNECT from its outcome: the failure reply and the close, or the success reply and the client's pipelined
    /// bytes handed to the target. <see langword="true"/> when the relay is to start. Completes at once in the common
    /// case (nothing to wait for when the replies fit the socket buffers), which costs no state machine.
    /// </summary>
    private async Task<bool> TakeConnectResultAsync(Socks5Request request, ConnectResult result, int pipelinedStart)
    {
        if (result.Target is null)
        {
            SessionLog.ConnectFailed(_services.SessionLogger, _id, request.Command, LogText.Destination(request.Destination, request.Port), result.ReplyCode, result.SocketError);
            SessionCloseReason reason = result.ReplyCode == Socks5ReplyCode.ConnectionNotAllowed ? SessionCloseReason.RuleDenied : SessionCloseReason.ConnectFailed;
            await FailAsync(result.ReplyCode, reason).ConfigureAwait(false);
            return false;
        }

        _target = result.Target;
        await SendSuccessAsync((IPEndPoint)_target.LocalEndPoint!).ConfigureAwait(false);

        if (!await ForwardPipelinedAsync(pipelinedStart).ConfigureAwait(false))
        {
            return false;
        }

        ReleaseBuffer();
        return true;
    }

    /// <summary>
    /// BIND: first reply when listening, second reply when the peer connected (RFC 1928 §6), then a relay exactly as
    /// CONNECT's.
    /// </summary>
    private async Task RunBindAsync(Socks5Request request, int pipelinedStart)
    {
        IPAddress localAddress = ((IPEndPoint)_client.LocalEndPoint!).Address;
        BindListener? listener = _settings.Bind.Listen(localAddress, _client, out IPEndPoint announced, out SocketError listenError);
        if (listener is null)
        {
            SessionLog.BindFailed(_services.SessionLogger, _id, LogText.Destination(request.Destination, request.Port), BindOutcome.Failed, listenError);
            await FailAsync(ReplyCodes.FromSocketError(listenError), SessionCloseReason.BindFailed).ConfigureAwait(false);
            return;
        }

        _phase = HandshakePhase.AwaitingPeer;
        try
        {
            await SendSuccessAsync(announced).ConfigureAwait(false);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        // What the client sends while we wait goes on behind its pipelined bytes, in the rest of the input area, and
        // reaches the peer with them after the second reply.
        Debug.Assert(_buffer is not null);
        BindResult result = await _settings.Bind.AcceptAsync(listener, _client, request.Destination,
            _buffer.AsMemory(_inputEnd, InputLength - _inputEnd), _lifetime.Token).ConfigureAwait(false);
        _inputEnd += result.ClientBytes;
        if (result.Peer is null)
        {
            SessionLog.BindFailed(_services.SessionLogger, _id, LogText.Destination(request.Destination, request.Port), result.Outcome, result.ClientError);
            if (result.Outcome == BindOutcome.ClientGone)
            {
                TrySetCloseReason(result.ClientError == SocketError.Success ? SessionCloseReason.ClientEof : SessionCloseReason.ClientReset);
                return;
            }

            await FailAsync(result.ReplyCode, SessionCloseReason.BindFailed).ConfigureAwait(false);
            return;
        }

        var peer = (IPEndPoint)result.Peer.RemoteEndPoint!;
        if (DestinationCheck is { } check && !check.Permits(AccessCommands.Bind, null, peer.Address, peer.Port))
        {
            result.Peer.Close();
            await FailAsync(Socks5ReplyCode.ConnectionNotAllowed, SessionCloseReason.RuleDenied).ConfigureAwait(false);
            return;
        }

        _target = result.Peer;
        await SendSuccessAsync(peer).ConfigureAwait(false);
        if (await ForwardPipelinedAsync(pipelinedStart).ConfigureAwait(false))
        {
            ReleaseBuffer();
            EndRelay(await StartRelay().ConfigureAwait(false));
        }
    }

    /// <summary>
    /// UDP ASSOCIATE: opens the relay, replies with its address, and keeps it exactly as long as the control connection.
    /// Bytes the client sends on the control connection are read and ignored.
    /// </summary>
    /// <remarks>
    /// Through a route whose last upstream speaks SOCKS5 (<see cref="ChooseUdpRoute"/>), the upstream's association is
    /// opened first, over a control connection of ours that lives exactly as long as the client's: its end ends the
    /// session, and the session's end closes it.
    /// </remarks>
    private async Task RunUdpAssociateAsync(Socks5Request request)
    {
        TunnelSocket? upstream = null;
        IPEndPoint? upstreamRelay = null;
        RouteOptions? attempt = _route;
        while (attempt is { IsDirect: false })
        {
            // Only a SOCKS5 last hop carries UDP (ChooseUdpRoute checked the route; a fallback may not qualify).
            (ConnectResult result, IPEndPoint? relay) = attempt.Upstreams[^1].Kind == Sockeye.Client.ProxyKind.Socks5
                ? await _settings.Connect.AssociateUpstreamAsync(attempt, _client, _lifetime.Token).ConfigureAwait(false)
                : (new ConnectResult(null, Socks5ReplyCode.CommandNotSupported, SocketError.OperationNotSupported), null);
            if (result.Target is not null)
            {
                (upstream, upstreamRelay) = (result.Target, relay);
                break;
            }

            if (attempt.Fallback is null || result.ReplyCode == Socks5ReplyCode.ConnectionNotAllowed)
            {
                SessionLog.ConnectFailed(_services.SessionLogger, _id, request.Command, LogText.Destination(request.Destination, request.Port), result.ReplyCode, result.SocketError);
                await FailAsync(result.ReplyCode, SessionCloseReason.ConnectFailed).ConfigureAwait(false);
                return;
            }

            attempt = attempt.Fallback;
        }

        try
        {
            await RunUdpAssociationAsync(request, upstream, upstreamRelay, EgressOf(attempt)).ConfigureAwait(false);
        }
        finally
        {
            upstream?.Close();
        }
    }

    /// <summary>
    /// The source addresses of an association's datagrams toward destinations (or the upstream's relay): the route's
    /// <c>bindAddress</c> where it sets one, so that an upstream sees them come from where the control connection came.
    /// </summary>
    private OutboundOptions EgressOf(RouteOptions? route) => route is null || (route.BindAddressV4 is null && route.BindAddressV6 is null)
        ? _settings.Outbound
        : new OutboundOptions
        {
            BindAddressV4 = route.BindAddressV4 ?? _settings.Outbound.BindAddressV4,
            BindAddressV6 = route.BindAddressV6 ?? _settings.Outbound.BindAddressV6,
        };

    private async Task RunUdpAssociationAsync(Socks5Request request, TunnelSocket? upstream, IPEndPoint? upstreamRelay, OutboundOptions outbound)
    {
        var control = (IPEndPoint)_client.LocalEndPoint!;
        UdpAssociation? association = UdpAssociation.Open(_settings.Udp, outbound, _services.Dns, _services.UdpStatistics, _services.UdpRelayPorts,
            _services.TimeProvider, _bandwidth, control.Address, (IPEndPoint)_clientEndPoint!, request.Port, DestinationCheck, _services.Engine, out SocketError error,
            upstreamRelay, (_client as GssapiTunnelSocket)?.Protection);
        if (association is null)
        {
            // No port left (every port of udp.portRange taken) is a limit reached (X'01', as at a session cap), not a failed connect.
            SessionLog.UdpAssociateFailed(_services.SessionLogger, _id, error);
            SessionCloseReason reason = error == SocketError.AddressAlreadyInUse ? SessionCloseReason.LimitReached : SessionCloseReason.ConnectFailed;
            await FailAsync(ReplyCodes.FromSocketError(error), reason).ConfigureAwait(false);
            return;
        }

        _association = association;
        await SendSuccessAsync(association.Announced).ConfigureAwait(false);
        ReleaseBuffer();
        _phase = HandshakePhase.Relaying;
        SessionLog.UdpAssociated(_services.SessionLogger, _id, association.RelayEndPoint);

        using var end = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        Task relay = association.RunAsync(end.Token);

        // An association whose pump failed (its event loop did) relays nothing more: end the session rather than leave
        // the client with an open control connection to a dead relay.
        _ = relay.ContinueWith(static (_, state) =>
        {
            var session = (ProxySession)state!;
            if (session._association is { PumpFaulted: true })
            {
                session.Abort(SessionCloseReason.ServerFault);
            }
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Task watch = upstream is null ? Task.CompletedTask : WatchUpstreamControlAsync(upstream, end.Token);
        try
        {
            SessionCloseReason reason = await DrainControlConnectionAsync(_lifetime.Token).ConfigureAwait(false);
            TrySetCloseReason(reason);
        }
        finally
        {
            // The association ends the moment its control connection does (RFC 1928 §7).
            await end.CancelAsync().ConfigureAwait(false);
            association.Dispose();
            await relay.ConfigureAwait(false);
            await watch.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits for the upstream's control connection to end, reading and discarding what it sends (nothing, normally); its
    /// close or reset ends the session, as the client's own would. Returns quietly when <paramref name="cancellationToken"/> ends first.
    /// </summary>
    private async Task WatchUpstreamControlAsync(TunnelSocket upstream, CancellationToken cancellationToken)
    {
        byte[] discard = new byte[16];
        SessionCloseReason reason;
        try
        {
            while (await upstream.ReceiveAsync(discard, cancellationToken).ConfigureAwait(false) > 0)
            {
            }

            reason = SessionCloseReason.TargetReset;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            reason = SessionCloseReason.TargetReset;
        }

        Abort(reason);
    }

    /// <summary>
    /// Reads and discards what the client sends on the control connection until it closes. The zero-byte read first
    /// means a quiet control connection costs no read at all; the scratch array is the session's only one.
    /// </summary>
    private async Task<SessionCloseReason> DrainControlConnectionAsync(CancellationToken cancellationToken)
    {
        byte[] discard = new byte[64];
        while (true)
        {
            await _client.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            int read;
            try
            {
                read = await _client.ReceiveAsync(discard, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return SessionCloseReason.ClientReset;
            }

            if (read == 0)
            {
                return SessionCloseReason.Completed;
            }

            Debug.Assert(read <= discard.Length);
        }
    }
}
