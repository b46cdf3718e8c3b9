using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Protocol.Http;
using Sockeye.Protocol.Socks4;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
using Sockeye.Server.Listening;
using Sockeye.Server.Status;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Sessions;

/// <summary>
/// One client connection, from accept to close: the handshake phases, the command, the relay, and the reason it ended.
/// </summary>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The session disposes _lifetime itself in Close(), at the end of RunAsync, which every session runs exactly once.")]
internal sealed partial class ProxySession : IThreadPoolWorkItem
{
    // The handshake buffer's areas: input, scratch (credentials), output (replies). For SOCKS, input holds the largest
    // message (513 bytes, RFC 1929) several times over, so a client that pipelines greeting, credentials, request and
    // some payload in one write is read in one pass. An HTTP client gets a larger input area, as long as the longest
    // head it may send (UseHttpBuffer).
    private const int SocksInputLength = 2048;
    private const int ScratchLength = 512;
    private const int OutputLength = 512;

    // What a protected tunnel's relay reads at once: four messages' worth of plaintext, wrapped and sent with one call.
    private const int ProtectedRelayBufferBytes = 4 * Protocol.Gssapi.GssapiMessageProtection.MaxPlaintextPerMessage;
    private int InputLength => _http is null ? SocksInputLength : _settings.HttpLimits.MaxHeadLength;

    private int ScratchOffset => InputLength;

    private int OutputOffset => InputLength + ScratchLength;

    // RFC 1928 §6: after a failure reply the server must close within 10 s. We wait this long for the client's
    // FIN, so that the reply is not destroyed by the RST that closing with unread bytes would send.
    private static readonly TimeSpan LingerAfterFailure = TimeSpan.FromSeconds(1);

    // After one end of a tunnel reset, how long the other may take in all to acknowledge what it was already sent, and how
    // often to ask (DeliverBeforeResetAsync). A reader that keeps up with a socket buffer in 10 s gets every byte.
    private static readonly TimeSpan DeliveryBeforeResetLimit = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan DeliveryPollInterval = TimeSpan.FromMilliseconds(10);

    private readonly long _id;
    // The client: the connection's peer, or the client a trusted balancer's PROXY header names (then set once, before
    // anything reads it for a decision).
    private EndPoint? _clientEndPoint;
    private static readonly ListenerFrontDoor EveryProtocol = new(ListenerProtocols.All, null);

    // The listener's protocols and PROXY protocol settings: one reference, shared by every session it accepted.
    private readonly ListenerFrontDoor _frontDoor;

    // The protocols the listener speaks, and the one the client's first byte chose (None until it arrives).
    private ListenerProtocols _protocol;
    private readonly SessionServices _services;
    private readonly SessionSettings _settings;
    private readonly SessionRegistry _registry;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly long _startTimestamp;
    private int _closeReason;
    private volatile HandshakePhase _phase;
    private volatile TunnelRelay? _relay;

    // Replaced by a GssapiTunnelSocket over it when GSSAPI agrees on per-message protection.
    private TunnelSocket _client;
    private TunnelSocket? _target;
    private byte[]? _buffer;
    private volatile UdpAssociation? _association;
    private Socks5Request? _request;

    // The request's command as a status reading sees it from another thread (-1 before the request): the request
    // itself is a struct, which such a reading could see half written.
    private int _commandCode = -1;
    private string _user = "-";

    // The account's name once it has logged in; null for a client that did not authenticate.
    private string? _userName;
    private Socks5ReplyCode _replyCode = Socks5ReplyCode.GeneralFailure;

    // 1 while this session counts against the handshake cap; cleared exactly once.
    private int _inHandshake = 1;

    // This session's place in the registry's list of sessions in their handshake, oldest first (SessionRegistry owns
    // them, under its lock): an intrusive list, so that a handshake costs no node of its own.
    internal ProxySession? HandshakesPrevious;
    internal ProxySession? HandshakesNext;
    internal bool InHandshakeList;
    private (IPAddress Client, string? User, int Descriptors)? _slot;

    // The user whose session this is counted for across instances (limits.shared); null when it is not.
    private string? _sharedSlotUser;

    // The session's rate-limit pacers, taken with the session slot; null when no limit applies.
    private SessionBandwidth? _bandwidth;

    /// <param name="id">The session's number, for logs.</param>
    /// <param name="client">The accepted connection.</param>
    /// <param name="services">What every session of the server shares.</param>
    /// <param name="registry">The open sessions.</param>
    /// <param name="frontDoor">
    /// The protocols of the listener that accepted it, and its PROXY protocol settings; null for every protocol and no
    /// PROXY header.
    /// </param>
    public ProxySession(long id, TunnelSocket client, SessionServices services, SessionRegistry registry, ListenerFrontDoor? frontDoor = null)
    {
        _id = id;
        _client = client;
        _clientEndPoint = client.RemoteEndPoint;
        _frontDoor = frontDoor ?? EveryProtocol;
        _phase = _frontDoor.ProxyProtocol is null ? HandshakePhase.Greeting : HandshakePhase.ProxyHeader;
        _services = services;
        _settings = services.Settings;
        _registry = registry;
        _startTimestamp = services.TimeProvider.GetTimestamp();
    }

    public long Id => _id;

    public HandshakePhase Phase => _phase;

    /// <summary>The settings the session was accepted under, its timeouts among them (the registry's sweep reads them).</summary>
    public SessionSettings Settings => _settings;

    /// <summary>When the session was accepted (<see cref="TimeProvider.GetTimestamp"/>): its handshake timeout counts from here.</summary>
    public long StartTimestamp => _startTimestamp;

    /// <summary>The command of the request, once it has been read; null before.</summary>
    internal Socks5Command? Command => Volatile.Read(ref _commandCode) is int code and >= 0 ? (Socks5Command)code : null;

    /// <summary>The user this session logged in as; <see langword="null"/> before a login, or without authentication.</summary>
    internal string? UserName => _userName;

    /// <summary>The client's IP address, IPv4-mapped addresses as IPv4; null if the socket could not tell it.</summary>
    internal IPAddress? ClientAddressOrNull => _clientEndPoint is IPEndPoint ? ClientAddress : null;

    /// <summary>The client's IP address, IPv4-mapped addresses as IPv4.</summary>
    private IPAddress ClientAddress
    {
        get
        {
            IPAddress address = ((IPEndPoint)_clientEndPoint!).Address;
            return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        }
    }

    /// <summary>Whether the session is still negotiating, and so counts against the handshake cap.</summary>
    public bool IsInHandshake => Volatile.Read(ref _inHandshake) == 1;

    public SessionCloseReason CloseReason => (SessionCloseReason)Volatile.Read(ref _closeReason);

    /// <summary>Whether the session is a UDP association, whose idle timeout is <c>udp.idleTimeout</c>.</summary>
    public bool IsUdpAssociation => _association is not null;

    /// <summary>When the tunnel last carried data, or when the session started if it has no tunnel yet.</summary>
    public long LastActivityTimestamp =>
        _relay?.LastActivityTimestamp ?? _association?.LastActivityTimestamp ?? (_http is { Forwarding: true } http ? Volatile.Read(ref http.ForwardActivity) : _startTimestamp);

    /// <summary>
    /// Runs the session on the calling thread until its first wait. The engine decides which thread that is
    /// (<see cref="Transport.TransportEngine.StartSession"/>): the thread pool, or the thread where its socket's events arrive.
    /// </summary>
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
        // The handshake timeout is the registry's sweep (SessionRegistry), not a timer of this session's own.
        _buffer = ArrayPool<byte>.Shared.Rent(SocksInputLength + ScratchLength + OutputLength);
        try
        {
            if (_frontDoor.ProxyProtocol is { } proxyProtocol && !proxyProtocol.Trusts(ClientAddress))
            {
                // Unheard: a header from anyone else would let them pose as any address.
                RejectProxyHeader("the connection is not from one of the listener's trustedProxies");
                return;
            }

            int pipelinedStart = await HandshakeAsync().ConfigureAwait(false);
            LeaveHandshake();
            if (pipelinedStart < 0)
            {
                return;
            }

            _services.Metrics.HandshakeCompleted(_services.TimeProvider.GetElapsedTime(_startTimestamp));

            Socks5Request request = _request!.Value;
            if (!await CheckRequestAsync(request).ConfigureAwait(false) || !await TryTakeSessionSlotAsync(request).ConfigureAwait(false))
            {
                return;
            }

            if (_protocol == ListenerProtocols.Http && !_http!.Head!.IsConnect)
            {
                await RunHttpForwardingAsync().ConfigureAwait(false);
                return;
            }

            switch (request.Command)
            {
                case Socks5Command.Connect:
                    // Here rather than in an async method of its own, whose suspended state would be one more object
                    // for each open tunnel: this method is the one that waits for the relay to end.
                    _phase = HandshakePhase.Connecting;
                    long connectStart = _services.TimeProvider.GetTimestamp();
                    ConnectResult connected;
                    if (_route is null && _settings.Connect.TryStartFast(request.Destination, request.Port, DestinationCheck, _client, out ConnectAttempt attempt))
                    {
                        try
                        {
                            await attempt.WhenDoneAsync(_lifetime.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            // The connect timed out, or the session was aborted: Finish reports it as a timeout either way.
                        }

                        connected = attempt.Finish();
                    }
                    else
                    {
                        connected = await ConnectThroughCommandAsync(request).ConfigureAwait(false);
                    }

                    _services.Metrics.ConnectCompleted(_services.TimeProvider.GetElapsedTime(connectStart), connected.ReplyCode);
                    if (await TakeConnectResultAsync(request, connected, pipelinedStart).ConfigureAwait(false))
                    {
                        EndRelay(await StartRelay().ConfigureAwait(false));
                    }

                    break;
                case Socks5Command.Bind:
                    await RunBindAsync(request, pipelinedStart).ConfigureAwait(false);
                    break;
                default:
                    await RunUdpAssociateAsync(request).ConfigureAwait(false);
                    break;
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            // The reason was recorded by whoever aborted the session.
            if (CloseReason == SessionCloseReason.HandshakeTimeout)
            {
                SessionLog.HandshakeTimedOut(log, _id, _clientEndPoint, _phase);
            }
            else if (CloseReason == SessionCloseReason.HandshakeEvicted)
            {
                SessionLog.HandshakeEvicted(log, _id, _clientEndPoint, _phase);
            }
            else if (CloseReason == SessionCloseReason.UdpIdleTimeout)
            {
                SessionLog.UdpIdleTimeout(log, _id, _settings.UdpIdleTimeout);
            }
        }
        catch (SocketException e)
        {
            // Relay errors are values; a socket error that escapes to here came from talking to the client.
            TrySetCloseReason(SessionCloseReason.ClientReset);
            SessionLog.ClientSocketError(log, _id, _clientEndPoint, _phase, e.SocketErrorCode);
        }
        catch (Exception e)
        {
            // The one catch-all of a session: log it as a bug, reset the connection, keep serving the others.
            TrySetCloseReason(SessionCloseReason.ServerFault);
            SessionLog.SessionFault(log, _id, _clientEndPoint, e);
        }
        finally
        {
            LeaveHandshake();
            if (_bandwidth is not null)
            {
                _services.Bandwidth.Release(_bandwidth);
            }

            ReleaseBuffer();
            await DeliverBeforeResetAsync().ConfigureAwait(false);
            Close();
            EndGssapiProtection();

            // After Close: the descriptors go back to the budget only once they are really closed.
            if (_slot is { } slot)
            {
                _services.Limiter.Release(slot.Client, slot.User, slot.Descriptors);
            }

            if (_sharedSlotUser is { } sharedUser)
            {
                _services.SharedLimits!.ReleaseSession(sharedUser);
            }

            _services.Limiter.ReleaseConnection();
            WriteAccessLog();
            RecordMetrics();
            _registry.Remove(this);
        }
    }

    private void LeaveHandshake()
    {
        if (Interlocked.Exchange(ref _inHandshake, 0) == 1)
        {
            _services.Limiter.LeaveHandshake();
            _registry.LeftHandshake(this);
        }
    }

    /// <summary>Takes this session's place under the session caps, or answers X'01' and closes.</summary>
    private async Task<bool> TryTakeSessionSlotAsync(Socks5Request request)
    {
        IPAddress client = ClientAddress;
        string? user = _settings.RequiresAuthentication ? _user : null;
        int descriptors = request.Command == Socks5Command.UdpAssociate ? DescriptorBudget.UdpAssociationDescriptors : DescriptorBudget.TunnelDescriptors;
        string detail;
        if (_services.Limiter.TryAcquire(client, user, descriptors, out bool outOfDescriptors))
        {
            // The local caps first: a session they refuse costs Redis nothing. Every session of a user is counted
            // across instances, under a cap or not, so that a cap a reload sets finds them counted (as SessionLimiter).
            if (user is null || _services.SharedLimits is not { } shared
                || await shared.TryAcquireSessionAsync(user, _services.Limiter.MaxSessionsPerUser).ConfigureAwait(false))
            {
                _slot = (client, user, descriptors);
                _sharedSlotUser = _services.SharedLimits is null ? null : user;
                _bandwidth = _services.Bandwidth.Acquire(user);
                return true;
            }

            _services.Limiter.Release(client, user, descriptors);
            _services.Limiter.CountRejection();
            detail = "limits.maxSessionsPerUser was reached on all instances together (limits.shared)";
        }
        else
        {
            if (outOfDescriptors)
            {
                _services.ReportDescriptorsExhausted();
            }

            detail = outOfDescriptors
                ? "the descriptors sessions may hold are all taken"
                : "a session cap was reached (limits.maxSessions, maxSessionsPerClientAddress or maxSessionsPerUser)";
        }

        SessionLog.LimitReached(_services.SessionLogger, _id, _clientEndPoint, LogText.Escape(_user), request.Command);
        _services.Accounting.Refused(RefusalKind.Limit, client, _userName, detail);
        await FailAsync(Socks5ReplyCode.GeneralFailure, SessionCloseReason.LimitReached).ConfigureAwait(false);
        return false;
    }

    /// <summary>Returns the handshake buffer, wiping what credentials it held. Called before relaying: an idle tunnel holds no buffer.</summary>
    private void ReleaseBuffer()
    {
        byte[]? buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>Sends a success reply naming <paramref name="bound"/>, in the client's protocol.</summary>
    private async Task SendSuccessAsync(IPEndPoint bound)
    {
        IPAddress address = bound.Address.IsIPv4MappedToIPv6 ? bound.Address.MapToIPv4() : bound.Address;
        _replyCode = Socks5ReplyCode.Succeeded;
        int length = _protocol == ListenerProtocols.Http ? HttpProxyMessages.WriteConnectEstablished(_buffer.AsSpan(OutputOffset))
            : _protocol == ListenerProtocols.Socks4 ? Socks4Success(address, bound.Port).Write(_buffer.AsSpan(OutputOffset))
            : new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromIPAddress(address), (ushort)bound.Port).Write(_buffer.AsSpan(OutputOffset));
        await _client.SendAsync(_buffer.AsMemory(OutputOffset, length), _lifetime.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands the bytes the client sent right behind its request (for BIND, also those it sent while the server waited for
    /// the peer) to the target: they belong to the tunnel.
    /// <see langword="false"/> when the target is already gone.
    /// </summary>
    private async Task<bool> ForwardPipelinedAsync(int pipelinedStart)
    {
        Debug.Assert(_target is not null && _buffer is not null);
        if (pipelinedStart < _inputEnd)
        {
            // At most the input area (2 KiB), sent at once; charged so that the relay's pacing makes up for them.
            _bandwidth?.Upload.Charge(_inputEnd - pipelinedStart);
            try
            {
                await _target.SendAsync(_buffer.AsMemory(pipelinedStart, _inputEnd - pipelinedStart), _lifetime.Token).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                TrySetCloseReason(SessionCloseReason.TargetReset);
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Starts relaying between the client and <see cref="_target"/>. The caller awaits the outcome and passes it to
    /// <see cref="EndRelay"/>: not an async method of its own, whose suspended state would be one more object per idle tunnel.
    /// </summary>
    private ValueTask<RelayOutcome> StartRelay()
    {
        Debug.Assert(_target is not null);
        _phase = HandshakePhase.Relaying;
        // A protected client's bytes are wrapped and unwrapped on their way, which no zero-copy relay can do.
        TunnelRelay relay = _client is GssapiTunnelSocket
            ? new TunnelSocketRelay(_client, _target, ProtectedRelayBufferBytes, _services.TimeProvider, _bandwidth)
            : _services.Engine.CreateRelay(_client, _target, _bandwidth);
        _relay = relay;
        return relay.RunAsync(_lifetime.Token);
    }

    private void EndRelay(RelayOutcome outcome)
    {
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

    /// <summary>
    /// Sends a failure reply, in the client's protocol, then closes as RFC 1928 §6 asks: soon, and without destroying the
    /// reply. <paramref name="code"/> is what happened, as SOCKS5 names it; SOCKS4 can only say 91.
    /// </summary>
    private async Task FailAsync(Socks5ReplyCode code, SessionCloseReason reason)
    {
        _replyCode = code;
        TrySetCloseReason(reason);
        int length = _protocol switch
        {
            ListenerProtocols.Http => HttpProxyMessages.WriteStatus(_buffer.AsSpan(OutputOffset), HttpStatusFor(code, reason)),
            ListenerProtocols.Socks4 => Socks4Reply.Failure(Socks4ReplyCode.RejectedOrFailed).Write(_buffer.AsSpan(OutputOffset)),
            _ => Socks5Reply.Failure(code).Write(_buffer.AsSpan(OutputOffset)),
        };
        await SendThenLingerAsync(_buffer!, length).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the reply in the output area (if any), sends FIN, then reads and discards until the client's FIN (or one
    /// second): closing a socket with unread input sends RST, which can make the client lose the reply it has not read yet.
    /// </summary>
    private async Task SendThenLingerAsync(byte[] buffer, int replyLength)
    {
        if (replyLength > 0)
        {
            await _client.SendAsync(buffer.AsMemory(OutputOffset, replyLength), _lifetime.Token).ConfigureAwait(false);
        }

        _client.ShutdownSend();
        using var linger = new CancellationTokenSource(LingerAfterFailure, _services.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(linger.Token, _lifetime.Token);
        try
        {
            for (int total = 0; total < 64 * 1024;)
            {
                int read = await _client.ReceiveAsync(buffer.AsMemory(0, InputLength), linked.Token).ConfigureAwait(false);
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

    /// <summary>
    /// After one end of a tunnel reset, waits until the other end has acknowledged what the relay already handed to its
    /// socket, so that the reset Close passes on does not destroy those bytes: a slow reader would otherwise lose up to a
    /// socket buffer of data the server had taken responsibility for. Bounded: it gives up once the peer stops
    /// acknowledging for <see cref="LingerAfterFailure"/>, or after <see cref="DeliveryBeforeResetLimit"/> in all.
    /// </summary>
    private async Task DeliverBeforeResetAsync()
    {
        TunnelSocket? survivor = CloseReason switch
        {
            SessionCloseReason.TargetReset => _client,
            SessionCloseReason.ClientReset => _target,
            _ => null,
        };
        if (survivor is null || _relay is null || _lifetime.IsCancellationRequested)
        {
            return;
        }

        TimeProvider time = _services.TimeProvider;
        long start = time.GetTimestamp();
        long lastProgress = start;
        int unacknowledged = survivor.Unacknowledged;
        try
        {
            while (unacknowledged > 0 && time.GetElapsedTime(start) < DeliveryBeforeResetLimit && time.GetElapsedTime(lastProgress) < LingerAfterFailure)
            {
                await Task.Delay(DeliveryPollInterval, time, _lifetime.Token).ConfigureAwait(false);
                int now = survivor.Unacknowledged;
                if (now < unacknowledged)
                {
                    lastProgress = time.GetTimestamp();
                }

                unacknowledged = now;
            }
        }
        catch (OperationCanceledException)
        {
            // The server is stopping: reset now.
        }
    }

    private void Close()
    {
        bool graceful = CloseReason is SessionCloseReason.Completed or SessionCloseReason.Malformed or SessionCloseReason.AuthFailed
            or SessionCloseReason.NoAcceptableMethod or SessionCloseReason.ConnectFailed
            or SessionCloseReason.RuleDenied or SessionCloseReason.ClientEof or SessionCloseReason.BindFailed
            or SessionCloseReason.LimitReached or SessionCloseReason.UdpIdleTimeout or SessionCloseReason.ProxyHeaderRejected
            or SessionCloseReason.BalancerHealthCheck or SessionCloseReason.ProtocolDisabled;
        _association?.Dispose();
        if (graceful)
        {
            _client.Close();
            _target?.Close();
        }
        else if (CloseReason is SessionCloseReason.HandshakeTimeout or SessionCloseReason.HandshakeEvicted)
        {
            // A stalled handshake has lost nothing: the client gets the replies it earned and a FIN, not a reset (issue 22).
            // FIN before the close, because a close with input still unread (a client trickling its greeting) sends RST:
            // that RST then follows the FIN, which the client has already read as the end.
            _client.ShutdownSend();
            _client.Close();
        }
        else
        {
            _client.Abort();
            _target?.Abort();
        }

        _lifetime.Dispose();
    }

    /// <summary>
    /// Payload relayed toward the destination so far: a tunnel's, or a UDP association's datagrams' (headers not counted).
    /// Read live by the metrics while the session relays.
    /// </summary>
    internal long BytesUp => (_relay?.BytesUp ?? _association?.BytesUp ?? 0) + (_http is { } http ? Interlocked.Read(ref http.ForwardedUp) : 0);

    /// <summary>Payload relayed toward the client so far.</summary>
    internal long BytesDown => (_relay?.BytesDown ?? _association?.BytesDown ?? 0) + (_http is { } http ? Interlocked.Read(ref http.ForwardedDown) : 0);

    /// <summary>The command, once the session relays (read only after <see cref="BytesUp"/> or <see cref="BytesDown"/> is not 0).</summary>
    internal Socks5Command? RelayingCommand => _relay is not null || _association is not null || _http is { Forwarding: true } ? _request?.Command : null;

    /// <summary>
    /// Set by the accounting, under its lock, once this session's bytes are in its totals of ended sessions: from then on
    /// a reading of the live sessions skips it, so no byte is counted twice or dropped between the two.
    /// </summary>
    internal bool BytesAccounted { get; set; }

    private void RecordMetrics()
    {
        _services.Accounting.SessionEnded(_request?.Command, this);
        _services.Metrics.SessionEnded(_protocol, _request?.Command, _replyCode, CloseReason, _services.TimeProvider.GetElapsedTime(_startTimestamp));
    }

    private void WriteAccessLog()
    {
        if (_request is not { } request || !_services.AccessLogger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        long durationMs = (long)_services.TimeProvider.GetElapsedTime(_startTimestamp).TotalMilliseconds;
        AccessLog.Session(_services.AccessLogger, _clientEndPoint, LogText.Escape(_user), request.Command, LogText.Destination(request.Destination, request.Port),
            _replyCode, BytesUp, BytesDown, durationMs, CloseReason);
    }
}
