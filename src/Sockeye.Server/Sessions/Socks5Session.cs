using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Relay;

namespace Sockeye.Server.Sessions;

/// <summary>
/// One client connection, from accept to close: the handshake phases, the command, the relay, and the reason it ended.
/// </summary>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The session disposes _lifetime itself in Close(), at the end of RunAsync, which every session runs exactly once.")]
internal sealed partial class Socks5Session : IThreadPoolWorkItem
{
    // The handshake buffer's areas. Input holds the largest message (513 bytes, RFC 1929) several times over, so
    // a client that pipelines greeting, credentials, request and some payload in one write is read in one pass.
    private const int InputLength = 2048;
    private const int ScratchOffset = InputLength;
    private const int OutputOffset = ScratchOffset + 512;
    private const int HandshakeBufferLength = OutputOffset + 512;

    // RFC 1928 §6: after a failure reply the server must close within 10 s. We wait this long for the client's
    // FIN, so that the reply is not destroyed by the RST that closing with unread bytes would send.
    private static readonly TimeSpan LingerAfterFailure = TimeSpan.FromSeconds(1);

    private readonly long _id;
    private readonly Socket _client;
    private readonly EndPoint? _clientEndPoint;
    private readonly SessionServices _services;
    private readonly SessionRegistry _registry;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly long _startTimestamp;
    private int _closeReason;
    private volatile HandshakePhase _phase;
    private volatile TcpRelay? _relay;
    private Socket? _target;
    private Socks5Request? _request;
    private string _user = "-";
    private Socks5ReplyCode _replyCode = Socks5ReplyCode.GeneralFailure;

    public Socks5Session(long id, Socket client, SessionServices services, SessionRegistry registry)
    {
        _id = id;
        _client = client;
        _clientEndPoint = client.RemoteEndPoint;
        _services = services;
        _registry = registry;
        _startTimestamp = services.TimeProvider.GetTimestamp();
    }

    public long Id => _id;

    public HandshakePhase Phase => _phase;

    public SessionCloseReason CloseReason => (SessionCloseReason)Volatile.Read(ref _closeReason);

    /// <summary>When the tunnel last carried data, or when the session started if it has no tunnel yet.</summary>
    public long LastActivityTimestamp => _relay?.LastActivityTimestamp ?? _startTimestamp;

    /// <summary>Runs the session on the thread pool, so a client that pipelines its whole handshake never runs on the accept loop.</summary>
    public void Execute() => _ = RunAsync();

    /// <summary>Ends the session from outside (timeouts, shutdown). The first reason recorded wins.</summary>
    public void Abort(SessionCloseReason reason)
    {
        TrySetCloseReason(reason);
        try
        {
            _lifetime.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Ignored: the session has already ended.
        }
    }

    private bool TrySetCloseReason(SessionCloseReason reason) =>
        Interlocked.CompareExchange(ref _closeReason, (int)reason, (int)SessionCloseReason.None) == (int)SessionCloseReason.None;

    private async Task RunAsync()
    {
        ILogger log = _services.SessionLogger;
        byte[]? buffer = ArrayPool<byte>.Shared.Rent(HandshakeBufferLength);
        ITimer? handshakeTimer = null;
        TimeSpan handshakeTimeout = _services.Options.HandshakeTimeout;
        if (handshakeTimeout > TimeSpan.Zero)
        {
            handshakeTimer = _services.TimeProvider.CreateTimer(
                static state => ((Socks5Session)state!).Abort(SessionCloseReason.HandshakeTimeout), this, handshakeTimeout, Timeout.InfiniteTimeSpan);
        }

        try
        {
            int pipelinedStart = await HandshakeAsync(buffer).ConfigureAwait(false);
            if (pipelinedStart < 0)
            {
                return;
            }

            if (handshakeTimer is not null)
            {
                await handshakeTimer.DisposeAsync().ConfigureAwait(false);
                handshakeTimer = null;
            }

            Socks5Request request = _request!.Value;
            if (request.Command != Socks5Command.Connect)
            {
                // BIND and UDP ASSOCIATE arrive with issue 4.
                SessionLog.CommandNotSupported(log, _id, request.Command);
                await FailAsync(buffer, Socks5ReplyCode.CommandNotSupported, SessionCloseReason.CommandNotSupported).ConfigureAwait(false);
                return;
            }

            _phase = HandshakePhase.Connecting;
            ConnectResult result = await _services.Connect.ConnectAsync(request.Destination, request.Port, _lifetime.Token).ConfigureAwait(false);
            if (result.Target is null)
            {
                SessionLog.ConnectFailed(log, _id, request.Command, request.Destination.ToString(request.Port), result.ReplyCode, result.SocketError);
                await FailAsync(buffer, result.ReplyCode, SessionCloseReason.ConnectFailed).ConfigureAwait(false);
                return;
            }

            _target = result.Target;
            if (!await SendSuccessAndPipelinedAsync(buffer, pipelinedStart).ConfigureAwait(false))
            {
                return;
            }

            // The handshake buffer goes back before relaying: an idle tunnel holds no buffer at all.
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            buffer = null;
            await RelayAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            // The reason was recorded by whoever aborted the session.
            if (CloseReason == SessionCloseReason.HandshakeTimeout)
            {
                SessionLog.HandshakeTimedOut(log, _id, _clientEndPoint, _phase);
            }
        }
        catch (SocketException e) when (SocketErrors.IsPeerReset(e.SocketErrorCode))
        {
            TrySetCloseReason(SessionCloseReason.ClientReset);
        }
        catch (Exception e)
        {
            // The one catch-all of a session: log it as a bug, reset the connection, keep serving the others.
            TrySetCloseReason(SessionCloseReason.ServerFault);
            SessionLog.SessionFault(log, _id, _clientEndPoint, e);
        }
        finally
        {
            if (handshakeTimer is not null)
            {
                await handshakeTimer.DisposeAsync().ConfigureAwait(false);
            }

            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            }

            Close();
            WriteAccessLog();
            _registry.Remove(this);
        }
    }

    private async ValueTask<bool> SendSuccessAndPipelinedAsync(byte[] buffer, int pipelinedStart)
    {
        Debug.Assert(_target is not null);
        var bound = (IPEndPoint)_target.LocalEndPoint!;
        IPAddress boundAddress = bound.Address.IsIPv4MappedToIPv6 ? bound.Address.MapToIPv4() : bound.Address;
        _replyCode = Socks5ReplyCode.Succeeded;
        int length = new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromIPAddress(boundAddress), (ushort)bound.Port)
            .Write(buffer.AsSpan(OutputOffset));
        await _client.SendAsync(buffer.AsMemory(OutputOffset, length), SocketFlags.None, _lifetime.Token).ConfigureAwait(false);

        // Bytes the client sent right behind its request belong to the tunnel: hand them over before relaying.
        if (pipelinedStart < _inputEnd)
        {
            SocketError error = await TcpRelay.SendAllAsync(_target, buffer.AsMemory(pipelinedStart, _inputEnd - pipelinedStart), _lifetime.Token).ConfigureAwait(false);
            if (error != SocketError.Success)
            {
                TrySetCloseReason(SessionCloseReason.TargetReset);
                return false;
            }
        }

        return true;
    }

    private async Task RelayAsync()
    {
        Debug.Assert(_target is not null);
        _phase = HandshakePhase.Relaying;
        var relay = new TcpRelay(_client, _target, _services.Options.RelayBufferBytes, _services.TimeProvider);
        _relay = relay;
        RelayOutcome outcome = await relay.RunAsync(_lifetime.Token).ConfigureAwait(false);
        SessionCloseReason reason = outcome switch
        {
            { Completed: true } => SessionCloseReason.Completed,
            { Upstream: RelayDirectionEnd.ReadFailed } or { Downstream: RelayDirectionEnd.WriteFailed } => SessionCloseReason.ClientReset,
            { Downstream: RelayDirectionEnd.ReadFailed } or { Upstream: RelayDirectionEnd.WriteFailed } => SessionCloseReason.TargetReset,
            _ => SessionCloseReason.ServerShutdown,
        };
        TrySetCloseReason(reason);
        SessionLog.RelayEnded(_services.SessionLogger, _id, CloseReason, outcome.SocketError);
    }

    /// <summary>Sends a failure reply, then closes as RFC 1928 §6 asks: soon, and without destroying the reply.</summary>
    private async Task FailAsync(byte[] buffer, Socks5ReplyCode code, SessionCloseReason reason)
    {
        _replyCode = code;
        TrySetCloseReason(reason);
        int length = Socks5Reply.Failure(code).Write(buffer.AsSpan(OutputOffset));
        await SendThenLingerAsync(buffer, length).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the reply in the output area, sends FIN, then reads and discards until the client's FIN (or one second):
    /// closing a socket with unread input sends RST, which can make the client lose the reply it has not read yet.
    /// </summary>
    private async Task SendThenLingerAsync(byte[] buffer, int replyLength)
    {
        await _client.SendAsync(buffer.AsMemory(OutputOffset, replyLength), SocketFlags.None, _lifetime.Token).ConfigureAwait(false);
        SocketErrors.TryShutdown(_client, SocketShutdown.Send);
        using var linger = new CancellationTokenSource(LingerAfterFailure, _services.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(linger.Token, _lifetime.Token);
        try
        {
            for (int total = 0; total < 64 * 1024;)
            {
                int read = await _client.ReceiveAsync(buffer.AsMemory(0, InputLength), SocketFlags.None, linked.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                total += read;
            }
        }
        catch (OperationCanceledException) when (linger.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            // The client kept the connection open past the linger time: close it anyway.
        }
        catch (SocketException)
        {
            // Ignored: the client reset after reading (or not reading) the reply; we were closing anyway.
        }
    }

    private void Close()
    {
        bool graceful = CloseReason is SessionCloseReason.Completed or SessionCloseReason.Malformed or SessionCloseReason.AuthFailed
            or SessionCloseReason.NoAcceptableMethod or SessionCloseReason.ConnectFailed or SessionCloseReason.CommandNotSupported
            or SessionCloseReason.RuleDenied or SessionCloseReason.ClientEof;
        if (graceful)
        {
            _client.Dispose();
            _target?.Dispose();
        }
        else
        {
            SocketErrors.Abort(_client);
            if (_target is not null)
            {
                SocketErrors.Abort(_target);
            }
        }

        _lifetime.Dispose();
    }

    private void WriteAccessLog()
    {
        if (_request is not { } request || !_services.AccessLogger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        TcpRelay? relay = _relay;
        long durationMs = (long)_services.TimeProvider.GetElapsedTime(_startTimestamp).TotalMilliseconds;
        AccessLog.Session(_services.AccessLogger, _clientEndPoint, _user, request.Command, request.Destination.ToString(request.Port),
            _replyCode, relay?.BytesUp ?? 0, relay?.BytesDown ?? 0, durationMs, CloseReason);
    }
}
