using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Http;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
using Sockeye.Server.Status;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Sessions;

/// <summary>
/// The HTTP proxy: a <c>CONNECT</c> becomes a tunnel exactly as a SOCKS CONNECT does; an absolute-URI request
/// (<c>GET http://host/path</c>) is forwarded to its origin as HTTP/1.1, its response forwarded back, and the connection
/// kept for the client's next request while both sides allow it.
/// </summary>
internal sealed partial class ProxySession
{
    // An HTTP client's state, in an object of its own that only HTTP sessions allocate: a SOCKS tunnel's session object
    // stays as small as it was (its size is most of an idle tunnel's memory).
    private HttpState? _http;

    /// <summary>What an HTTP session keeps beyond a SOCKS session.</summary>
    private sealed class HttpState
    {
        // The request being served, and its destination.
        public HttpRequestHead? Head;
        public HttpRequestTarget Target;

        // Bytes forwarded exchanges moved (heads included), for the metrics and the access log; and when they last moved
        // any, for the idle timeout between and during requests.
        public long ForwardedUp;
        public long ForwardedDown;
        public long ForwardActivity;
        public volatile bool Forwarding;
    }

    // What a forwarded exchange copies through at most at once, in each direction.
    private const int ForwardChunkLength = 16 * 1024;

    /// <summary>
    /// An HTTP client's first byte arrived: the handshake buffer grows to hold the longest head allowed, keeping what was
    /// read, and the head is parsed as the request.
    /// </summary>
    private void UseHttpBuffer()
    {
        byte[] larger = ArrayPool<byte>.Shared.Rent(_settings.HttpLimits.MaxHeadLength + ScratchLength + OutputLength);
        byte[] smaller = _buffer!;
        smaller.AsSpan(_inputStart, _inputEnd - _inputStart).CopyTo(larger);
        _inputEnd -= _inputStart;
        _inputStart = 0;
        _buffer = larger;

        // From here on the input area is as long as the longest head (InputLength).
        _http = new HttpState();
        ArrayPool<byte>.Shared.Return(smaller, clearArray: true);
        _phase = HandshakePhase.Request;
    }

    /// <summary>
    /// Parses the first request's head and turns it into the request the rest of the session serves: its destination for
    /// the rules, its credentials for the login (in the scratch area, as RFC 1929's), or the error that answers it.
    /// </summary>
    private HandshakeStep AdvanceHttpHead(byte[] buffer, ref SequenceReader<byte> reader, Span<byte> output, out int replyLength)
    {
        replyLength = 0;
        if (!TryTakeHttpHead(ref reader, out HttpRequestHead? head, out HttpParseError error, out string? problem))
        {
            if (error == HttpParseError.None && problem is null)
            {
                return HandshakeStep.NeedMore;
            }

            return HttpMalformed(error, problem, output, out replyLength);
        }

        _inputStart += (int)reader.Consumed;
        if (!_settings.RequiresAuthentication)
        {
            return HandshakeStep.RequestReady;
        }

        string? credentials = head.GetField("Proxy-Authorization");
        if (credentials is null)
        {
            // A browser's first request carries none: it learns the scheme from this answer. Not a failed login.
            TrySetCloseReason(SessionCloseReason.AuthFailed);
            SessionLog.HttpCredentialsMissing(_services.SessionLogger, _id, _clientEndPoint);
            replyLength = HttpProxyMessages.WriteStatus(output, 407, _settings.Http.Realm);
            return HandshakeStep.ReplyAndClose;
        }

        if (!HttpBasicCredentials.TryDecode(credentials, buffer.AsSpan(ScratchOffset, HttpBasicCredentials.ScratchLength), out int user, out int password))
        {
            TrySetCloseReason(SessionCloseReason.AuthFailed);
            _services.Metrics.LoginConcluded("failed");
            _services.Accounting.Refused(RefusalKind.Authentication, ClientAddress, null, "Proxy-Authorization is not Basic credentials Sockeye can read");
            SessionLog.RequestMalformed(_services.SessionLogger, _id, _clientEndPoint, "HTTP", "Proxy-Authorization is not Basic user:password");
            replyLength = HttpProxyMessages.WriteStatus(output, 407, _settings.Http.Realm);
            return HandshakeStep.ReplyAndClose;
        }

        // Checked as RFC 1929's are: the same accounts, throttle and bans (AuthenticateAsync, then Conclude).
        _credentialLengths = (user, password);
        return HandshakeStep.Authenticate;
    }

    /// <summary>
    /// Parses a request head and what it asks for. <see langword="false"/> with no error and no problem: more bytes are
    /// needed. On success the head, its destination and its command are the session's.
    /// </summary>
    private bool TryTakeHttpHead(ref SequenceReader<byte> reader, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HttpRequestHead? head,
        out HttpParseError error, out string? problem)
    {
        problem = null;
        if (!HttpRequestHead.TryParse(ref reader, _settings.HttpLimits, out head, out error))
        {
            return false;
        }

        if (!head.TryGetTarget(out HttpRequestTarget target, out error) || (!head.IsConnect && !head.TryGetBodyFraming(out _, out error)))
        {
            head = null;
            return false;
        }

        if (head.IsConnect && target.Port == 0)
        {
            problem = "CONNECT to port 0";
            head = null;
            return false;
        }

        Socks5Address destination = IPAddress.TryParse(target.Host, out IPAddress? address)
            ? Socks5Address.FromIPAddress(address)
            : Socks5Address.FromDomainName(target.Host);
        _http!.Head = head;
        _http!.Target = target;
        _request = new Socks5Request(Socks5Command.Connect, destination, target.Port);
        Volatile.Write(ref _commandCode, (int)Socks5Command.Connect);
        return true;
    }

    /// <summary>Answers a head that cannot be served with the status its error calls for (400, 414, 431, 505), then closes.</summary>
    private HandshakeStep HttpMalformed(HttpParseError error, string? problem, Span<byte> output, out int replyLength)
    {
        problem ??= error.ToString();
        TrySetCloseReason(SessionCloseReason.Malformed);
        SessionLog.RequestMalformed(_services.SessionLogger, _id, _clientEndPoint, "HTTP", problem);
        TurnAway(RefusalKind.Protocol, $"a malformed HTTP request ({problem})");

        replyLength = HttpProxyMessages.WriteStatus(output, error == HttpParseError.None ? 400 : error.ToStatusCode());
        return HandshakeStep.ReplyAndClose;
    }

    /// <summary>The status that tells an HTTP client what a SOCKS reply code would have: 403, 503, 504 or 502.</summary>
    private static int HttpStatusFor(Socks5ReplyCode code, SessionCloseReason reason) => reason switch
    {
        SessionCloseReason.RuleDenied => 403,
        SessionCloseReason.LimitReached => 503,
        _ when code == Socks5ReplyCode.ConnectionNotAllowed => 403,
        _ when code == Socks5ReplyCode.TtlExpired => 504,
        _ => 502,
    };

    /// <summary>
    /// Serves absolute-URI requests until the client or the origin ends the connection: each is checked by the rules,
    /// forwarded (its origin connection kept for the next request to the same place), and its response relayed back.
    /// </summary>
    private async Task RunHttpForwardingAsync()
    {
        Debug.Assert(_http!.Head is not null && _buffer is not null);
        _http!.Forwarding = true;
        (string Host, ushort Port) origin = default;
        while (true)
        {
            HttpRequestHead head = _http!.Head!;
            if (_target is null || origin != (_http!.Target.Host, _http!.Target.Port))
            {
                _target?.Close();
                _target = null;
                _phase = HandshakePhase.Connecting;
                long connectStart = _services.TimeProvider.GetTimestamp();
                ConnectResult connected = await ConnectThroughCommandAsync(_request!.Value).ConfigureAwait(false);
                _services.Metrics.ConnectCompleted(_services.TimeProvider.GetElapsedTime(connectStart), connected.ReplyCode);
                if (connected.Target is null)
                {
                    Socks5Request request = _request.Value;
                    SessionLog.ConnectFailed(_services.SessionLogger, _id, request.Command, LogText.Destination(request.Destination, request.Port), connected.ReplyCode, connected.SocketError);
                    await FailAsync(connected.ReplyCode, connected.ReplyCode == Socks5ReplyCode.ConnectionNotAllowed ? SessionCloseReason.RuleDenied : SessionCloseReason.ConnectFailed).ConfigureAwait(false);
                    return;
                }

                _target = connected.Target;
                origin = (_http!.Target.Host, _http!.Target.Port);

            }

            _phase = HandshakePhase.Relaying;
            Touch();
            (bool clientKeepAlive, bool originKeepAlive) = await ForwardExchangeAsync(head).ConfigureAwait(false);
            if (!originKeepAlive)
            {
                _target?.Close();
                _target = null;
            }

            if (!clientKeepAlive || !await ReadNextHttpRequestAsync().ConfigureAwait(false))
            {
                return;
            }

            if (!await CheckRequestAsync(_request!.Value).ConfigureAwait(false))
            {
                return;
            }

            if (_http!.Head!.IsConnect)
            {
                // A tunnel after forwarded requests (a browser reuses its proxy connection for https too): the connection
                // becomes the tunnel, as if CONNECT had been its first request.
                _target?.Close();
                _target = null;
                await RunLaterConnectAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private async Task RunLaterConnectAsync()
    {
        Socks5Request request = _request!.Value;
        _phase = HandshakePhase.Connecting;
        long connectStart = _services.TimeProvider.GetTimestamp();
        ConnectResult connected = await ConnectThroughCommandAsync(request).ConfigureAwait(false);
        _services.Metrics.ConnectCompleted(_services.TimeProvider.GetElapsedTime(connectStart), connected.ReplyCode);
        if (await TakeConnectResultAsync(request, connected, _inputStart).ConfigureAwait(false))
        {
            EndRelay(await StartRelay().ConfigureAwait(false));
        }
    }

    /// <summary>
    /// Forwards one request and its response. The request body goes up while the response comes down, so that a client
    /// waiting for <c>100 Continue</c> gets it and an origin that answers before reading everything is heard. Returns
    /// whether the client connection and the origin connection may each serve another request.
    /// </summary>
    private async Task<(bool ClientKeepAlive, bool OriginKeepAlive)> ForwardExchangeAsync(HttpRequestHead head)
    {
        TunnelSocket target = _target!;
        head.TryGetBodyFraming(out HttpBodyFraming requestFraming, out _);
        var written = new ArrayBufferWriter<byte>(head.Length + 128);
        HttpProxyMessages.WriteForwardedRequest(head, _http!.Target, _settings.Http.Via ? HttpProxyMessages.DefaultVia : null, written);
        try
        {
            await SendPacedAsync(target, written.WrittenMemory, upload: true).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // A kept origin connection the origin closed while it was idle: the client hears 502 and may try again.
            SessionLog.HttpOriginFailed(_services.SessionLogger, _id, LogText.Destination(_request!.Value.Destination, _request.Value.Port), "the origin closed the connection");
            await FailAsync(Socks5ReplyCode.GeneralFailure, SessionCloseReason.TargetReset).ConfigureAwait(false);
            return (false, false);
        }

        // The body and the response each stop the other when they fail; both are over before this method returns, so
        // nothing touches the session's buffers once it has.
        using var exchange = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        Task<bool> upload = ForwardRequestBodyAsync(target, requestFraming, exchange);
        byte[] originBuffer = ArrayPool<byte>.Shared.Rent(_settings.HttpLimits.MaxHeadLength);
        ResponseOutcome response = ResponseOutcome.Failed;
        bool uploaded;
        try
        {
            response = await ForwardResponseAsync(target, head, originBuffer, exchange.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (exchange.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            // The body failed first; its reason is recorded.
        }
        finally
        {
            // An origin that answered before the request body was all sent cannot have its connection reused, nor can the
            // client's, whose unsent body would be read as its next request.
            if (response is ResponseOutcome.Failed or ResponseOutcome.FailedBeforeResponse || !upload.IsCompleted)
            {
                await exchange.CancelAsync().ConfigureAwait(false);
            }

            uploaded = await upload.ConfigureAwait(false);
            ArrayPool<byte>.Shared.Return(originBuffer);
        }

        switch (response)
        {
            case ResponseOutcome.FailedBeforeResponse:
                await FailAsync(Socks5ReplyCode.GeneralFailure, SessionCloseReason.TargetReset).ConfigureAwait(false);
                return (false, false);
            case ResponseOutcome.Failed:
                return (false, false);
        }

        bool clientKeepAlive = uploaded && head.KeepAlive && response is ResponseOutcome.KeepBoth or ResponseOutcome.KeepClientOnly;
        if (!clientKeepAlive)
        {
            TrySetCloseReason(SessionCloseReason.Completed);
        }

        return (clientKeepAlive, clientKeepAlive && response == ResponseOutcome.KeepBoth);
    }

    private enum ResponseOutcome
    {
        /// <summary>The exchange failed after the client had part of the response; the session is over (its close reason is set).</summary>
        Failed,

        /// <summary>The exchange failed before the client had any of the response: it is to hear 502.</summary>
        FailedBeforeResponse,

        /// <summary>The response ended where its framing said: both connections may serve another request.</summary>
        KeepBoth,

        /// <summary>The response ended, but the origin closes (or said it would): only the client connection may go on.</summary>
        KeepClientOnly,

        /// <summary>The response ended with the origin's close: the client connection must close too.</summary>
        CloseBoth,
    }

    /// <summary>
    /// Reads the origin's response head (and any interim 1xx heads before it), forwards it, then its body as its framing
    /// says. A response that never starts properly is answered 502 while the client has had nothing yet.
    /// </summary>
    private async Task<ResponseOutcome> ForwardResponseAsync(TunnelSocket target, HttpRequestHead request, byte[] buffer, CancellationToken cancellationToken)
    {
        int limit = _settings.HttpLimits.MaxHeadLength;
        int start = 0;
        int end = 0;
        bool headSent = false;
        while (true)
        {
            HttpResponseHead? response;
            HttpParseError error;
            while (true)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer, start, end - start));
                if (HttpResponseHead.TryParse(ref reader, _settings.HttpLimits, out response, out error))
                {
                    start += (int)reader.Consumed;
                    break;
                }

                if (error != HttpParseError.None)
                {
                    return FailResponse(headSent, $"the origin's response is malformed ({error})");
                }

                if (end == limit)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                int read;
                try
                {
                    read = await target.ReceiveAsync(buffer.AsMemory(end, limit - end), cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    return FailResponse(headSent, "the origin reset the connection before its response");
                }

                if (read == 0)
                {
                    return FailResponse(headSent, "the origin closed the connection before its response");
                }

                end += read;
            }

            if (response.StatusCode == 101)
            {
                // Upgrade is hop-by-hop and was not forwarded: an origin that switches anyway is not speaking HTTP/1.1 to us.
                return FailResponse(headSent, "the origin switched protocols (101) though no Upgrade was forwarded");
            }

            if (!response.TryGetBodyFraming(request.Method, out HttpBodyFraming framing, out error))
            {
                return FailResponse(headSent, $"the origin's response framing is invalid ({error})");
            }

            // Chunked bytes go through as they came, except to an HTTP/1.0 client, which cannot read chunks (RFC 9112 §7.1):
            // it gets the data alone, ended by the close.
            bool dechunk = framing.Kind == HttpBodyKind.Chunked && request.MinorVersion == 0;
            bool clientKeepAlive = request.KeepAlive && framing.Kind != HttpBodyKind.UntilClose && !dechunk;
            HttpResponseHead forwarded = dechunk ? WithoutTransferEncoding(response) : response;
            var written = new ArrayBufferWriter<byte>(response.Length + 128);
            HttpProxyMessages.WriteForwardedResponse(forwarded, clientKeepAlive || response.IsInterim, request.MinorVersion,
                _settings.Http.Via ? HttpProxyMessages.DefaultVia : null, written);
            await SendPacedAsync(_client, written.WrittenMemory, upload: false).ConfigureAwait(false);
            headSent = true;
            _replyCode = Socks5ReplyCode.Succeeded;
            if (response.IsInterim)
            {
                continue;
            }

            BodyCopy copied = await CopyBodyAsync(target, _client, framing, buffer, start, end, limit, upload: false, cancellationToken, dechunk).ConfigureAwait(false);
            if (copied.Outcome != BodyOutcome.Complete)
            {
                TrySetCloseReason(copied.Outcome == BodyOutcome.SourceFailed ? SessionCloseReason.TargetReset : SessionCloseReason.ClientReset);
                return ResponseOutcome.Failed;
            }

            if (framing.Kind == HttpBodyKind.UntilClose || dechunk)
            {
                return ResponseOutcome.CloseBoth;
            }

            // Bytes past the response are nothing the origin may send: its connection is not reused.
            bool originClean = response.KeepAlive && copied.Start == copied.End;
            return originClean ? ResponseOutcome.KeepBoth : ResponseOutcome.KeepClientOnly;
        }
    }

    private static HttpResponseHead WithoutTransferEncoding(HttpResponseHead response)
    {
        var fields = new List<HttpHeaderField>(response.Fields.Count);
        foreach (HttpHeaderField field in response.Fields)
        {
            if (!field.Name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                fields.Add(field);
            }
        }

        return HttpResponseHead.Create(response.MinorVersion, response.StatusCode, response.ReasonPhrase, fields);
    }

    /// <summary>Logs why the origin's response failed; 502 is due when the client has had nothing of it.</summary>
    private ResponseOutcome FailResponse(bool headSent, string problem)
    {
        SessionLog.HttpOriginFailed(_services.SessionLogger, _id, LogText.Destination(_request!.Value.Destination, _request.Value.Port), problem);
        TrySetCloseReason(SessionCloseReason.TargetReset);
        return headSent ? ResponseOutcome.Failed : ResponseOutcome.FailedBeforeResponse;
    }

    /// <summary>
    /// Sends the request body the head announced: first what the client sent behind the head, then what it sends next,
    /// read into the input area (whatever follows the body there is the client's next request, left in place). Never
    /// throws; on a failure it stops the exchange and returns <see langword="false"/>.
    /// </summary>
    private async Task<bool> ForwardRequestBodyAsync(TunnelSocket target, HttpBodyFraming framing, CancellationTokenSource exchange)
    {
        if (framing.Kind == HttpBodyKind.None || (framing.Kind == HttpBodyKind.ContentLength && framing.ContentLength == 0))
        {
            return true;
        }

        try
        {
            BodyCopy copied = await CopyBodyAsync(_client, target, framing, _buffer!, _inputStart, _inputEnd, InputLength, upload: true, exchange.Token).ConfigureAwait(false);
            (_inputStart, _inputEnd) = (copied.Start, copied.End);
            if (copied.Outcome == BodyOutcome.Complete)
            {
                return true;
            }

            TrySetCloseReason(copied.Outcome == BodyOutcome.SourceFailed ? SessionCloseReason.ClientReset : SessionCloseReason.TargetReset);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        await exchange.CancelAsync().ConfigureAwait(false);
        return false;
    }

    private enum BodyOutcome
    {
        Complete,
        SourceFailed,
        DestinationFailed,
    }

    /// <param name="Outcome">Whether the body arrived and was sent whole.</param>
    /// <param name="Start">Where the bytes read past the body's end start in the buffer.</param>
    /// <param name="End">Where they end.</param>
    private readonly record struct BodyCopy(BodyOutcome Outcome, int Start, int End);

    /// <summary>
    /// Copies a body from <paramref name="source"/> to <paramref name="destination"/> as <paramref name="framing"/> says,
    /// starting with the bytes already in <paramref name="buffer"/> between <paramref name="start"/> and
    /// <paramref name="end"/>, reading more into its first <paramref name="capacity"/> bytes. The bytes are sent as they
    /// came: a chunked body stays chunked.
    /// </summary>
    /// <remarks>With <paramref name="dechunk"/>, a chunked body's data is sent without its framing.</remarks>
    private async Task<BodyCopy> CopyBodyAsync(TunnelSocket source, TunnelSocket destination, HttpBodyFraming framing, byte[] buffer, int start, int end,
        int capacity, bool upload, CancellationToken cancellationToken, bool dechunk = false)
    {
        long remaining = framing.Kind switch
        {
            HttpBodyKind.None => 0,
            HttpBodyKind.ContentLength => framing.ContentLength,
            _ => long.MaxValue,
        };
        var chunked = new HttpChunkedBody();
        while (remaining > 0)
        {
            if (start == end)
            {
                start = end = 0;
                int read;
                try
                {
                    read = await source.ReceiveAsync(buffer.AsMemory(0, Math.Min(capacity, ForwardChunkLength)), cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    return new BodyCopy(BodyOutcome.SourceFailed, 0, 0);
                }

                if (read == 0)
                {
                    // The end of an until-close body; a truncated body otherwise.
                    return new BodyCopy(framing.Kind == HttpBodyKind.UntilClose ? BodyOutcome.Complete : BodyOutcome.SourceFailed, 0, 0);
                }

                end = read;
            }

            int length = end - start;
            if (dechunk)
            {
                while (start < end && !chunked.IsComplete)
                {
                    if (!chunked.TryDecode(buffer.AsSpan(start, end - start), out int consumed, out int dataOffset, out int dataLength, out _))
                    {
                        return new BodyCopy(BodyOutcome.SourceFailed, 0, 0);
                    }

                    try
                    {
                        await SendPacedAsync(destination, buffer.AsMemory(start + dataOffset, dataLength), upload).ConfigureAwait(false);
                    }
                    catch (SocketException)
                    {
                        return new BodyCopy(BodyOutcome.DestinationFailed, 0, 0);
                    }

                    start += consumed;
                }

                remaining = chunked.IsComplete ? 0 : remaining;
                continue;
            }

            switch (framing.Kind)
            {
                case HttpBodyKind.ContentLength:
                    length = (int)Math.Min(length, remaining);
                    remaining -= length;
                    break;
                case HttpBodyKind.Chunked:
                    if (!chunked.TryAdvance(buffer.AsSpan(start, length), out length, out _))
                    {
                        return new BodyCopy(BodyOutcome.SourceFailed, 0, 0);
                    }

                    remaining = chunked.IsComplete ? 0 : remaining;
                    break;
            }

            try
            {
                await SendPacedAsync(destination, buffer.AsMemory(start, length), upload).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return new BodyCopy(BodyOutcome.DestinationFailed, 0, 0);
            }

            start += length;
        }

        return new BodyCopy(BodyOutcome.Complete, start, end);
    }

    /// <summary>
    /// Sends <paramref name="data"/>, paced by the session's bandwidth limit where one applies, and counts it.
    /// </summary>
    private async Task SendPacedAsync(TunnelSocket destination, ReadOnlyMemory<byte> data, bool upload)
    {
        BandwidthPacer? pacer = upload ? _bandwidth?.Upload : _bandwidth?.Download;
        while (!data.IsEmpty)
        {
            int granted = data.Length;
            if (pacer is not null)
            {
                granted = pacer.TryTake(data.Length, out TimeSpan wait);
                if (granted == 0)
                {
                    await Task.Delay(wait, _services.TimeProvider, _lifetime.Token).ConfigureAwait(false);
                    continue;
                }
            }

            await destination.SendAsync(data[..granted], _lifetime.Token).ConfigureAwait(false);
            Interlocked.Add(ref upload ? ref _http!.ForwardedUp : ref _http!.ForwardedDown, granted);
            Touch();
            data = data[granted..];
        }
    }

    private void Touch() => Volatile.Write(ref _http!.ForwardActivity, _services.TimeProvider.GetTimestamp());

    /// <summary>
    /// Waits for the client's next request on a kept-alive connection and parses its head. An idle connection holds no
    /// buffer: it is returned while nothing is pending and rented again when a byte arrives. The head must then be whole
    /// within the handshake timeout. <see langword="false"/> when the session is over (answered where due).
    /// </summary>
    private async Task<bool> ReadNextHttpRequestAsync()
    {
        if (_inputStart == _inputEnd)
        {
            ReleaseBuffer();
            _inputStart = _inputEnd = 0;
            try
            {
                await _client.ReceiveAsync(Memory<byte>.Empty, _lifetime.Token).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                TrySetCloseReason(SessionCloseReason.Completed);
                return false;
            }

            _buffer = ArrayPool<byte>.Shared.Rent(InputLength + ScratchLength + OutputLength);
        }
        else if (_inputStart > 0)
        {
            _buffer.AsSpan(_inputStart, _inputEnd - _inputStart).CopyTo(_buffer);
            _inputEnd -= _inputStart;
            _inputStart = 0;
        }

        using var headTimeout = _settings.HandshakeTimeout > TimeSpan.Zero ? new CancellationTokenSource(_settings.HandshakeTimeout, _services.TimeProvider) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token, headTimeout?.Token ?? CancellationToken.None);
        byte[] buffer = _buffer!;
        while (true)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer, _inputStart, _inputEnd - _inputStart));
            if (TryTakeHttpHead(ref reader, out HttpRequestHead? head, out HttpParseError error, out string? problem))
            {
                _inputStart += (int)reader.Consumed;
                return await CheckLaterCredentialsAsync(head).ConfigureAwait(false);
            }

            if (error != HttpParseError.None || problem is not null)
            {
                HttpMalformed(error, problem, buffer.AsSpan(OutputOffset), out int length);
                await SendThenLingerAsync(buffer, length).ConfigureAwait(false);
                return false;
            }

            int read;
            try
            {
                read = await _client.ReceiveAsync(buffer.AsMemory(_inputEnd, InputLength - _inputEnd), linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (headTimeout?.IsCancellationRequested == true && !_lifetime.IsCancellationRequested)
            {
                TrySetCloseReason(SessionCloseReason.HandshakeTimeout);
                SessionLog.HandshakeTimedOut(_services.SessionLogger, _id, _clientEndPoint, HandshakePhase.Request);
                return false;
            }
            catch (SocketException)
            {
                TrySetCloseReason(SessionCloseReason.ClientReset);
                return false;
            }

            if (read == 0)
            {
                // Between requests, a FIN is how an HTTP client says it is done; in mid-head, it gave up.
                TrySetCloseReason(_inputEnd == 0 ? SessionCloseReason.Completed : SessionCloseReason.ClientEof);
                return false;
            }

            _inputEnd += read;
        }
    }

    /// <summary>
    /// A later request on the connection is served as the account its first request logged in as. It may repeat that
    /// request's credentials (browsers send them every time) or send none; other credentials are answered 407 and closed,
    /// since a connection's limits and accounting belong to one account.
    /// </summary>
    private async Task<bool> CheckLaterCredentialsAsync(HttpRequestHead head)
    {
        if (!_settings.Users.RequiresAuthentication || head.GetField("Proxy-Authorization") is not { } credentials)
        {
            return true;
        }

        byte[] buffer = _buffer!;
        Span<byte> scratch = buffer.AsSpan(ScratchOffset, HttpBasicCredentials.ScratchLength);
        bool same = HttpBasicCredentials.TryDecode(credentials, scratch, out int user, out _)
            && _userName is not null && System.Text.Encoding.UTF8.GetString(scratch[..user]) == _userName;
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(scratch);
        if (same)
        {
            return true;
        }

        TrySetCloseReason(SessionCloseReason.AuthFailed);
        SessionLog.RequestMalformed(_services.SessionLogger, _id, _clientEndPoint, "HTTP", "a later request on the connection names another account");
        int length = HttpProxyMessages.WriteStatus(buffer.AsSpan(OutputOffset), 407, _settings.Http.Realm);
        await SendThenLingerAsync(buffer, length).ConfigureAwait(false);
        return false;
    }
}
