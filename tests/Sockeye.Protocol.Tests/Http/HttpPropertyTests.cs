using System.Buffers;
using System.Text;
using CsCheck;
using Sockeye.Protocol.Http;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Http;

/// <summary>
/// CsCheck properties of the HTTP codec. Iteration counts keep the class to a few seconds (the whole project under ~20 s);
/// a failure prints the seed that reproduces it.
/// </summary>
public class HttpPropertyTests
{
    private const string TokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly string[] HopByHop = ["Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Upgrade"];

    private static readonly Gen<string> Token = Gen.Char[TokenChars].Array[1, 12].Select(static c => new string(c));

    /// <summary>Field values: HTAB, SP, VCHAR, obs-text, with no surrounding whitespace.</summary>
    private static readonly Gen<string> FieldValue =
        Gen.Frequency((6, Gen.Char['!', '~']), (2, Gen.Char[" \t"]), (1, Gen.Char['\u0080', '\u00ff']))
            .Array[0, 20]
            .Select(static c => new string(c).Trim(' ', '\t'));

    private static readonly Gen<HttpHeaderField> Field = Gen.Select(
        Gen.Frequency((4, Token), (1, Gen.OneOf([.. HopByHop, "Host", "Content-Length", "Via", "X-Named"]))),
        Gen.Frequency((4, FieldValue), (1, Gen.OneOf("close", "keep-alive", "X-Named, close", "x-named", "chunked", "5"))),
        static (name, value) => new HttpHeaderField(name, value));

    private static readonly Gen<HttpHeaderField[]> Fields = Field.Array[0, 12];

    private static readonly Gen<HttpRequestHead> RequestHead = Gen.Select(
        Token,
        Gen.Char['!', '~'].Array[1, 40].Select(static c => new string(c)),
        Gen.Int[0, 1],
        Fields,
        static (method, target, minor, fields) => HttpRequestHead.Create(method, target, minor, fields));

    private static readonly Gen<HttpResponseHead> ResponseHead = Gen.Select(
        Gen.Int[0, 1],
        Gen.Int[100, 999],
        Gen.Frequency((4, Gen.Char['!', '~']), (1, Gen.Char[" \t\u00e9"])).Array[0, 20].Select(static c => new string(c)),
        Fields,
        static (minor, status, reason, fields) => HttpResponseHead.Create(minor, status, reason, fields));

    private static readonly Gen<string> LineEnd = Gen.Frequency((8, Gen.Const("\r\n")), (2, Gen.Const("\n")), (1, Gen.OneOf("\r", "", "\r\r\n", " \r\n")));

    /// <summary>Heads built from plausible lines (requests and responses alike), often with a damaged byte.</summary>
    private static readonly Gen<byte[]> PlausibleHead = Gen.Select(
        Gen.Frequency((1, Gen.OneOf("", "\r\n", "\n")), (8, Gen.Const(""))),
        Gen.OneOf(
            "GET http://a/ HTTP/1.1", "CONNECT a:443 HTTP/1.1", "POST http://[::1]:8080/x?y HTTP/1.0", "GET / HTTP/1.1", "GET http://a/ HTTP/2.0",
            "HTTP/1.1 200 OK", "HTTP/1.0 404 Not Found", "HTTP/1.1 204", "HTTP/1.1 99 X", "GET  http://a/ HTTP/1.1"),
        Gen.Select(
            Gen.Frequency((4, Token), (1, Gen.OneOf("Host ", " X", "Content-Length", "Transfer-Encoding", "Connection"))),
            Gen.Frequency((4, FieldValue), (1, Gen.OneOf("5", "chunked", "close", "a\0b"))),
            LineEnd,
            static (name, value, end) => $"{name}: {value}{end}").Array[0, 6],
        LineEnd,
        Gen.Frequency((3, Gen.Const((-1, (byte)0))), (1, Gen.Select(Gen.Int[0, 1000], Gen.Byte))),
        static (leading, start, fields, end, damage) =>
        {
            byte[] bytes = Encoding.Latin1.GetBytes($"{leading}{start}\r\n{string.Concat(fields)}{end}");
            if (damage.Item1 >= 0 && bytes.Length > 0)
            {
                bytes[damage.Item1 % bytes.Length] = damage.Item2;
            }

            return bytes;
        });

    /// <summary>Bytes that are often HTTP and often nearly so: plausible heads, and fragments of heads and random bytes.</summary>
    private static readonly Gen<byte[]> HeadishBytes = Gen.Frequency(
        (3, PlausibleHead),
        (1, Gen.Frequency(
                (8, Gen.OneOf(
                    "GET ", "CONNECT ", "POST ", "http://a/", "a:443", "[::1]:80", " ", "  ", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0",
                    "HTTP/1.1 200 OK", "HTTP/1.1 204", "\r\n", "\r\n", "\r\n", "\n", "\r", "\t", "Host: a", "X-A:", ": ", "v",
                    "Content-Length: 5", "Transfer-Encoding: chunked", "Connection: close", "\u00e9", "\0", "\u007f")
                    .Select(static s => Encoding.Latin1.GetBytes(s))),
                (1, Gen.Byte.Array[1, 4]))
            .Array[0, 24]
            .Select(static parts => parts.SelectMany(static p => p).ToArray())));

    private static readonly Gen<HttpHeadLimits> Limits = Gen.Frequency(
        (1, Gen.Const(HttpHeadLimits.Default)),
        (2, Gen.Select(Gen.Int[4, 48], Gen.Int[8, 96], Gen.Int[0, 4], static (line, head, count) => new HttpHeadLimits(line, head, count))));

    [Fact]
    public void Request_CreatedWrittenAndParsed_IsTheSameHead() =>
        RequestHead.Sample(static head =>
        {
            byte[] written = HttpParse.Write(head);
            Assert.Equal(head.Length, written.Length);
            HeadOutcome outcome = HttpParse.RequestOutcome(new ReadOnlySequence<byte>(written), HttpHeadLimits.Default, out HttpRequestHead? parsed);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(HttpParse.Summarize(head), HttpParse.Summarize(parsed!));
            Assert.Equal(head.KeepAlive, parsed!.KeepAlive);
        }, iter: 2000);

    [Fact]
    public void Response_CreatedWrittenAndParsed_IsTheSameHead() =>
        ResponseHead.Sample(static head =>
        {
            byte[] written = HttpParse.Write(head);
            Assert.Equal(head.Length, written.Length);
            HeadOutcome outcome = HttpParse.ResponseOutcome(new ReadOnlySequence<byte>(written), HttpHeadLimits.Default, out HttpResponseHead? parsed);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(HttpParse.Summarize(head), HttpParse.Summarize(parsed!));
        }, iter: 2000);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnyBytesAnySplit_SameOutcomeWholeSegmentedAndGrowing(bool request)
    {
        const int iterations = 1500;
        int parsed = 0;
        int refused = 0;
        Gen.Select(HeadishBytes, Gen.Int.Array[0, 6], Limits).Sample((bytes, splits, limits) =>
        {
            HeadOutcome outcome = CheckConsistent(bytes, splits, limits, request);
            _ = outcome.Parsed ? Interlocked.Increment(ref parsed) : outcome.Error != HttpParseError.None ? Interlocked.Increment(ref refused) : 0;
        }, iter: iterations);

        // The generator must reach both sides of the parser, or the property says little.
        Assert.InRange(parsed, iterations / 50, iterations);
        Assert.InRange(refused, iterations / 10, iterations);
    }

    [Fact]
    public void Request_WrittenHeadWithRandomPrefixAndSuffix_ParsesOrRefusesConsistently() =>
        Gen.Select(RequestHead, HeadishBytes, Gen.Int.Array[0, 4]).Sample(static (head, noise, splits) =>
            _ = CheckConsistent([.. HttpParse.Write(head), .. noise], splits, HttpHeadLimits.Default, request: true), iter: 500);

    /// <summary>
    /// The outcome of the whole input is the outcome of the same bytes in segments, and of its prefixes as they grow a
    /// byte at a time: need-more until one prefix decides, and that decision from then on.
    /// </summary>
    private static HeadOutcome CheckConsistent(byte[] bytes, int[] splits, HttpHeadLimits limits, bool request)
    {
        HeadOutcome whole = HttpParse.Outcome(new ReadOnlySequence<byte>(bytes), 0, limits, request);
        Assert.True(whole.Parsed || whole.Consumed == 0);
        Assert.Equal(whole, HttpParse.Outcome(Segmented(bytes, splits), 0, limits, request));
        bool decided = false;
        for (int length = 0; length <= bytes.Length; length++)
        {
            HeadOutcome prefix = HttpParse.Outcome(Segmented(bytes[..length], splits), 0, limits, request);
            if (decided || prefix.Parsed || prefix.Error != HttpParseError.None)
            {
                decided = true;
                Assert.Equal(whole, prefix);
            }
        }

        Assert.Equal(whole.Parsed || whole.Error != HttpParseError.None, decided);
        return whole;
    }

    private static ReadOnlySequence<byte> Segmented(byte[] bytes, int[] splits)
    {
        int[] points = [.. splits.Select(s => (int)((uint)s % (uint)(bytes.Length + 1))).Order(), bytes.Length];
        var parts = new List<byte[]>();
        int start = 0;
        foreach (int point in points)
        {
            parts.Add(bytes[start..point]);
            start = point;
        }

        return Sequences.Create([.. parts]);
    }

    /// <summary>A chunked body: chunks of random sizes in random hex spelling, extensions, trailers; and its encoding.</summary>
    private static readonly Gen<byte[]> ChunkedEncoding = Gen.Select(
        Gen.Select(Gen.Byte.Array[1, 40], Gen.Int[0, 2], Gen.Bool, Gen.OneOf("", ";a", ";a=b", " ;q=\"x y\"", "\t; n")).Array[0, 8],
        Gen.Int[1, 3],
        Gen.OneOf("", ";end"),
        Gen.Select(Token, FieldValue, static (n, v) => $"{n}: {v}\r\n").Array[0, 3],
        static (chunks, lastZeros, lastExtension, trailers) =>
        {
            var body = new List<byte>();
            foreach ((byte[] data, int zeros, bool upper, string extension) in chunks)
            {
                string size = new string('0', zeros) + data.Length.ToString(upper ? "X" : "x", System.Globalization.CultureInfo.InvariantCulture);
                body.AddRange(Encoding.ASCII.GetBytes($"{size}{extension}\r\n"));
                body.AddRange(data);
                body.AddRange("\r\n"u8.ToArray());
            }

            body.AddRange(Encoding.Latin1.GetBytes($"{new string('0', lastZeros)}{lastExtension}\r\n{string.Concat(trailers)}\r\n"));
            return body.ToArray();
        });

    [Fact]
    public void Chunked_EncodedBodyInAnySplit_ConsumedExactlyAndCompleteOnlyAtTheEnd() =>
        Gen.Select(ChunkedEncoding, Gen.Int.Array[0, 8], Gen.Byte.Array[0, 8]).Sample(static (encoded, splits, next) =>
        {
            byte[] input = [.. encoded, .. next];
            int[] points = [.. splits.Select(s => (int)((uint)s % (uint)(input.Length + 1))).Order(), input.Length];
            var body = default(HttpChunkedBody);
            int total = 0;
            int start = 0;
            foreach (int point in points)
            {
                Assert.True(body.TryAdvance(input.AsSpan(start, point - start), out int consumed, out HttpParseError error), $"{error} at {total}");
                Assert.True(consumed == point - start || body.IsComplete, "consumed less without completing");
                total += consumed;
                Assert.Equal(total >= encoded.Length, body.IsComplete);
                start = point;
            }

            Assert.Equal(encoded.Length, total);
            Assert.True(body.IsComplete);
        }, iter: 2000);

    [Fact]
    public void Chunked_Decode_InAnySplit_YieldsExactlyTheData() =>
        Gen.Select(Gen.Byte.Array[1, 40].Array[0, 8], Gen.OneOf("", ";ext=1"), Gen.Int.Array[0, 8]).Sample(static (chunks, extension, splits) =>
        {
            var encoded = new List<byte>();
            foreach (byte[] chunk in chunks)
            {
                encoded.AddRange(Encoding.ASCII.GetBytes($"{chunk.Length:x}{extension}\r\n"));
                encoded.AddRange(chunk);
                encoded.AddRange("\r\n"u8.ToArray());
            }

            encoded.AddRange("0\r\nTrailer: x\r\n\r\n"u8.ToArray());
            byte[] input = [.. encoded];
            int[] points = [.. splits.Select(s => (int)((uint)s % (uint)(input.Length + 1))).Order(), input.Length];
            var body = default(HttpChunkedBody);
            var decoded = new List<byte>();
            int start = 0;
            foreach (int point in points)
            {
                ReadOnlySpan<byte> piece = input.AsSpan(start, point - start);
                while (!piece.IsEmpty && !body.IsComplete)
                {
                    Assert.True(body.TryDecode(piece, out int consumed, out int dataOffset, out int dataLength, out HttpParseError error), error.ToString());
                    Assert.True(consumed > 0);
                    decoded.AddRange(piece.Slice(dataOffset, dataLength).ToArray());
                    piece = piece[consumed..];
                }

                start = point;
            }

            Assert.True(body.IsComplete);
            Assert.Equal(chunks.SelectMany(c => c), decoded);
        }, iter: 2000);

    [Fact]
    public void Chunked_AnyBytes_NeverThrowsAndSplitsAgree() =>
        Gen.Select(Gen.Frequency((3, ChunkedEncoding), (1, HeadishBytes)), Gen.Int.Array[0, 6], Gen.Int[0, 63]).Sample(static (encoded, splits, flip) =>
        {
            byte[] input = [.. encoded];
            if (input.Length > 0)
            {
                input[flip % input.Length] ^= (byte)(1 << (flip % 8));
            }

            var whole = default(HttpChunkedBody);
            bool wholeOk = whole.TryAdvance(input, out int wholeConsumed, out _);
            var split = default(HttpChunkedBody);
            int[] points = [.. splits.Select(s => (int)((uint)s % (uint)(input.Length + 1))).Order(), input.Length];
            bool splitOk = true;
            int total = 0;
            int start = 0;
            foreach (int point in points)
            {
                splitOk = split.TryAdvance(input.AsSpan(start, point - start), out int consumed, out _);
                if (!splitOk)
                {
                    break;
                }

                total += consumed;
                start = point;
            }

            Assert.Equal(wholeOk, splitOk);
            Assert.Equal(whole.IsComplete, split.IsComplete);
            if (wholeOk)
            {
                Assert.Equal(wholeConsumed, total);
            }
        }, iter: 2000);

    [Fact]
    public void ForwardedRequest_FromAParsedHead_ParsesAgainWithoutHopByHopFields() =>
        Gen.Select(
            Gen.OneOf("GET", "POST", "PUT", "OPTIONS", "M-SEARCH"),
            Gen.OneOf("http://example.com", "http://a.example:8080/x?y#z", "HTTP://[2001:db8::1]/", "http://192.0.2.1:80/p"),
            Gen.Int[0, 1],
            Fields,
            Gen.OneOf<string?>(null, HttpProxyMessages.DefaultVia)).Sample(static (method, target, minor, fields, via) =>
        {
            HttpRequestHead head = HttpRequestHead.Create(method, target, minor, fields);
            Assert.True(head.TryGetTarget(out HttpRequestTarget destination, out HttpParseError error), $"{error}");
            var output = new ArrayBufferWriter<byte>();
            int written = HttpProxyMessages.WriteForwardedRequest(head, destination, via, output);
            HeadOutcome outcome = HttpParse.RequestOutcome(new ReadOnlySequence<byte>(output.WrittenMemory), HttpHeadLimits.Default, out HttpRequestHead? forwarded);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(written, forwarded!.Length);
            Assert.Equal(1, forwarded.MinorVersion);
            Assert.Equal(destination.PathAndQuery, forwarded.Target);
            Assert.Equal(destination.Authority, forwarded.GetField("Host"));
            Assert.Single(forwarded.Fields, f => f.Name == "Host");
            Assert.DoesNotContain(forwarded.Fields, f => HopByHop.Contains(f.Name, StringComparer.OrdinalIgnoreCase));
            string[] kept = [.. head.Fields.Where(f => !IsDropped(f.Name, head.Fields) && !f.Name.Equals("Host", StringComparison.OrdinalIgnoreCase)).Select(f => $"{f.Name}={f.Value}")];
            string[] expected = via is null ? kept : [.. kept, $"Via={via}"];
            Assert.Equal(expected, forwarded.Fields.Skip(1).Select(f => $"{f.Name}={f.Value}"));
        }, iter: 1000);

    [Fact]
    public void ForwardedResponse_FromAParsedHead_ParsesAgainWithoutHopByHopFields() =>
        Gen.Select(ResponseHead, Gen.Bool, Gen.Int[0, 1], Gen.OneOf<string?>(null, HttpProxyMessages.DefaultVia)).Sample(static (head, keepAlive, clientMinor, via) =>
        {
            var output = new ArrayBufferWriter<byte>();
            int written = HttpProxyMessages.WriteForwardedResponse(head, keepAlive, clientMinor, via, output);
            HeadOutcome outcome = HttpParse.ResponseOutcome(new ReadOnlySequence<byte>(output.WrittenMemory), HttpHeadLimits.Default, out HttpResponseHead? forwarded);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(written, forwarded!.Length);
            Assert.Equal(head.StatusCode, forwarded.StatusCode);
            Assert.Equal(head.ReasonPhrase, forwarded.ReasonPhrase);
            List<string> names = [.. forwarded.Fields.Select(f => f.Name)];
            string? connection = forwarded.GetField("Connection");
            Assert.Equal(!keepAlive ? "close" : clientMinor == 0 ? "keep-alive" : null, connection);
            Assert.Equal(keepAlive, forwarded.KeepAlive || (keepAlive && clientMinor == 0 && forwarded.KeepAlive));
            Assert.DoesNotContain(forwarded.Fields.SkipLast(connection is null ? 0 : 1), f => HopByHop.Contains(f.Name, StringComparer.OrdinalIgnoreCase));
            Assert.True(via is null || names.Contains("Via"));
        }, iter: 1000);

    private static bool IsDropped(string name, IReadOnlyList<HttpHeaderField> fields) =>
        HopByHop.Contains(name, StringComparer.OrdinalIgnoreCase)
        || fields.Any(f => f.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
            && f.Value.Split(',').Any(t => t.Trim(' ', '\t').Equals(name, StringComparison.OrdinalIgnoreCase)));

    [Fact]
    public void BasicCredentials_EncodedThenDecoded_SameBytes() =>
        Gen.Select(Gen.Char['!', '~'].Array[1, 200], Gen.Char[' ', '\u00ff'].Array[1, 120]).Sample(static (userChars, passwordChars) =>
        {
            string user = new string(userChars).Replace(':', '-');
            string password = new(passwordChars);
            byte[] output = new byte[HttpBasicCredentials.ScratchLength];
            Assert.True(HttpBasicCredentials.TryDecode(HttpBasicCredentials.Encode(user, password), output, out int userLength, out int passwordLength));
            Assert.Equal(user, Encoding.UTF8.GetString(output, 0, userLength));
            Assert.Equal(password, Encoding.UTF8.GetString(output, userLength, passwordLength));
        }, iter: 1000);

    [Fact]
    public void BasicCredentials_AnyText_NeverThrows() =>
        Gen.Select(Gen.OneOf("Basic ", "basic\t", "", "Bearer "), Gen.Char[" !#+/=09AZaz:\t\u00e9"].Array[0, 800]).Sample(static (scheme, text) =>
        {
            byte[] output = new byte[HttpBasicCredentials.ScratchLength];
            if (HttpBasicCredentials.TryDecode(scheme + new string(text), output, out int user, out int password))
            {
                Assert.InRange(user, 1, 255);
                Assert.InRange(password, 1, 255);
            }
        }, iter: 1000);
}
