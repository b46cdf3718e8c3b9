using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Sockeye.Protocol.Http;
using Sockeye.Protocol.ProxyProtocol;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Status;

namespace Sockeye.Server.Sessions;

/// <summary>The handshake: greeting, optional RFC 1929 authentication, request.</summary>
internal sealed partial class ProxySession
{
    private int _inputStart;
    private int _inputEnd;
    private (int User, int Password) _credentialLengths;

    /// <summary>
    /// Reads and answers the handshake. Returns where the client's pipelined payload starts in <see cref="_buffer"/>
    /// (it ends at <see cref="_inputEnd"/>), or -1 when the session is over.
    /// </summary>
    /// <remarks>
    /// Pooled: every handshake waits for the client at least twice, and a state machine of its own per session would be
    /// garbage that an idle tunnel's memory figure counts until the next collection. Awaited once, by <see cref="RunAsync"/>.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> HandshakeAsync()
    {
        CancellationToken cancellationToken = _lifetime.Token;
        while (true)
        {
            // Read afresh each time: an HTTP client's first byte swaps in a larger buffer (UseHttpBuffer).
            HandshakeStep step = Advance(_buffer!, out int replyLength);
            byte[] buffer = _buffer!;
            switch (step)
            {
                case HandshakeStep.RequestReady:
                    return _inputStart;
                case HandshakeStep.Reply:
                    await _client.SendAsync(buffer.AsMemory(OutputOffset, replyLength), cancellationToken).ConfigureAwait(false);
                    continue;
                case HandshakeStep.ReplyAndClose:
                    await SendThenLingerAsync(buffer, replyLength).ConfigureAwait(false);
                    return -1;
                case HandshakeStep.Close:
                    return -1;
                case HandshakeStep.Gssapi:
                    if (!await GssapiAsync(buffer).ConfigureAwait(false))
                    {
                        return -1;
                    }

                    continue;
                case HandshakeStep.Authenticate:
                    (HandshakeStep next, int length) = await AuthenticateAsync(buffer).ConfigureAwait(false);
                    if (next == HandshakeStep.RequestReady)
                    {
                        // HTTP: the credentials came with the request, and success has no reply of its own.
                        return _inputStart;
                    }

                    if (next == HandshakeStep.ReplyAndClose)
                    {
                        await SendThenLingerAsync(buffer, length).ConfigureAwait(false);
                        return -1;
                    }

                    await _client.SendAsync(buffer.AsMemory(OutputOffset, length), cancellationToken).ConfigureAwait(false);
                    continue;
            }

            if (_inputEnd == InputLength)
            {
                // Keep only the unparsed tail. Every message fits in the input area, so there is always room after this.
                buffer.AsSpan(_inputStart, _inputEnd - _inputStart).CopyTo(buffer);
                _inputEnd -= _inputStart;
                _inputStart = 0;
            }

            int read = await _client.ReceiveAsync(buffer.AsMemory(_inputEnd, InputLength - _inputEnd), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                TrySetCloseReason(SessionCloseReason.ClientEof);
                SessionLog.HandshakeAbandoned(_services.SessionLogger, _id, _clientEndPoint, _phase);
                return -1;
            }

            _inputEnd += read;
        }
    }

    /// <summary>
    /// The PROXY protocol header a trusted balancer sends first: its client becomes this session's client for
    /// everything that follows, then the SOCKS5 greeting is parsed (it may be in the same read).
    /// </summary>
    private HandshakeStep AdvanceProxyHeader(byte[] buffer, ref SequenceReader<byte> reader, out int replyLength)
    {
        replyLength = 0;
        if (!ProxyHeader.TryParse(ref reader, InputLength, out ProxyHeader header, out ProxyParseError error))
        {
            if (error == ProxyParseError.None)
            {
                return HandshakeStep.NeedMore;
            }

            RejectProxyHeader(ProxyHeaderProblem(error));
            return HandshakeStep.Close;
        }

        _inputStart += (int)reader.Consumed;
        if (header.Command == ProxyCommand.Local)
        {
            // Health checks are the balancer's routine: no request follows, and nothing worth more than Debug.
            TrySetCloseReason(SessionCloseReason.BalancerHealthCheck);
            SessionLog.BalancerHealthCheck(_services.SessionLogger, _id, _clientEndPoint);
            return HandshakeStep.Close;
        }

        if (header.Source is { } source)
        {
            // UNKNOWN (v1), UNSPEC and UNIX (v2) carry no client address: the balancer's connection stands for it.
            EndPoint? balancer = _clientEndPoint;
            _clientEndPoint = source;
            SessionLog.ProxyHeaderAccepted(_services.SessionLogger, _id, balancer, source);
        }

        _phase = HandshakePhase.Greeting;
        return Advance(buffer, out replyLength);
    }

    /// <summary>Closes a PROXY protocol listener's connection that has no acceptable header: logged at Debug, counted.</summary>
    private void RejectProxyHeader(string reason)
    {
        TrySetCloseReason(SessionCloseReason.ProxyHeaderRejected);
        SessionLog.ProxyHeaderRejected(_services.SessionLogger, _id, _clientEndPoint, reason);
        _services.Accounting.Refused(RefusalKind.Protocol, ClientAddressOrNull, null, "PROXY protocol header refused: " + reason);
    }

    private static string ProxyHeaderProblem(ProxyParseError error) => error switch
    {
        ProxyParseError.NotProxyProtocol => "the connection does not start with a PROXY protocol header (is the balancer set to send one?)",
        ProxyParseError.HeaderTooLong => "the header is longer than this server takes",
        _ => $"the header is malformed ({error})",
    };

    /// <summary>Parses as far as the bytes in hand allow, and says what to do next. Synchronous, so it can use spans.</summary>
    private HandshakeStep Advance(byte[] buffer, out int replyLength)
    {
        replyLength = 0;
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer, _inputStart, _inputEnd - _inputStart));
        Span<byte> output = buffer.AsSpan(OutputOffset);
        Socks5ParseError error;
        switch (_phase)
        {
            case HandshakePhase.ProxyHeader:
                return AdvanceProxyHeader(buffer, ref reader, out replyLength);
            case HandshakePhase.Greeting when _protocol == ListenerProtocols.None:
                return ChooseProtocol(buffer, ref reader, out replyLength);
            case HandshakePhase.Greeting:
                if (!Socks5Greeting.TryParse(ref reader, out Socks5Greeting greeting, out error))
                {
                    return error == Socks5ParseError.None ? HandshakeStep.NeedMore : Malformed(error, output, out replyLength);
                }

                _inputStart += (int)reader.Consumed;
                Socks5AuthMethod method = ChooseMethod(greeting);
                replyLength = new Socks5MethodSelection(method).Write(output);
                switch (method)
                {
                    case Socks5AuthMethod.UsernamePassword:
                        _phase = HandshakePhase.Authentication;
                        return HandshakeStep.Reply;
                    case Socks5AuthMethod.NoAuthentication:
                        _phase = HandshakePhase.Request;
                        return HandshakeStep.Reply;
                    case Socks5AuthMethod.Gssapi:
                        _phase = HandshakePhase.GssapiContext;
                        return HandshakeStep.Reply;
                    default:
                        TrySetCloseReason(SessionCloseReason.NoAcceptableMethod);
                        SessionLog.NoAcceptableMethod(_services.SessionLogger, _id, _clientEndPoint);
                        string required = RequiredMethods;
                        _services.Accounting.Refused(RefusalKind.Method, ClientAddress, null, _settings.RequiresAuthentication
                            ? $"offered no acceptable method: {required} is required"
                            : $"offered no acceptable method: {required} was not offered");
                        if (_services.Notices.ShouldNotice(ClientAddress))
                        {
                            SessionLog.MethodRefused(_services.SessionLogger, ClientAddress, required);
                        }

                        return HandshakeStep.ReplyAndClose;
                }

            case HandshakePhase.Authentication:
                if (!UsernamePasswordRequest.TryParse(ref reader, buffer.AsSpan(ScratchOffset, UsernamePasswordRequest.ScratchLength), out UsernamePasswordRequest credentials, out error))
                {
                    CryptographicOperations.ZeroMemory(buffer.AsSpan(ScratchOffset, UsernamePasswordRequest.ScratchLength));
                    return error == Socks5ParseError.None ? HandshakeStep.NeedMore : Malformed(error, output, out replyLength);
                }

                // The check may have to wait (login throttling), so it runs in AuthenticateAsync; the credentials stay
                // in the scratch area, their lengths here.
                _inputStart += (int)reader.Consumed;
                _credentialLengths = (credentials.Username.Length, credentials.Password.Length);
                return HandshakeStep.Authenticate;

            case HandshakePhase.GssapiContext:
                // Its messages may be larger than the input area: GssapiAsync reads them into a buffer of its own.
                return HandshakeStep.Gssapi;

            case HandshakePhase.Request when _protocol == ListenerProtocols.Socks4:
                return AdvanceSocks4Request(ref reader, output, out replyLength);
            case HandshakePhase.Request when _protocol == ListenerProtocols.Http:
                return AdvanceHttpHead(buffer, ref reader, output, out replyLength);
            case HandshakePhase.Request:
                if (!Socks5Request.TryParse(ref reader, out Socks5Request request, out error))
                {
                    return error == Socks5ParseError.None ? HandshakeStep.NeedMore : Malformed(error, output, out replyLength);
                }

                _inputStart += (int)reader.Consumed;
                _request = request;
                Volatile.Write(ref _commandCode, (int)request.Command);
                return HandshakeStep.RequestReady;

            default:
                throw new InvalidOperationException($"No handshake in phase {_phase}.");
        }
    }

    /// <summary>
    /// Checks the credentials parsed into the scratch area, in the turn login throttling gives this client's address and
    /// after the wait it imposes. A banned address fails without its password being checked. The scratch area is zeroed
    /// however this ends.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(HandshakeStep Step, int ReplyLength)> AuthenticateAsync(byte[] buffer)
    {
        try
        {
            IPAddress client = ClientAddress;

            // Decoded once: the throttle's key for the name, the session's user after a success. A name that is not
            // UTF-8 (no account has one) is keyed by its hex.
            ReadOnlySpan<byte> username = buffer.AsSpan(ScratchOffset, _credentialLengths.User);
            string? name = System.Text.Unicode.Utf8.IsValid(username) ? Encoding.UTF8.GetString(username) : null;
            string user = name ?? Convert.ToHexString(username);
            using LoginThrottle.LoginAttempt attempt = await _services.Throttle.BeginAsync(client, user, _lifetime.Token).ConfigureAwait(false);

            // A hashed password may wait for a hashing slot; the session's lifetime bounds that wait. On an event loop the
            // hash itself (milliseconds of PBKDF2) goes to the thread pool, so that the loop's other sessions never wait for it.
            bool verified = !attempt.Banned && await _settings.Users.VerifyAsync(
                buffer.AsMemory(ScratchOffset, _credentialLengths.User),
                buffer.AsMemory(ScratchOffset + _credentialLengths.User, _credentialLengths.Password),
                _lifetime.Token, offloadHashing: _services.Engine.IsEngineThread).ConfigureAwait(false);
            return (Conclude(buffer, client, name, user, attempt, verified, out int replyLength), replyLength);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer.AsSpan(ScratchOffset, UsernamePasswordRequest.ScratchLength));
        }
    }

    /// <summary>
    /// Acts on the outcome of the check: logs, throttles or clears the address, and writes the RFC 1929 reply.
    /// <paramref name="name"/> is the user name as sent when it is UTF-8; <paramref name="user"/> is that or its hex.
    /// </summary>
    private HandshakeStep Conclude(byte[] buffer, IPAddress client, string? name, string user, LoginThrottle.LoginAttempt attempt, bool verified, out int replyLength)
    {
        Span<byte> output = buffer.AsSpan(OutputOffset);
        if (!verified)
        {
            TrySetCloseReason(SessionCloseReason.AuthFailed);

            // A failed user name is logged to help operators spot guessing, never raw: escaped (LogText), or as hex.
            user = name is null ? user : LogText.Escape(name);
            _services.Metrics.LoginConcluded(attempt.Banned ? "banned" : "failed");
            _services.Accounting.Refused(attempt.Banned ? RefusalKind.Ban : RefusalKind.Authentication, client, user,
                attempt.Banned ? "login refused unchecked: the address is banned after failed logins" : "wrong user name or password");
            if (attempt.Banned)
            {
                SessionLog.LoginWhileBanned(_services.SessionLogger, _id, _clientEndPoint, user);
            }
            else
            {
                SessionLog.AuthenticationFailed(_services.SessionLogger, _id, _clientEndPoint, user);
                if (_services.Notices.ShouldNotice(client))
                {
                    SessionLog.LoginFailed(_services.SessionLogger, client, user);
                }

                if (attempt.Conclude(verified: false))
                {
                    // The throttle's settings, not the session's: a ban is the throttle's, under the settings in force now.
                    Configuration.AuthenticationOptions throttling = _services.Throttle.Options;
                    SessionLog.ClientBanned(_services.SessionLogger, client, throttling.MaxFailures, throttling.BanDuration);
                }
            }

            replyLength = _protocol == ListenerProtocols.Http
                ? HttpProxyMessages.WriteStatus(output, 407, _settings.Http.Realm)
                : UsernamePasswordReply.Failure.Write(output);
            return HandshakeStep.ReplyAndClose;
        }

        attempt.Conclude(verified: true);
        _services.Metrics.LoginConcluded("succeeded");
        _user = name!;
        _userName = _user;
        _phase = HandshakePhase.Request;
        if (_protocol == ListenerProtocols.Http)
        {
            replyLength = 0;
            return HandshakeStep.RequestReady;
        }

        replyLength = UsernamePasswordReply.Success.Write(output);
        return HandshakeStep.Reply;
    }

    /// <summary>
    /// GSSAPI when it is on and offered; else USERNAME/PASSWORD when users are configured; NO AUTH only when neither is;
    /// X'FF' when the client offers none of what is required. The server decides what it requires; a client offering
    /// more than that gains nothing.
    /// </summary>
    private Socks5AuthMethod ChooseMethod(in Socks5Greeting greeting)
    {
        if (_settings.Gssapi is not null && greeting.Offers(Socks5AuthMethod.Gssapi))
        {
            return Socks5AuthMethod.Gssapi;
        }

        if (!_settings.RequiresAuthentication)
        {
            return greeting.Offers(Socks5AuthMethod.NoAuthentication) ? Socks5AuthMethod.NoAuthentication : Socks5AuthMethod.NoAcceptableMethods;
        }

        return _settings.Users.RequiresAuthentication && greeting.Offers(Socks5AuthMethod.UsernamePassword)
            ? Socks5AuthMethod.UsernamePassword
            : Socks5AuthMethod.NoAcceptableMethods;
    }

    /// <summary>The methods this server accepts, for the operator's lines about a client that offered none of them.</summary>
    private string RequiredMethods => (_settings.Gssapi is not null, _settings.Users.RequiresAuthentication) switch
    {
        (true, true) => "GSSAPI (X'01') or USERNAME/PASSWORD (X'02')",
        (true, false) => "GSSAPI (X'01')",
        (false, true) => "USERNAME/PASSWORD (X'02')",
        _ => "NO AUTHENTICATION REQUIRED (X'00')",
    };

    /// <summary>
    /// What a greeting that is not SOCKS5 looks like, for the operator's line: the clients that most often reach a SOCKS5
    /// port by mistake are SOCKS4 clients and HTTP clients (and HTTPS, through TLS). Only the first byte is shown, in hex.
    /// </summary>
    private string ProtocolHint(Socks5ParseError error)
    {
        if (_phase != HandshakePhase.Greeting || error != Socks5ParseError.UnsupportedVersion || _buffer is not { } buffer)
        {
            return "";
        }

        byte first = buffer[_inputStart];
        return first switch
        {
            4 => "; its first byte, X'04', is SOCKS4's version: the client speaks SOCKS4, not SOCKS5",
            0x16 => "; its first byte, X'16', starts a TLS handshake: the client speaks HTTPS or TLS, not SOCKS5",
            (>= (byte)'A' and <= (byte)'Z') => $"; its first byte, X'{first:X2}', is the letter '{(char)first}': the client speaks HTTP, most likely, and takes this for an HTTP proxy",
            _ => $"; its first byte is X'{first:X2}', where SOCKS5's is X'05'",
        };
    }

    /// <summary>
    /// The RFC's answer to malformed bytes, where it has one: X'FF' for a greeting with no methods, STATUS X'01' for a bad
    /// RFC 1929 request, the parse error's reply code for a bad request. A wrong SOCKS version gets no reply: the client
    /// does not speak SOCKS5 and could not read one.
    /// </summary>
    private HandshakeStep Malformed(Socks5ParseError error, Span<byte> output, out int replyLength)
    {
        TrySetCloseReason(SessionCloseReason.Malformed);
        SessionLog.HandshakeMalformed(_services.SessionLogger, _id, _clientEndPoint, _phase, error);
        _services.Accounting.Refused(RefusalKind.Protocol, ClientAddress, _userName, $"{error} in {_phase}{ProtocolHint(error)}");
        if (_services.Notices.ShouldNotice(ClientAddress))
        {
            SessionLog.HandshakeRefused(_services.SessionLogger, ClientAddress, _phase, error, ProtocolHint(error));
        }

        replyLength = 0;
        switch (_phase)
        {
            case HandshakePhase.Greeting when error == Socks5ParseError.NoMethodsOffered:
                replyLength = new Socks5MethodSelection(Socks5AuthMethod.NoAcceptableMethods).Write(output);
                break;
            case HandshakePhase.Authentication:
                replyLength = UsernamePasswordReply.Failure.Write(output);
                break;
            case HandshakePhase.Request:
                _replyCode = error.ToReplyCode();
                replyLength = Socks5Reply.Failure(_replyCode).Write(output);
                break;
        }

        // With no reply too: closing at once on input not yet read (garbage longer than one read) would reset the
        // connection, where a clean close is what a client gets for anything else it did wrong.
        return HandshakeStep.ReplyAndClose;
    }
}
