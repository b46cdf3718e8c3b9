using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Client.Handshake;

/// <summary>
/// The client's side of RFC 1928 and RFC 1929 on one socket, hop after hop. It knows which proxy it is talking to and
/// which answer it waits for, so every failure can say so. One per handshake; rents one buffer and returns it on dispose.
/// </summary>
internal sealed class Socks5Handshake : IDisposable
{
    // The longest message sent is the RFC 1929 request (1 + 1 + 255 + 1 + 255 = 513); its two fields are encoded into the
    // scratch right after it (255 + 255). Every message read is shorter: a reply is at most 262 bytes.
    private const int BufferLength = UsernamePasswordRequest.MaxLength + UsernamePasswordRequest.ScratchLength;

    private static readonly Socks5Greeting NoAuthenticationOnly = Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication]);
    private static readonly Socks5Greeting NoAuthenticationOrPassword =
        Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]);

    private Socket? _socket;
    private byte[]? _buffer; // owns: returned, cleared (it held credentials), in Dispose

    /// <summary>A handshake with <paramref name="hop"/>, which starts at <paramref name="step"/>.</summary>
    public Socks5Handshake(HopContext hop, HandshakeStep step)
    {
        Hop = hop;
        Step = step;
        _buffer = ArrayPool<byte>.Shared.Rent(BufferLength);
    }

    /// <summary>The proxy spoken to now.</summary>
    public HopContext Hop { get; set; }

    /// <summary>The answer waited for now.</summary>
    public HandshakeStep Step { get; private set; }

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(Socks5Handshake));

    private Socket Socket => _socket ?? throw new InvalidOperationException("The handshake has no socket yet.");

    /// <summary>The connection to the first proxy, once it is open. The handshake never disposes it: its owner does.</summary>
    public void Attach(Socket socket) => _socket = socket;

    /// <summary>Greeting, method selection and, when the proxy chooses it, username/password (RFC 1928 §3, RFC 1929).</summary>
    public async Task NegotiateAsync(CancellationToken cancellationToken)
    {
        NetworkCredential? credential = Hop.Proxy.Credential;
        Step = HandshakeStep.MethodSelection;
        Socks5Greeting greeting = credential is null ? NoAuthenticationOnly : NoAuthenticationOrPassword;
        await SendAsync(greeting.Write(Buffer), cancellationToken).ConfigureAwait(false);
        Socks5MethodSelection selection =
            await ReceiveAsync<MessageParsers.MethodSelection, Socks5MethodSelection>(cancellationToken).ConfigureAwait(false);
        switch (selection.Method)
        {
            case Socks5AuthMethod.NoAuthentication:
                return;
            case Socks5AuthMethod.UsernamePassword when credential is not null:
                await AuthenticateAsync(credential, cancellationToken).ConfigureAwait(false);
                return;
            case Socks5AuthMethod.NoAcceptableMethods:
                throw SocksErrors.NoAcceptableMethod(Hop);
            default:
                throw SocksErrors.UnexpectedMethod(Hop, selection.Method);
        }
    }

    /// <summary>Sends a request and reads its reply (for BIND, the first one); a failure reply throws.</summary>
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

    /// <summary>
    /// The one classifier (StackExchange.Redis's IdentifyFailureType): turns what escaped a handshake into the
    /// <see cref="SocksException"/> it means, or <see langword="null"/> when it should propagate as it is (the caller's
    /// own cancellation, a programming error).
    /// </summary>
    /// <param name="exception">What was thrown.</param>
    /// <param name="timedOut">Whether the handshake's own timer fired (and not the caller's token).</param>
    /// <param name="timeout">The timeout, for the message.</param>
    public SocksException? Classify(Exception exception, bool timedOut, TimeSpan timeout) => exception switch
    {
        SocksException => null,
        OperationCanceledException when timedOut => SocksErrors.TimedOut(Hop, Step, timeout),
        SocketException e when Step == HandshakeStep.ConnectingToProxy => SocksErrors.ProxyUnreachable(Hop, e),
        SocketException e => SocksErrors.ConnectionClosed(Hop, Step, e),
        _ => null,
    };

    public void Dispose()
    {
        byte[]? buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    private async Task<Socks5Reply> ReceiveReplyAsync(Socks5Command command, Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        Socks5Reply reply = await ReceiveAsync<MessageParsers.Reply, Socks5Reply>(cancellationToken).ConfigureAwait(false);
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
            Array.Clear(Buffer, 0, BufferLength);
        }

        UsernamePasswordReply status =
            await ReceiveAsync<MessageParsers.UsernamePasswordStatus, UsernamePasswordReply>(cancellationToken).ConfigureAwait(false);
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

    private async Task SendAsync(int length, CancellationToken cancellationToken) =>
        await Socket.SendAsync(Buffer.AsMemory(0, length), SocketFlags.None, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Reads exactly one message and not a byte more. Each pass peeks at what has arrived and lets the codec decide:
    /// bytes of a message still incomplete all belong to it, so they are taken at once (and the next peek waits for new
    /// ones rather than spinning); once the message is complete, only its own bytes are taken. Whatever follows it (the
    /// destination's first bytes after a CONNECT reply, BIND's second reply) stays in the socket for whoever reads next.
    /// </summary>
    private async Task<TMessage> ReceiveAsync<TParser, TMessage>(CancellationToken cancellationToken)
        where TParser : IMessageParser<TMessage>
    {
        Memory<byte> buffer = Buffer.AsMemory(0, TParser.MaxLength);
        int count = 0;
        while (true)
        {
            int peeked = await Socket.ReceiveAsync(buffer[count..], SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
            if (peeked == 0)
            {
                throw SocksErrors.ConnectionClosed(Hop, Step);
            }

            int available = count + peeked;
            if (TParser.TryParse(new ReadOnlySequence<byte>(buffer[..available]), out TMessage message, out int consumed, out Socks5ParseError error))
            {
                Debug.Assert(consumed > count && consumed <= available);
                await TakeAsync(buffer[count..consumed], cancellationToken).ConfigureAwait(false);
                return message;
            }

            if (error != Socks5ParseError.None)
            {
                throw SocksErrors.Malformed(Hop, Step, error);
            }

            // MaxLength bytes always complete a message, so a full buffer here means the codec and MaxLength disagree.
            Debug.Assert(available < buffer.Length, "A message of MaxLength bytes is always complete.");
            await TakeAsync(buffer.Slice(count, peeked), cancellationToken).ConfigureAwait(false);
            count = available;
        }
    }

    /// <summary>Reads bytes already peeked at: they are in the socket's buffer, so this does not wait.</summary>
    private async Task TakeAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            int read = await Socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw SocksErrors.ConnectionClosed(Hop, Step);
            }

            destination = destination[read..];
        }
    }
}
