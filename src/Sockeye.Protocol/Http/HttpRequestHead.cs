using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Sockeye.Protocol.Http;

/// <summary>
/// A request's head: the request line and its field lines (RFC 9112 §3, §5), as a client sends it to a proxy.
/// </summary>
/// <remarks>
/// <code>
/// request-line = method SP request-target SP HTTP-version CRLF      e.g. CONNECT example.com:443 HTTP/1.1
/// field-line   = field-name ":" OWS field-value OWS CRLF            e.g. Host: example.com:443
/// CRLF                                                              the empty line that ends the head
/// </code>
/// Parsing checks the grammar and the limits; what the target and the framing fields mean is asked separately
/// (<see cref="TryGetTarget"/>, <see cref="TryGetBodyFraming"/>), each with its own error.
/// </remarks>
public sealed class HttpRequestHead
{
    private readonly HttpHeaderField[] _fields;

    private HttpRequestHead(string method, string target, int minorVersion, HttpHeaderField[] fields, int length)
    {
        Method = method;
        Target = target;
        MinorVersion = minorVersion;
        _fields = fields;
        Fields = Array.AsReadOnly(fields);
        Length = length;
        KeepAlive = HttpFieldRules.KeepAlive(minorVersion, fields, proxyConnection: true);
    }

    /// <summary>The method, a case-sensitive token ("GET", "CONNECT").</summary>
    public string Method { get; }

    /// <summary>The request-target as sent: "example.com:443" for CONNECT, "http://example.com/a?b" for a proxied request.</summary>
    public string Target { get; }

    /// <summary>The minor version of HTTP/1.x: 0 or 1.</summary>
    public int MinorVersion { get; }

    /// <summary>The field lines in order, names as sent, values trimmed.</summary>
    public IReadOnlyList<HttpHeaderField> Fields { get; }

    /// <summary>The bytes the head took on the wire: leading empty lines and the final empty line included.</summary>
    public int Length { get; }

    /// <summary>Whether the method is CONNECT (methods are case-sensitive: "connect" is another method).</summary>
    public bool IsConnect => Method == "CONNECT";

    /// <summary>
    /// Whether the client's connection persists after this request (RFC 9112 §9.3): for HTTP/1.1 unless Connection
    /// lists "close"; for HTTP/1.0 only when it lists "keep-alive". Proxy-Connection counts like Connection, since
    /// clients such as curl send it to proxies.
    /// </summary>
    public bool KeepAlive { get; }

    /// <summary>The value of the first field named <paramref name="name"/> (case-insensitive); <see langword="null"/> when there is none.</summary>
    public string? GetField(string name) => HttpFieldRules.Get(_fields, name);

    /// <summary>
    /// Parses one request head. <see langword="true"/>: the whole head was read and <paramref name="reader"/> is just
    /// past its final empty line (a body or the next request may follow). <see langword="false"/> with
    /// <see cref="HttpParseError.None"/>: more bytes are needed and the reader has not moved. <see langword="false"/>
    /// with another error: these bytes can never become a request head; the reader has not moved.
    /// </summary>
    /// <remarks>
    /// Strict as Kestrel and llhttp are, because a proxy that reads a head differently from its origin lets requests be
    /// smuggled past it: no whitespace between a field name and its colon, no obs-fold, no bare CR, no control bytes,
    /// token names, a request line of SP and VCHAR only. Bare LF line endings are accepted, and up to
    /// four empty lines before the request line are skipped (RFC 9112 §2.2). Each limit is checked as soon as the bytes
    /// that break it arrive. Allocates the method (unless common), the target and the fields, once the head is whole.
    /// </remarks>
    /// <param name="reader">The connection's unread bytes.</param>
    /// <param name="limits">The bounds to hold the client to.</param>
    /// <param name="head">The head, when the result is <see langword="true"/>.</param>
    /// <param name="error">Why the bytes were refused, or <see cref="HttpParseError.None"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A limit is zero or less (the field count: less than zero).</exception>
    public static bool TryParse(ref SequenceReader<byte> reader, in HttpHeadLimits limits, [NotNullWhen(true)] out HttpRequestHead? head, out HttpParseError error)
    {
        head = null;
        if (!HttpHeadParser.TryParse(ref reader, limits, request: true, out HeadParts parts, out error))
        {
            return false;
        }

        head = new HttpRequestHead(parts.First, parts.Second, parts.MinorVersion, parts.Fields, parts.Length);
        return true;
    }

    /// <summary>
    /// Where the request goes. CONNECT: authority-form <c>host:port</c>, the port required, an IPv6 host bracketed.
    /// Any other method: absolute-form <c>http://host[:port][/path][?query]</c>, the port 80 when absent, the scheme
    /// and host case-insensitive (the host is returned in lower case), the fragment dropped. Userinfo is
    /// <see cref="HttpParseError.Malformed"/>; a missing host, a missing or empty or out-of-range port (CONNECT) is
    /// <see cref="HttpParseError.MissingHost"/>; "/path" and "*" are <see cref="HttpParseError.NotAProxyRequest"/>;
    /// another scheme is <see cref="HttpParseError.UnsupportedScheme"/>. A host is a reg-name of RFC 3986 characters,
    /// 1 to 255 of them, or an IP literal.
    /// </summary>
    public bool TryGetTarget(out HttpRequestTarget target, out HttpParseError error) =>
        HttpTargetParser.TryParse(Target, IsConnect, out target, out error);

    /// <summary>
    /// How the request's body is delimited (RFC 9112 §6.3): Transfer-Encoding whose final coding is chunked:
    /// <see cref="HttpBodyKind.Chunked"/>; Content-Length: <see cref="HttpBodyKind.ContentLength"/>; neither:
    /// <see cref="HttpBodyKind.None"/>. Transfer-Encoding with Content-Length, with a final coding other than chunked,
    /// with chunked twice, or in an HTTP/1.0 request is <see cref="HttpParseError.ConflictingFraming"/>; a
    /// Content-Length that is not one decimal (copies must agree: "5, 5" is 5) is
    /// <see cref="HttpParseError.InvalidContentLength"/>.
    /// </summary>
    public bool TryGetBodyFraming(out HttpBodyFraming framing, out HttpParseError error)
    {
        framing = default;
        HttpFraming.TransferCoding coding = HttpFraming.ReadTransferEncoding(_fields);
        if (!HttpFraming.TryReadContentLength(_fields, out bool hasLength, out long length))
        {
            error = coding == HttpFraming.TransferCoding.Absent ? HttpParseError.InvalidContentLength : HttpParseError.ConflictingFraming;
            return false;
        }

        if (coding != HttpFraming.TransferCoding.Absent)
        {
            // RFC 9112 §6.1: in a request only a final chunked delimits the body; with Content-Length too, or from an
            // HTTP/1.0 client, the framing is faulty and the request may be a smuggling attempt.
            if (hasLength || MinorVersion == 0 || coding != HttpFraming.TransferCoding.ChunkedFinal)
            {
                error = HttpParseError.ConflictingFraming;
                return false;
            }

            framing = new HttpBodyFraming(HttpBodyKind.Chunked, 0);
        }
        else
        {
            framing = hasLength ? new HttpBodyFraming(HttpBodyKind.ContentLength, length) : new HttpBodyFraming(HttpBodyKind.None, 0);
        }

        error = HttpParseError.None;
        return true;
    }

    /// <summary>Builds a head, for writers and tests. Accepts exactly what <see cref="TryParse"/> would produce.</summary>
    /// <param name="method">A token.</param>
    /// <param name="target">One or more visible ASCII characters (no space).</param>
    /// <param name="minorVersion">0 or 1.</param>
    /// <param name="fields">Token names; values of HTAB, SP, VCHAR and U+0080–U+00FF, with no surrounding whitespace.</param>
    /// <exception cref="ArgumentException">A part is invalid.</exception>
    public static HttpRequestHead Create(string method, string target, int minorVersion, IReadOnlyList<HttpHeaderField> fields)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(target);
        if (!HttpSyntax.IsToken(method))
        {
            throw new ArgumentException("The method is not a token (RFC 9110 §9.1).", nameof(method));
        }

        if (target.Length == 0 || target.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            throw new ArgumentException("The target must be one or more visible ASCII characters.", nameof(target));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(minorVersion, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minorVersion, 1);
        HttpHeaderField[] copy = HttpFieldRules.Validate(fields);
        int length = method.Length + 1 + target.Length + 1 + 8 + 2 + HttpFieldRules.FieldsLength(copy) + 2;
        return new HttpRequestHead(method, target, minorVersion, copy, length);
    }

    /// <summary>Writes the head as it is (CRLF line endings, no leading empty lines); returns the bytes written.</summary>
    public int Write(IBufferWriter<byte> output)
    {
        int length = Method.Length + 1 + Target.Length + 1 + 8 + 2 + HttpFieldRules.FieldsLength(_fields) + 2;
        var writer = new HttpHeadWriter(HttpHeadWriter.Reserve(output, length));
        writer.Write(Method);
        writer.Write(" "u8);
        writer.Write(Target);
        writer.Write(MinorVersion == 0 ? " HTTP/1.0\r\n"u8 : " HTTP/1.1\r\n"u8);
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

    /// <summary>The request line, for logs: "CONNECT example.com:443 HTTP/1.1". The target is client text: escape it before logging.</summary>
    public override string ToString() => $"{Method} {Target} HTTP/1.{MinorVersion}";
}
