using System.Buffers;
using System.Diagnostics;
using System.Net;
using Sockeye.Protocol.Http;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Handshake;

/// <summary>HTTP CONNECT (RFC 9110 §9.3.6): one request head, one response head; 2xx opens the tunnel.</summary>
internal sealed partial class ProxyHandshake
{
    // A CONNECT answer is a status line and a few fields; a 407 with its challenge is well under 1 KiB from Squid, Sockeye
    // and Tinyproxy. 8 KiB is nginx's and Apache's default for a whole head, and bounds what a hop can make us hold.
    private const int MaxHttpHeadLength = 8 * 1024;

    // The shortest head there is: "HTTP/1.1 200" (the codec takes a status line with no reason and no space before it)
    // and two bare LFs. Every response head is at least this long, so the first read asks for this many bytes.
    private const int MinHttpHeadLength = 14;

    private const byte CR = (byte)'\r';
    private const byte LF = (byte)'\n';

    private static readonly HttpHeadLimits ResponseLimits = new(MaxHttpHeadLength, MaxHttpHeadLength, MaxFieldCount: 100);

    // RFC 3986 §3.2.2 reg-name: unreserved, pct-encoded and sub-delims. Anything else (a space, '/', '@', a non-ASCII
    // letter) would be read by the proxy as something other than the name, or refused.
    private static readonly SearchValues<char> RegNameChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=");

    /// <summary>
    /// Sends <c>CONNECT host:port HTTP/1.1</c> with Host and, with a credential, <c>Proxy-Authorization: Basic</c>; reads
    /// the response head and not a byte past it; skips interim (1xx) heads. 2xx: the tunnel is open. Anything else throws.
    /// </summary>
    private async Task<Socks5Reply> HttpConnectAsync(Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        Step = HandshakeStep.Request;
        string authority = destination.ToString(port);
        if (destination.IsDomainName && destination.DomainName!.AsSpan().ContainsAnyExcept(RegNameChars))
        {
            throw SocksErrors.CannotCarry(Hop, authority,
                "an HTTP request target holds only a host name's ASCII characters (an internationalised name goes in its xn-- form)");
        }

        NetworkCredential? credential = Hop.Proxy.Credential;
        HttpHeaderField[] fields = credential is null
            ? [new("Host", authority)]
            : [new("Host", authority), new("Proxy-Authorization", HttpBasicCredentials.Encode(credential.UserName, credential.Password))];
        var writer = new BufferWriter(Buffer);
        try
        {
            HttpRequestHead.Create("CONNECT", authority, 1, fields).Write(writer);
            await SendAsync(writer.Written, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The credential is in the buffer, barely encoded: wipe it as soon as it is on its way.
            Array.Clear(Buffer, 0, writer.Written);
        }

        HttpResponseHead head;
        do
        {
            head = await ReceiveHttpHeadAsync(cancellationToken).ConfigureAwait(false);
        }
        while (head.IsInterim);

        if (head.StatusCode is < 200 or > 299)
        {
            throw SocksErrors.HttpRefused(Hop, authority, head.StatusCode, head.ReasonPhrase);
        }

        return new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.AnyIPv4, 0);
    }

    /// <summary>
    /// Reads one response head and not a byte more. Its length is not written anywhere, and the stream cannot be peeked
    /// at, so each read asks only for the bytes that could at the very least still be the head's: 1 when the bytes in
    /// could end with one more LF, else 2. A typical "200 Connection established" takes about a dozen reads; this is a
    /// handshake, once per tunnel, and it leaves the tunnel's first bytes where they belong.
    /// </summary>
    private async Task<HttpResponseHead> ReceiveHttpHeadAsync(CancellationToken cancellationToken)
    {
        Memory<byte> buffer = Buffer.AsMemory(0, MaxHttpHeadLength);
        int count = 0;
        while (true)
        {
            int wanted = Math.Min(count + HeadBytesSurelyAhead(buffer.Span[..count]), buffer.Length);
            int read = await ReadSomeAsync(buffer[count..wanted], cancellationToken).ConfigureAwait(false);

            // Parse at the start, so a peer that speaks something else is refused at its first bytes (the codec checks
            // "HTTP/" as it arrives), then only when a line has ended or the buffer is full: at most once a line.
            bool judge = count < MinHttpHeadLength || buffer.Span.Slice(count, read).Contains(LF) || count + read == buffer.Length;
            count += read;
            if (!judge)
            {
                continue;
            }

            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer[..count]));
            if (HttpResponseHead.TryParse(ref reader, ResponseLimits, out HttpResponseHead? head, out HttpParseError error))
            {
                Debug.Assert(head.Length == count, "Reads stop where the head could end, so the head is all that was read.");
                return head;
            }

            if (error != HttpParseError.None)
            {
                throw SocksErrors.Malformed(Hop, Step, error);
            }

            if (count == buffer.Length)
            {
                // The limits make the codec refuse a head this long; this is the belt to those braces.
                throw SocksErrors.Malformed(Hop, Step, HttpParseError.HeadTooLarge);
            }
        }
    }

    /// <summary>
    /// The fewest bytes that can still follow <paramref name="received"/> within the head. A head ends with an empty
    /// line right after a line end, and the codec takes bare LF as a line end (RFC 9112 §2.2), so the shortest possible
    /// ends are "\n" after a line end (or after "\n\r") and "\n\n" anywhere else.
    /// </summary>
    private static int HeadBytesSurelyAhead(ReadOnlySpan<byte> received)
    {
        if (received.Length < MinHttpHeadLength)
        {
            return MinHttpHeadLength - received.Length;
        }

        byte last = received[^1];
        return last == LF || (last == CR && received[^2] == LF) ? 1 : 2;
    }

    /// <summary>Lets the codec's head writer write into the handshake's rented buffer.</summary>
    private sealed class BufferWriter(byte[] buffer) : IBufferWriter<byte>
    {
        public int Written { get; private set; }

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => buffer.AsMemory(Written, Room(sizeHint));

        public Span<byte> GetSpan(int sizeHint = 0) => buffer.AsSpan(Written, Room(sizeHint));

        private int Room(int sizeHint)
        {
            int room = buffer.Length - Written;

            // BufferLength is sized for the longest CONNECT request (see ProxyHandshake), so this is a bug, not input.
            return sizeHint <= room ? room : throw new InvalidOperationException($"A CONNECT request of {sizeHint} bytes does not fit the handshake's buffer.");
        }
    }
}
