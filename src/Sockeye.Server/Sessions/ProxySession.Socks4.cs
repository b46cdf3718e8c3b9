using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks4;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Status;

namespace Sockeye.Server.Sessions;

/// <summary>
/// The first byte's choice of protocol, and SOCKS4 and SOCKS4a: one request, no negotiation, then CONNECT and BIND
/// exactly as SOCKS5's, answered in SOCKS4's replies.
/// </summary>
internal sealed partial class ProxySession
{
    /// <summary>
    /// Reads the client's first byte and takes the protocol it starts: X'05' SOCKS5, X'04' SOCKS4, an ASCII letter HTTP.
    /// Any other byte goes to the first protocol the listener speaks, whose parser refuses it with its own error. A
    /// protocol the listener does not speak is answered, where the client can read an answer, and closed.
    /// </summary>
    private HandshakeStep ChooseProtocol(byte[] buffer, ref SequenceReader<byte> reader, out int replyLength)
    {
        replyLength = 0;
        if (!reader.TryPeek(out byte first))
        {
            return HandshakeStep.NeedMore;
        }

        ListenerProtocols chosen = first switch
        {
            Socks5Limits.Version => ListenerProtocols.Socks5,
            Socks4Request.Version => ListenerProtocols.Socks4,
            _ when char.IsAsciiLetter((char)first) => ListenerProtocols.Http,
            _ when (_frontDoor.Protocols & ListenerProtocols.Socks5) != 0 => ListenerProtocols.Socks5,
            _ when (_frontDoor.Protocols & ListenerProtocols.Http) != 0 => ListenerProtocols.Http,
            _ => ListenerProtocols.Socks4,
        };

        if ((_frontDoor.Protocols & chosen) == 0)
        {
            return RefuseProtocol(chosen, buffer.AsSpan(OutputOffset), out replyLength);
        }

        _protocol = chosen;
        if (chosen == ListenerProtocols.Socks4)
        {
            // SOCKS4 has no greeting: its first message is the request.
            _phase = HandshakePhase.Request;
        }
        else if (chosen == ListenerProtocols.Http)
        {
            // So is HTTP's, and it may be far longer than any SOCKS message.
            UseHttpBuffer();
            buffer = _buffer!;
        }

        return Advance(buffer, out replyLength);
    }

    /// <summary>Answers a client whose protocol the listener does not speak, in that protocol where it has an answer.</summary>
    private HandshakeStep RefuseProtocol(ListenerProtocols protocol, Span<byte> output, out int replyLength)
    {
        string name = ProtocolName(protocol);
        TrySetCloseReason(SessionCloseReason.ProtocolDisabled);
        SessionLog.ProtocolDisabled(_services.SessionLogger, _id, _clientEndPoint, name);
        TurnAway(RefusalKind.Protocol, $"{name} is not spoken on this listener (listeners[].protocols)");

        replyLength = protocol switch
        {
            ListenerProtocols.Socks5 => new Socks5MethodSelection(Socks5AuthMethod.NoAcceptableMethods).Write(output),
            ListenerProtocols.Socks4 => Socks4Reply.Failure(Socks4ReplyCode.RejectedOrFailed).Write(output),
            _ => WriteHttpRefusal(output),
        };
        return HandshakeStep.ReplyAndClose;
    }

    /// <summary>
    /// Records a refusal for the status report and tells the operator at Information, once per client address per
    /// window (ClientNotices), why the client was turned away.
    /// </summary>
    private void TurnAway(RefusalKind kind, string reason)
    {
        _services.Accounting.Refused(kind, ClientAddress, _userName, reason);
        if (_services.Notices.ShouldNotice(ClientAddress))
        {
            SessionLog.ClientTurnedAway(_services.SessionLogger, ClientAddress, reason);
        }
    }

    private static string ProtocolName(ListenerProtocols protocol) => protocol switch
    {
        ListenerProtocols.Socks5 => "SOCKS5",
        ListenerProtocols.Socks4 => "SOCKS4",
        _ => "HTTP",
    };

    /// <summary>
    /// Parses a SOCKS4 or SOCKS4a request and decides who its client is: with users configured, the account its USERID
    /// names, when <c>socks4.allowWithUsers</c> lets SOCKS4 use that account; without users, nobody in particular.
    /// </summary>
    private HandshakeStep AdvanceSocks4Request(ref SequenceReader<byte> reader, Span<byte> output, out int replyLength)
    {
        replyLength = 0;
        if (!Socks4Request.TryParse(ref reader, out Socks4Request request, out Socks4ParseError error))
        {
            if (error == Socks4ParseError.None)
            {
                return HandshakeStep.NeedMore;
            }

            TrySetCloseReason(SessionCloseReason.Malformed);
            _replyCode = error == Socks4ParseError.UnknownCommand ? Socks5ReplyCode.CommandNotSupported : Socks5ReplyCode.GeneralFailure;
            SessionLog.RequestMalformed(_services.SessionLogger, _id, _clientEndPoint, "SOCKS4", error.ToString());
            TurnAway(RefusalKind.Protocol, $"a malformed SOCKS4 request ({error})");

            replyLength = Socks4Reply.Failure(Socks4ReplyCode.RejectedOrFailed).Write(output);
            return HandshakeStep.ReplyAndClose;
        }

        _inputStart += (int)reader.Consumed;
        if (_settings.RequiresAuthentication)
        {
            // SOCKS4 sends a name and no password: only accounts the operator opened to it may be used this way.
            // An address banned for failed logins is refused here too: SOCKS4 is no way around a ban.
            string? refusal = _services.Throttle.Check(ClientAddress).Banned
                ? "the address is banned after failed logins"
                : request.UserId.Length == 0 ? "SOCKS4 without a USERID, while users are configured"
                : !_settings.Socks4.Allows(request.UserId) ? $"SOCKS4 USERID '{LogText.Escape(request.UserId)}' is not in socks4.allowWithUsers (SOCKS4 carries no password)"
                : !_settings.Users.Contains(request.UserId) ? $"SOCKS4 USERID '{LogText.Escape(request.UserId)}' names no account"
                : null;
            if (refusal is not null)
            {
                TrySetCloseReason(SessionCloseReason.AuthFailed);
                _services.Metrics.LoginConcluded("failed");
                SessionLog.AuthenticationFailed(_services.SessionLogger, _id, _clientEndPoint, LogText.Escape(request.UserId) ?? "");
                TurnAway(RefusalKind.Authentication, refusal);

                replyLength = Socks4Reply.Failure(Socks4ReplyCode.RejectedOrFailed).Write(output);
                return HandshakeStep.ReplyAndClose;
            }

            _services.Metrics.LoginConcluded("succeeded");
            _user = request.UserId;
            _userName = _user;
        }

        // From here on the request is the SOCKS5 request it is equivalent to: rules, limits, commands and logs see no
        // difference; only the replies are SOCKS4's.
        _request = new Socks5Request(request.Command == Socks4Command.Connect ? Socks5Command.Connect : Socks5Command.Bind, request.Destination, request.Port);
        Volatile.Write(ref _commandCode, (int)_request.Value.Command);
        return HandshakeStep.RequestReady;
    }

    /// <summary>
    /// A SOCKS4 success reply. SOCKS4 has IPv4 addresses only: an IPv6 one is sent as 0.0.0.0, which tells a BIND client to
    /// use the server's own address.
    /// </summary>
    private static Socks4Reply Socks4Success(IPAddress address, int port) =>
        new(Socks4ReplyCode.Granted, address.AddressFamily == AddressFamily.InterNetwork ? address : IPAddress.Any, (ushort)port);

    // HTTP's answer when the listener does not speak it: a complete response, so that a browser or curl shows why.
    private static ReadOnlySpan<byte> HttpDisabledResponse =>
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 51\r\nConnection: close\r\n\r\nThis listener does not serve HTTP proxy requests.\r\n"u8;

    private static int WriteHttpRefusal(Span<byte> output)
    {
        HttpDisabledResponse.CopyTo(output);
        return HttpDisabledResponse.Length;
    }
}
