using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Sockeye.Protocol.Http;

/// <summary>A response's head: the status line and its field lines (RFC 9112 §4, §5), as an origin sends it to a proxy.</summary>
/// <remarks>
/// <code>
/// status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF     e.g. HTTP/1.1 200 OK
/// field-line  = field-name ":" OWS field-value OWS CRLF
/// CRLF
/// </code>
/// The same parser, the same strictness and the same limits as <see cref="HttpRequestHead"/>; the status line is bounded
/// by <see cref="HttpHeadLimits.MaxRequestLineLength"/>.
/// </remarks>
public sealed class HttpResponseHead
{
    private readonly HttpHeaderField[] _fields;

    private HttpResponseHead(int minorVersion, int statusCode, string reasonPhrase, HttpHeaderField[] fields, int length)
    {
        MinorVersion = minorVersion;
        StatusCode = statusCode;
        ReasonPhrase = reasonPhrase;
        _fields = fields;
        Fields = Array.AsReadOnly(fields);
        Length = length;
        KeepAlive = HttpFieldRules.KeepAlive(minorVersion, fields, proxyConnection: false);
    }

    /// <summary>The minor version of HTTP/1.x: 0 or 1.</summary>
    public int MinorVersion { get; }

    /// <summary>The status code: three digits, 100 to 999.</summary>
    public int StatusCode { get; }

    /// <summary>The reason phrase as sent (Latin-1), possibly empty; RFC 9112 §4: nothing depends on it.</summary>
    public string ReasonPhrase { get; }

    /// <summary>The field lines in order, names as sent, values trimmed.</summary>
    public IReadOnlyList<HttpHeaderField> Fields { get; }

    /// <summary>The bytes the head took on the wire: leading empty lines and the final empty line included.</summary>
    public int Length { get; }

    /// <summary>
    /// Whether the origin keeps the connection open after this response (RFC 9112 §9.3): HTTP/1.1 unless Connection
    /// lists "close"; HTTP/1.0 only when it lists "keep-alive". A body delimited by the close ends it regardless.
    /// </summary>
    public bool KeepAlive { get; }

    /// <summary>An interim response (1xx other than 101 Switching Protocols): the final response is still to come.</summary>
    public bool IsInterim => StatusCode is >= 100 and <= 199 and not 101;

    /// <summary>The value of the first field named <paramref name="name"/> (case-insensitive); <see langword="null"/> when there is none.</summary>
    public string? GetField(string name) => HttpFieldRules.Get(_fields, name);

    /// <summary>
    /// Parses one response head, with the contract of <see cref="HttpRequestHead.TryParse"/>: <see langword="true"/>
    /// and the reader just past the head; <see langword="false"/> with <see cref="HttpParseError.None"/>, need more,
    /// the reader unmoved; <see langword="false"/> with an error, never a head, the reader unmoved. The status code is
    /// exactly three digits, 100 to 999; "HTTP/1.1 200" with no reason phrase (and no space before it) is accepted.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A limit is zero or less (the field count: less than zero).</exception>
    public static bool TryParse(ref SequenceReader<byte> reader, in HttpHeadLimits limits, [NotNullWhen(true)] out HttpResponseHead? head, out HttpParseError error)
    {
        head = null;
        if (!HttpHeadParser.TryParse(ref reader, limits, request: false, out HeadParts parts, out error))
        {
            return false;
        }

        head = new HttpResponseHead(parts.MinorVersion, parts.StatusCode, parts.First, parts.Fields, parts.Length);
        return true;
    }

    /// <summary>
    /// How the response's body is delimited (RFC 9112 §6.3), given the method of the request it answers: to HEAD, and
    /// for 1xx, 204 and 304, <see cref="HttpBodyKind.None"/>; a 2xx to CONNECT is a tunnel, <see cref="HttpBodyKind.None"/>;
    /// Transfer-Encoding with chunked final: <see cref="HttpBodyKind.Chunked"/>; other Transfer-Encoding:
    /// <see cref="HttpBodyKind.UntilClose"/>; Content-Length: <see cref="HttpBodyKind.ContentLength"/>; neither:
    /// <see cref="HttpBodyKind.UntilClose"/>. Transfer-Encoding with Content-Length, chunked twice, or in an HTTP/1.0
    /// response is <see cref="HttpParseError.ConflictingFraming"/>: RFC 9112 lets a recipient resolve the first, but a
    /// proxy that forwards fields as received would pass the conflict on, so it is refused (the caller answers 502).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="requestMethod"/> is null.</exception>
    public bool TryGetBodyFraming(string requestMethod, out HttpBodyFraming framing, out HttpParseError error)
    {
        ArgumentNullException.ThrowIfNull(requestMethod);
        framing = default;
        error = HttpParseError.None;
        if (requestMethod == "HEAD" || StatusCode is < 200 or 204 or 304 || (requestMethod == "CONNECT" && StatusCode is >= 200 and < 300))
        {
            framing = new HttpBodyFraming(HttpBodyKind.None, 0);
            return true;
        }

        HttpFraming.TransferCoding coding = HttpFraming.ReadTransferEncoding(_fields);
        bool lengthValid = HttpFraming.TryReadContentLength(_fields, out bool hasLength, out long length);
        if (coding != HttpFraming.TransferCoding.Absent)
        {
            if (hasLength || !lengthValid || MinorVersion == 0 || coding == HttpFraming.TransferCoding.Invalid)
            {
                error = HttpParseError.ConflictingFraming;
                return false;
            }

            framing = new HttpBodyFraming(coding == HttpFraming.TransferCoding.ChunkedFinal ? HttpBodyKind.Chunked : HttpBodyKind.UntilClose, 0);
            return true;
        }

        if (!lengthValid)
        {
            error = HttpParseError.InvalidContentLength;
            return false;
        }

        framing = hasLength ? new HttpBodyFraming(HttpBodyKind.ContentLength, length) : new HttpBodyFraming(HttpBodyKind.UntilClose, 0);
        return true;
    }

    /// <summary>Builds a head, for writers and tests. Accepts exactly what <see cref="TryParse"/> would produce.</summary>
    /// <param name="minorVersion">0 or 1.</param>
    /// <param name="statusCode">100 to 999.</param>
    /// <param name="reasonPhrase">HTAB, SP, VCHAR and U+0080–U+00FF; may be empty.</param>
    /// <param name="fields">Token names; values of HTAB, SP, VCHAR and U+0080–U+00FF, with no surrounding whitespace.</param>
    /// <exception cref="ArgumentException">A part is invalid.</exception>
    public static HttpResponseHead Create(int minorVersion, int statusCode, string reasonPhrase, IReadOnlyList<HttpHeaderField> fields)
    {
        ArgumentNullException.ThrowIfNull(reasonPhrase);
        ArgumentOutOfRangeException.ThrowIfLessThan(minorVersion, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minorVersion, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(statusCode, 999);
        if (!IsReasonPhrase(reasonPhrase))
        {
            throw new ArgumentException("The reason phrase holds a control character or a char above U+00FF.", nameof(reasonPhrase));
        }

        HttpHeaderField[] copy = HttpFieldRules.Validate(fields);
        return new HttpResponseHead(minorVersion, statusCode, reasonPhrase, copy, StatusLineLength(reasonPhrase) + HttpFieldRules.FieldsLength(copy) + 2);
    }

    /// <summary>Writes the head as it is (CRLF line endings; "HTTP/1.1 200 \r\n" when the reason is empty); returns the bytes written.</summary>
    public int Write(IBufferWriter<byte> output)
    {
        int length = StatusLineLength(ReasonPhrase) + HttpFieldRules.FieldsLength(_fields) + 2;
        var writer = new HttpHeadWriter(HttpHeadWriter.Reserve(output, length));
        writer.Write(MinorVersion == 0 ? "HTTP/1.0 "u8 : "HTTP/1.1 "u8);
        writer.Write(StatusCode);
        writer.Write(" "u8);
        writer.Write(ReasonPhrase);
        writer.Write("\r\n"u8);
        foreach (HttpHeaderField field in _fields)
        {
            writer.WriteField(field.Name, field.Value);
        }

        writer.Write("\r\n"u8);
        System.Diagnostics.Debug.Assert(writer.Position == length, "the length was computed from the same parts");
        output.Advance(length);
        return length;
    }

    internal HttpHeaderField[] FieldArray => _fields;

    /// <summary>"HTTP/1.x NNN reason\r\n".</summary>
    private static int StatusLineLength(string reasonPhrase) => 8 + 1 + 3 + 1 + reasonPhrase.Length + 2;

    internal static bool IsReasonPhrase(ReadOnlySpan<char> reason)
    {
        foreach (char c in reason)
        {
            if (c > 0xFF || c == 0x7F || (c < 0x20 && c != '\t'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The status line, for logs: "HTTP/1.1 200 OK". The reason is peer text: escape it before logging.</summary>
    public override string ToString() => $"HTTP/1.{MinorVersion} {StatusCode} {ReasonPhrase}";
}
