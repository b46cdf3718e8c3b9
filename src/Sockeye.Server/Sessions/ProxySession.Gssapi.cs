using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Runtime.CompilerServices;
using Sockeye.Protocol.Gssapi;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Status;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Sessions;

/// <summary>
/// GSSAPI authentication (RFC 1961) with Kerberos: the security context (§3), then the protection level (§4). At level
/// none nothing after it is encapsulated; at integrity or confidentiality the client's connection becomes a
/// <see cref="GssapiTunnelSocket"/>, which wraps and unwraps everything after it (§5).
/// </summary>
internal sealed partial class ProxySession
{
    // A Kerberos AP-REQ is usually under 2 KiB, but an Active Directory ticket carries the user's groups (the PAC) and
    // reaches 12 KiB and more for users in many groups (Windows' own MaxTokenSize default is 12 000 bytes; 48 000 since
    // Windows 8). 12 KiB bounds the memory one handshake can make the server hold while it waits for the rest.
    private const int MaxGssapiTokenLength = 12 * 1024;

    // Kerberos needs one round (AP-REQ, and AP-REP with mutual authentication); a client that has not finished after
    // four is not going to.
    private const int MaxGssapiContextRounds = 4;

    /// <summary>The RFC 1961 messages read so far, in a buffer of their own: a context token may exceed the input area.</summary>
    private sealed class GssapiInput(byte[] buffer)
    {
        public byte[] Buffer { get; } = buffer;

        public int Start { get; set; }

        public int End { get; set; }
    }

    /// <summary>What reading one RFC 1961 message came to.</summary>
    private readonly record struct GssapiRead(GssapiMessageType Type, int Offset, int Length, string? Problem, bool ClientClosed);

    /// <summary>
    /// Runs the GSSAPI exchange after X'01' was chosen: on success the session's user is the client's principal, any
    /// bytes the client sent after it are back in the handshake buffer and the phase is <see cref="HandshakePhase.Request"/>.
    /// On failure the client is sent the abort (unless it aborted itself) and the connection is closed; returns false.
    /// </summary>
    /// <remarks>
    /// At level none the acceptor is disposed before this returns: nothing after the handshake needs it, and an idle
    /// tunnel holds no GSSAPI context. At integrity or confidentiality it lives on in the session's
    /// <see cref="GssapiTunnelSocket"/>. The handshake timeout bounds the whole exchange.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> GssapiAsync(byte[] handshakeBuffer)
    {
        CancellationToken cancellationToken = _lifetime.Token;
        var input = new GssapiInput(ArrayPool<byte>.Shared.Rent(GssapiMessage.HeaderLength + MaxGssapiTokenLength));
        string? problem = null;
        bool clientAborted = false;
        string? principal = null;
        byte askedLevel = 0;
        GssapiProtectionLevel granted = GssapiProtectionLevel.None;
        try
        {
            // What the client sent after its greeting is already in the handshake buffer.
            int pending = _inputEnd - _inputStart;
            handshakeBuffer.AsSpan(_inputStart, pending).CopyTo(input.Buffer);
            input.End = pending;
            _inputStart = _inputEnd = 0;

            // Made for the first context token: a client that fails before it costs no GSSAPI state.
            NegotiateAuthentication? acceptor = null;
            try
            {
                for (int round = 1; problem is null; round++)
                {
                    GssapiRead message = await ReadGssapiMessageAsync(input, cancellationToken).ConfigureAwait(false);
                    if (message.ClientClosed)
                    {
                        return false;
                    }

                    if (Unexpected(message, GssapiMessageType.Context, out problem, out clientAborted))
                    {
                        break;
                    }

                    acceptor ??= new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
                    {
                        Package = "Kerberos",
                        Credential = CredentialCache.DefaultNetworkCredentials,
                        RequiredProtectionLevel = ProtectionLevel.None,
                    });
                    byte[]? reply = acceptor.GetOutgoingBlob(input.Buffer.AsSpan(message.Offset, message.Length), out NegotiateAuthenticationStatusCode status);
                    if (status is not (NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded))
                    {
                        problem = $"the context token was refused ({status})";
                        break;
                    }

                    // With mutual authentication (curl, Dante ask for it) the acceptor answers with an AP-REP, even when done.
                    if (reply is { Length: > 0 })
                    {
                        await SendGssapiAsync(GssapiMessageType.Context, reply, cancellationToken).ConfigureAwait(false);
                    }

                    if (status == NegotiateAuthenticationStatusCode.Completed)
                    {
                        break;
                    }

                    if (round == MaxGssapiContextRounds)
                    {
                        problem = $"no security context after {MaxGssapiContextRounds} rounds";
                    }
                }

                if (problem is null)
                {
                    GssapiRead message = await ReadGssapiMessageAsync(input, cancellationToken).ConfigureAwait(false);
                    if (message.ClientClosed)
                    {
                        return false;
                    }

                    if (!Unexpected(message, GssapiMessageType.ProtectionNegotiation, out problem, out clientAborted))
                    {
                        (byte[]? answer, problem, askedLevel, granted) =
                            AnswerProtectionLevel(acceptor!, input.Buffer.AsSpan(message.Offset, message.Length), _settings.Gssapi!.MinimumProtection);
                        principal = answer is null ? null : acceptor!.RemoteIdentity.Name;
                        if (answer is not null && string.IsNullOrEmpty(principal))
                        {
                            problem = "the security context names no client principal";
                        }
                        else if (answer is not null)
                        {
                            await SendGssapiAsync(GssapiMessageType.ProtectionNegotiation, answer, cancellationToken).ConfigureAwait(false);
                        }
                    }
                }

                int rest = input.End - input.Start;
                if (problem is null && granted != GssapiProtectionLevel.None)
                {
                    // From here on everything is wrapped: the bytes already read are the start of the first message.
                    _client = new GssapiTunnelSocket(_client, new GssapiMessageProtection(acceptor!, granted), input.Buffer.AsSpan(input.Start, rest));
                    acceptor = null;
                }
                else if (problem is null && rest > InputLength)
                {
                    // A client waits for the answer before it sends its request, so this much is no SOCKS client.
                    problem = "more bytes sent after the protection level than a request takes";
                }
                else if (problem is null)
                {
                    input.Buffer.AsSpan(input.Start, rest).CopyTo(handshakeBuffer);
                    _inputEnd = rest;
                }
            }
            finally
            {
                acceptor?.Dispose();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input.Buffer);
        }

        if (problem is not null)
        {
            RefuseGssapi(problem);
            int length = clientAborted ? 0 : GssapiMessage.WriteAbort(handshakeBuffer.AsSpan(OutputOffset));
            await SendThenLingerAsync(handshakeBuffer, length).ConfigureAwait(false);
            return false;
        }

        string user = principal!;
        if (_settings.Gssapi!.StripRealm && user.LastIndexOf('@') is int at and > 0)
        {
            user = user[..at];
        }

        _services.Metrics.LoginConcluded("succeeded");
        SessionLog.GssapiAuthenticated(_services.SessionLogger, _id, _clientEndPoint, LogText.Escape(principal!), LevelName(askedLevel), LevelName((byte)granted));
        _user = user;
        _userName = user;
        _phase = HandshakePhase.Request;
        return true;
    }

    /// <summary>
    /// The client's protection level (RFC 1961 §4.3): a one-byte level wrapped with gss_wrap, or, from a client of NEC's
    /// variant (curl's <c>--socks5-gssapi-nec</c>), the byte alone, which is answered alike. The level granted is the one
    /// asked for, raised to <paramref name="minimum"/>; selective protection (X'03') is granted as confidentiality, which
    /// it allows and which leaves no message's protection to a local choice. The RFC lets the server choose, and the
    /// client close if it cannot accept the choice.
    /// </summary>
    private static (byte[]? Answer, string? Problem, byte AskedLevel, GssapiProtectionLevel Granted) AnswerProtectionLevel(
        NegotiateAuthentication acceptor, ReadOnlySpan<byte> token, GssapiProtectionLevel minimum)
    {
        var unwrapped = new ArrayBufferWriter<byte>(16);
        NegotiateAuthenticationStatusCode status = acceptor.Unwrap(token, unwrapped, out _);
        bool wrapped = status == NegotiateAuthenticationStatusCode.Completed && unwrapped.WrittenCount == 1;
        if (!wrapped && token.Length != 1)
        {
            return (null, status == NegotiateAuthenticationStatusCode.Completed
                ? $"the protection level token unwrapped to {unwrapped.WrittenCount} bytes, not 1"
                : $"the protection level token could not be unwrapped ({status})", 0, default);
        }

        byte asked = wrapped ? unwrapped.WrittenSpan[0] : token[0];
        if (asked > (byte)GssapiProtectionLevel.Selective)
        {
            return (null, $"the client asked for protection level X'{asked:X2}', which RFC 1961 does not define", asked, default);
        }

        var granted = (GssapiProtectionLevel)Math.Max(asked == (byte)GssapiProtectionLevel.Selective ? (byte)GssapiProtectionLevel.Confidentiality : asked, (byte)minimum);
        if (!wrapped)
        {
            return ([(byte)granted], null, asked, granted);
        }

        var answer = new ArrayBufferWriter<byte>(64);
        NegotiateAuthenticationStatusCode wrapStatus = acceptor.Wrap([(byte)granted], answer, requestEncryption: false, out _);
        return wrapStatus == NegotiateAuthenticationStatusCode.Completed
            ? (answer.WrittenSpan.ToArray(), null, asked, granted)
            : (null, $"the protection level could not be wrapped ({wrapStatus})", asked, granted);
    }

    /// <summary>A protection level as the log and the docs name it.</summary>
    private static string LevelName(byte level) => (GssapiProtectionLevel)level switch
    {
        GssapiProtectionLevel.None => "none",
        GssapiProtectionLevel.Integrity => "integrity",
        GssapiProtectionLevel.Confidentiality => "confidentiality",
        GssapiProtectionLevel.Selective => "selective",
        _ => $"X'{level:X2}'",
    };

    /// <summary>
    /// At the session's end, with integrity or confidentiality: logs why protection ended the connection, if it did, and
    /// disposes the security context.
    /// </summary>
    private void EndGssapiProtection()
    {
        if (_client is not GssapiTunnelSocket protectedClient)
        {
            return;
        }

        if (protectedClient.Problem is { } problem)
        {
            SessionLog.GssapiProtectionFailed(_services.SessionLogger, _id, _clientEndPoint, problem);
        }

        protectedClient.Protection.Dispose();
    }

    /// <summary>Whether <paramref name="message"/> is not what the exchange expects now, and why.</summary>
    private static bool Unexpected(in GssapiRead message, GssapiMessageType expected, out string? problem, out bool clientAborted)
    {
        clientAborted = message.Problem is null && message.Type == GssapiMessageType.Abort;
        problem = message.Problem
            ?? (clientAborted ? "the client aborted (X'01 FF')"
            : message.Type != expected ? $"MTYP X'{(byte)message.Type:X2}' where X'{(byte)expected:X2}' was expected"
            : null);
        return problem is not null;
    }

    /// <summary>Reads until a whole RFC 1961 message is in <paramref name="input"/>, one that is malformed, or the client's FIN.</summary>
    private async ValueTask<GssapiRead> ReadGssapiMessageAsync(GssapiInput input, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryParseGssapi(input, out GssapiRead message))
            {
                return message;
            }

            if (input.Start > 0)
            {
                // Every message the parser accepts fits the buffer, so room after moving the unparsed tail is certain.
                input.Buffer.AsSpan(input.Start, input.End - input.Start).CopyTo(input.Buffer);
                input.End -= input.Start;
                input.Start = 0;
            }

            int read = await _client.ReceiveAsync(input.Buffer.AsMemory(input.End, GssapiMessage.HeaderLength + MaxGssapiTokenLength - input.End), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                TrySetCloseReason(SessionCloseReason.ClientEof);
                SessionLog.HandshakeAbandoned(_services.SessionLogger, _id, _clientEndPoint, _phase);
                return new GssapiRead(default, 0, 0, null, ClientClosed: true);
            }

            input.End += read;
        }
    }

    /// <summary>Parses the next message of <paramref name="input"/> if it is all there; a malformed one comes with its problem.</summary>
    private static bool TryParseGssapi(GssapiInput input, out GssapiRead message)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input.Buffer, input.Start, input.End - input.Start));
        if (!GssapiMessage.TryParse(ref reader, MaxGssapiTokenLength, out GssapiMessage parsed, out GssapiParseError error))
        {
            message = error == GssapiParseError.None ? default : new GssapiRead(default, 0, 0, $"a malformed message ({error})", false);
            return error != GssapiParseError.None;
        }

        // One array underneath: the token's place in it is its offset from where parsing started.
        int tokenOffset = input.Start + (int)(reader.Consumed - parsed.Token.Length);
        input.Start += (int)reader.Consumed;
        message = new GssapiRead(parsed.Type, tokenOffset, (int)parsed.Token.Length, null, false);
        return true;
    }

    private async ValueTask SendGssapiAsync(GssapiMessageType type, byte[] token, CancellationToken cancellationToken)
    {
        byte[] message = ArrayPool<byte>.Shared.Rent(GssapiMessage.HeaderLength + token.Length);
        try
        {
            int length = GssapiMessage.Write(type, token, message);
            await _client.SendAsync(message.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(message);
        }
    }

    /// <summary>A failed GSSAPI login: logged (Information once per address and minute, like RFC 1929's), counted.</summary>
    private void RefuseGssapi(string problem)
    {
        TrySetCloseReason(SessionCloseReason.AuthFailed);
        IPAddress client = ClientAddress;
        _services.Metrics.LoginConcluded("failed");
        _services.Accounting.Refused(RefusalKind.Authentication, client, null, "GSSAPI: " + problem);
        SessionLog.GssapiFailed(_services.SessionLogger, _id, _clientEndPoint, problem);
        if (_services.Notices.ShouldNotice(client))
        {
            SessionLog.GssapiLoginFailed(_services.SessionLogger, client, problem);
        }
    }
}
