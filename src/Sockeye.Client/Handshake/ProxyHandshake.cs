using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Handshake;

/// <summary>
/// The client's side of every hop of a chain, over one stream: SOCKS5 (RFC 1928, RFC 1929), SOCKS4a and HTTP CONNECT.
/// It knows which proxy it is talking to and which answer it waits for, so every failure can say so. One per
/// handshake; rents one buffer and returns it on dispose.
/// </summary>
/// <remarks>
/// The stream may be a <see cref="NetworkStream"/> over the client's own socket or a connection a server opened with its
/// own transport, so nothing here peeks: every read asks for no more bytes than the awaited message surely has, and the
/// handshake never reads a byte past the last answer. Whatever follows it (the destination's first bytes, BIND's
/// second reply) stays in the stream for whoever reads next.
/// </remarks>
internal sealed partial class ProxyHandshake : IDisposable
{
    // The longest message read is an HTTP response head (MaxHttpHeadLength, 8 KiB). Every other message fits well within
    // it: the RFC 1929 request and its two fields' scratch (513 + 255 + 255), a SOCKS4a request (8 + 256 + 256), a
    // CONNECT request (under 1300 bytes: two authorities of at most 261 and a Basic credential of 684), a SOCKS5 reply (262).
    private const int BufferLength = MaxHttpHeadLength;

    private Stream? _stream;
    private byte[]? _buffer; // owns: returned, cleared (it held credentials), in Dispose

    /// <summary>A handshake with <paramref name="hop"/>, which starts at <paramref name="step"/>.</summary>
    public ProxyHandshake(HopContext hop, HandshakeStep step)
    {
        Hop = hop;
        Step = step;
        _buffer = ArrayPool<byte>.Shared.Rent(BufferLength);
    }

    /// <summary>The proxy spoken to now.</summary>
    public HopContext Hop { get; set; }

    /// <summary>The answer waited for now.</summary>
    public HandshakeStep Step { get; private set; }

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(ProxyHandshake));

    private Stream Stream => _stream ?? throw new InvalidOperationException("The handshake has no stream yet.");

    /// <summary>The connection to the first proxy, once it is open. The handshake never disposes it: its owner does.</summary>
    public void Attach(Stream stream) => _stream = stream;

    /// <summary>
    /// Has every proxy of <paramref name="proxies"/> but the last CONNECT to the next, each in its own protocol, and
    /// leaves <see cref="Hop"/> at the last one, ready for the command. Every hop but the last only ever CONNECTs, so
    /// any kind of proxy can stand there.
    /// </summary>
    public async Task ReachLastHopAsync(IReadOnlyList<Socks5Proxy> proxies, CancellationToken cancellationToken)
    {
        int count = proxies.Count;
        for (int i = 0; i + 1 < count; i++)
        {
            Hop = new HopContext(proxies[i], i, count);
            Socks5Proxy next = proxies[i + 1];
            await ConnectAsync(next.Address, (ushort)next.Port, cancellationToken).ConfigureAwait(false);
        }

        Hop = new HopContext(proxies[count - 1], count - 1, count);
    }

    /// <summary>
    /// CONNECT through the current hop, in its protocol. The reply is SOCKS5's shape whatever the kind: a SOCKS4 reply's
    /// DSTIP and DSTPORT as BND.ADDR and BND.PORT; for HTTP, which reports nothing, 0.0.0.0 and port 0.
    /// </summary>
    public Task<Socks5Reply> ConnectAsync(Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        ResetHopProtection();
        return Hop.Proxy.Kind switch
        {
            ProxyKind.Socks4a => Socks4ConnectAsync(destination, port, cancellationToken),
            ProxyKind.Http => HttpConnectAsync(destination, port, cancellationToken),
            _ => Socks5ConnectAsync(destination, port, cancellationToken),
        };
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

        // NetworkStream wraps a reset in an IOException; the SocketException inside says what happened.
        IOException { InnerException: SocketException e } => SocksErrors.ConnectionClosed(Hop, Step, e),
        IOException e => SocksErrors.ConnectionClosed(Hop, Step, e),
        _ => null,
    };

    public void Dispose()
    {
        // A protected stream nobody took (the handshake failed after a hop granted protection) goes with the handshake.
        Interlocked.Exchange(ref _protected, null)?.Dispose();
        byte[]? buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>Sends the first <paramref name="length"/> bytes of the buffer, flushed: the stream may be a buffering one.</summary>
    private Task SendAsync(int length, CancellationToken cancellationToken) => SendAsync(Buffer, length, cancellationToken);

    /// <summary>Sends the first <paramref name="length"/> bytes of <paramref name="from"/>, flushed.</summary>
    private async Task SendAsync(byte[] from, int length, CancellationToken cancellationToken)
    {
        await Stream.WriteAsync(from.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        await Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads exactly one SOCKS message and not a byte more: each read asks for what <see cref="IMessageParser{TMessage, TError}.LengthSoFar"/>
    /// says the message surely still has, and the codec judges the bytes after every read, so garbage is refused at once.
    /// </summary>
    private Task<TMessage> ReceiveAsync<TParser, TMessage, TError>(CancellationToken cancellationToken)
        where TParser : IMessageParser<TMessage, TError>
        where TError : struct, Enum =>
        ReceiveAsync<TParser, TMessage, TError>(Buffer, cancellationToken);

    /// <summary>As above, into <paramref name="into"/>, which must hold <see cref="IMessageParser{TMessage, TError}.MaxLength"/> bytes.</summary>
    private async Task<TMessage> ReceiveAsync<TParser, TMessage, TError>(byte[] into, CancellationToken cancellationToken)
        where TParser : IMessageParser<TMessage, TError>
        where TError : struct, Enum
    {
        Memory<byte> buffer = into.AsMemory(0, TParser.MaxLength);
        int count = 0;
        while (true)
        {
            if (count > 0)
            {
                if (TParser.TryParse(new ReadOnlySequence<byte>(buffer[..count]), out TMessage message, out int consumed, out TError error))
                {
                    Debug.Assert(consumed == count, "Reads stop at the message's length, so the message is all that was read.");
                    return message;
                }

                if (!EqualityComparer<TError>.Default.Equals(error, default))
                {
                    throw SocksErrors.Malformed(Hop, Step, error);
                }
            }

            // At least one more byte (the parser said it needs more), and never past MaxLength.
            int wanted = Math.Min(Math.Max(TParser.LengthSoFar(buffer.Span[..count]), count + 1), buffer.Length);
            if (wanted <= count)
            {
                throw new InvalidOperationException($"{typeof(TParser).Name}: MaxLength bytes did not complete the message; the codec and MaxLength disagree.");
            }

            count += await ReadSomeAsync(buffer[count..wanted], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One read of at most <paramref name="destination"/>'s length; the end of the stream is the hop closing.</summary>
    private async ValueTask<int> ReadSomeAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        int read = await Stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            throw SocksErrors.ConnectionClosed(Hop, Step);
        }

        return read;
    }
}
