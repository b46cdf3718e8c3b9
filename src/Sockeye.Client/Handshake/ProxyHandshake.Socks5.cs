using System.Net;
using System.Text;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Client.Handshake;

/// <summary>SOCKS5: greeting, method selection, RFC 1929 login, request and reply.</summary>
internal sealed partial class ProxyHandshake
{
    private static readonly Socks5Greeting NoAuthenticationOnly = Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication]);
    private static readonly Socks5Greeting NoAuthenticationOrPassword =
        Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]);
    private static readonly Socks5Greeting GssapiOnly = Socks5Greeting.Create([Socks5AuthMethod.Gssapi]);
    private static readonly Socks5Greeting GssapiOrPassword = Socks5Greeting.Create([Socks5AuthMethod.Gssapi, Socks5AuthMethod.UsernamePassword]);

    /// <summary>
    /// Greeting, method selection and, when the proxy chooses it, username/password or GSSAPI (RFC 1928 §3, RFC 1929,
    /// RFC 1961). With GSSAPI configured, "no authentication" is not offered, and username/password only when the
    /// minimum protection level is none (see <see cref="Socks5Proxy.Gssapi"/>).
    /// </summary>
    public async Task NegotiateAsync(CancellationToken cancellationToken)
    {
        NetworkCredential? credential = Hop.Proxy.Credential;
        GssapiClientOptions? gssapi = Hop.Proxy.Gssapi;
        bool offerPassword = credential is not null
            && (gssapi is null || gssapi.EffectiveMinimumProtectionLevel == GssapiProtectionLevel.None);
        ResetHopProtection();
        Step = HandshakeStep.MethodSelection;
        Socks5Greeting greeting = gssapi is null
            ? (offerPassword ? NoAuthenticationOrPassword : NoAuthenticationOnly)
            : (offerPassword ? GssapiOrPassword : GssapiOnly);
        await SendAsync(greeting.Write(Buffer), cancellationToken).ConfigureAwait(false);
        Socks5MethodSelection selection =
            await ReceiveAsync<MessageParsers.MethodSelection, Socks5MethodSelection, Socks5ParseError>(cancellationToken).ConfigureAwait(false);
        switch (selection.Method)
        {
            case Socks5AuthMethod.NoAuthentication when gssapi is null:
                return;
            case Socks5AuthMethod.Gssapi when gssapi is not null:
                await AuthenticateGssapiAsync(gssapi, cancellationToken).ConfigureAwait(false);
                return;
            case Socks5AuthMethod.UsernamePassword when offerPassword:
                await AuthenticateAsync(credential!, cancellationToken).ConfigureAwait(false);
                return;
            case Socks5AuthMethod.NoAcceptableMethods:
                throw SocksErrors.NoAcceptableMethod(Hop, offerPassword);
            default:
                throw SocksErrors.UnexpectedMethod(Hop, selection.Method);
        }
    }

    /// <summary>Sends a SOCKS5 request and reads its reply (for BIND, the first one); a failure reply throws.</summary>
    public async Task<Socks5Reply> RequestAsync(Socks5Command command, Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        Step = HandshakeStep.Request;
        await SendAsync(new Socks5Request(command, destination, port).Write(Buffer), cancellationToken).ConfigureAwait(false);
        return await ReceiveReplyAsync(command, destination, port, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>BIND's second reply, sent when the peer connects (RFC 1928 §6); a failure reply throws.</summary>
    public Task<Socks5Reply> ReceiveSecondReplyAsync(Socks5Address expectedPeer, ushort port, CancellationToken cancellationToken)
    {
        Step = HandshakeStep.AwaitingPeer;
        return ReceiveReplyAsync(Socks5Command.Bind, expectedPeer, port, cancellationToken);
    }

    private async Task<Socks5Reply> Socks5ConnectAsync(Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        await NegotiateAsync(cancellationToken).ConfigureAwait(false);
        return await RequestAsync(Socks5Command.Connect, destination, port, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Socks5Reply> ReceiveReplyAsync(Socks5Command command, Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        Socks5Reply reply = await ReceiveAsync<MessageParsers.Reply, Socks5Reply, Socks5ParseError>(cancellationToken).ConfigureAwait(false);
        if (reply.ReplyCode != Socks5ReplyCode.Succeeded)
        {
            throw SocksErrors.CommandFailed(Hop, command, destination.ToString(port), reply.ReplyCode);
        }

        return reply;
    }

    private async Task AuthenticateAsync(NetworkCredential credential, CancellationToken cancellationToken)
    {
        Step = HandshakeStep.Authentication;
        try
        {
            await SendAsync(WriteCredentials(Buffer, credential), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The password is in the buffer: wipe it as soon as it is on its way, not only when the buffer goes back.
            Array.Clear(Buffer, 0, UsernamePasswordRequest.MaxLength + UsernamePasswordRequest.ScratchLength);
        }

        UsernamePasswordReply status =
            await ReceiveAsync<MessageParsers.UsernamePasswordStatus, UsernamePasswordReply, Socks5ParseError>(cancellationToken).ConfigureAwait(false);
        if (!status.IsSuccess)
        {
            throw SocksErrors.AuthenticationFailed(Hop, status.Status);
        }
    }

    private static int WriteCredentials(byte[] buffer, NetworkCredential credential)
    {
        Span<byte> scratch = buffer.AsSpan(UsernamePasswordRequest.MaxLength, UsernamePasswordRequest.ScratchLength);
        int usernameLength = Encoding.UTF8.GetBytes(credential.UserName, scratch);
        int passwordLength = Encoding.UTF8.GetBytes(credential.Password, scratch[usernameLength..]);
        var request = new UsernamePasswordRequest(scratch[..usernameLength], scratch.Slice(usernameLength, passwordLength));
        return request.Write(buffer.AsSpan(0, UsernamePasswordRequest.MaxLength));
    }
}
