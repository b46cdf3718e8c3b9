using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Relay;

namespace Sockeye.Server.Sessions;

/// <summary>The three commands, from request to the end of their relay.</summary>
internal sealed partial class Socks5Session
{
    private async Task RunConnectAsync(Socks5Request request, int pipelinedStart)
    {
        _phase = HandshakePhase.Connecting;
        EpollLoop? loop = OperatingSystem.IsLinux() && _client is EpollTunnelSocket client ? client.Loop : null;
        ConnectResult result;
        if (OperatingSystem.IsLinux() && loop is not null &&
            _services.Connect.TryStartOnLoop(request.Destination, request.Port, DestinationCheck, loop, out LoopConnect attempt))
        {
            // Awaited here rather than in an async method of the command's: see ConnectCommand.TryStartOnLoop.
            try
            {
                await attempt.WhenDoneAsync(_lifetime.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The connect timed out, or the session was aborted: Finish reports it as a timeout either way.
            }

            result = attempt.Finish();
        }
        else
        {
            result = await _services.Connect.ConnectAsync(request.Destination, request.Port, DestinationCheck, loop, _lifetime.Token).ConfigureAwait(false);
        }

        if (result.Target is null)
        {
            SessionLog.ConnectFailed(_services.SessionLogger, _id, request.Command, request.Destination.ToString(request.Port), result.ReplyCode, result.SocketError);
            SessionCloseReason reason = result.ReplyCode == Socks5ReplyCode.ConnectionNotAllowed ? SessionCloseReason.RuleDenied : SessionCloseReason.ConnectFailed;
            await FailAsync(result.ReplyCode, reason).ConfigureAwait(false);
            return;
        }

        _target = result.Target;
        await SendSuccessAsync((IPEndPoint)_target.LocalEndPoint!).ConfigureAwait(false);
        if (await ForwardPipelinedAsync(pipelinedStart).ConfigureAwait(false))
        {
            ReleaseBuffer();
            EndRelay(await StartRelay().ConfigureAwait(false));
        }
    }

    /// <summary>
    /// BIND: first reply when listening, second reply when the peer connected (RFC 1928 §6), then a relay exactly as
    /// CONNECT's.
    /// </summary>
    private async Task RunBindAsync(Socks5Request request, int pipelinedStart)
    {
        IPAddress localAddress = ((IPEndPoint)_client.LocalEndPoint!).Address;
        Socket? listener = _services.Bind.Listen(localAddress, out IPEndPoint announced, out SocketError listenError);
        if (listener is null)
        {
            SessionLog.BindFailed(_services.SessionLogger, _id, request.Destination.ToString(request.Port), BindOutcome.Failed, listenError);
            await FailAsync(ReplyCodes.FromSocketError(listenError), SessionCloseReason.BindFailed).ConfigureAwait(false);
            return;
        }

        _phase = HandshakePhase.AwaitingPeer;
        RuntimeTunnelSocket client = _client.ToRuntime();
        _client = client;
        try
        {
            await SendSuccessAsync(announced).ConfigureAwait(false);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        BindResult result = await _services.Bind.AcceptAsync(listener, client.Socket, request.Destination, _lifetime.Token).ConfigureAwait(false);
        if (result.Peer is null)
        {
            SessionLog.BindFailed(_services.SessionLogger, _id, request.Destination.ToString(request.Port), result.Outcome, SocketError.Success);
            if (result.Outcome == BindOutcome.ClientGone)
            {
                TrySetCloseReason(SessionCloseReason.ClientEof);
                return;
            }

            await FailAsync(result.ReplyCode, SessionCloseReason.BindFailed).ConfigureAwait(false);
            return;
        }

        var peer = (IPEndPoint)result.Peer.RemoteEndPoint!;
        if (DestinationCheck is { } check && !check.Permits(AccessCommands.Bind, null, peer.Address, peer.Port))
        {
            result.Peer.Dispose();
            await FailAsync(Socks5ReplyCode.ConnectionNotAllowed, SessionCloseReason.RuleDenied).ConfigureAwait(false);
            return;
        }

        _target = new RuntimeTunnelSocket(result.Peer);
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
    private async Task RunUdpAssociateAsync(Socks5Request request)
    {
        var control = (IPEndPoint)_client.LocalEndPoint!;
        UdpAssociation? association = UdpAssociation.Open(_services.Options.Udp, _services.Options.Outbound, _services.Dns, _services.UdpStatistics, _services.TimeProvider,
            _bandwidth, control.Address, (IPEndPoint)_clientEndPoint!, request.Port, DestinationCheck, _services.NextUdpLoop(), out SocketError error);
        if (association is null)
        {
            SessionLog.UdpAssociateFailed(_services.SessionLogger, _id, error);
            await FailAsync(ReplyCodes.FromSocketError(error), SessionCloseReason.ConnectFailed).ConfigureAwait(false);
            return;
        }

        _association = association;
        await SendSuccessAsync(association.Announced).ConfigureAwait(false);
        ReleaseBuffer();
        _phase = HandshakePhase.Relaying;
        SessionLog.UdpAssociated(_services.SessionLogger, _id, association.RelayEndPoint);

        using var end = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        Task relay = association.RunAsync(end.Token);
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
        }
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
