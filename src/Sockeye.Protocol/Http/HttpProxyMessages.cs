using System.Buffers;

namespace Sockeye.Protocol.Http;

/// <summary>
/// The messages a forwarding proxy writes: a client's request as sent on to the origin, the origin's response as sent
/// back, and the proxy's own responses (RFC 9110 §7.6, RFC 9112 §3.2.2, §9).
/// </summary>
public static class HttpProxyMessages
{
    /// <summary>The Via value a proxy adds by default (RFC 9110 §7.6.3: received-protocol and a pseudonym).</summary>
    public const string DefaultVia = "1.1 sockeye";

    /// <summary>The longest response <see cref="WriteStatus"/> writes (with a realm of <see cref="MaxRealmLength"/> characters, every one escaped): a destination this long always suffices.</summary>
    public const int MaxStatusLength = 512;

    /// <summary>The longest realm <see cref="WriteStatus"/> takes.</summary>
    public const int MaxRealmLength = 128;

    /// <summary>The length of <see cref="WriteConnectEstablished"/>'s response.</summary>
    public const int ConnectEstablishedLength = 39;

    /// <summary>
    /// Writes the request as forwarded to the origin; returns the bytes written: <c>METHOD path HTTP/1.1</c>, then
    /// <c>Host</c> with the target's authority (RFC 9112 §3.2.2: a proxy replaces Host with the target's; an IPv6 host
    /// is bracketed; the port is left out when it is 80), then the client's fields in order without Host and without the
    /// hop-by-hop ones (Connection and every field it names, Keep-Alive, Proxy-Connection, Proxy-Authorization,
    /// Proxy-Authenticate, TE, Upgrade), then <c>Via: <paramref name="via"/></c> when it is given, as one more Via field
    /// after any the client sent. The body (Content-Length or chunked) follows unchanged.
    /// </summary>
    /// <param name="request">A parsed request; not CONNECT.</param>
    /// <param name="target">What <see cref="HttpRequestHead.TryGetTarget"/> returned for it.</param>
    /// <param name="via">The Via value to add (<see cref="DefaultVia"/>), or <see langword="null"/> for none.</param>
    /// <param name="output">Where to write.</param>
    /// <exception cref="ArgumentException">The target has no path (a CONNECT target) or holds invalid characters, or <paramref name="via"/> is not a field value.</exception>
    public static int WriteForwardedRequest(HttpRequestHead request, in HttpRequestTarget target, string? via, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        string pathAndQuery = target.PathAndQuery ?? "";
        if (!pathAndQuery.StartsWith('/') || pathAndQuery.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            throw new ArgumentException("The target's path must start with '/' and be visible ASCII; a CONNECT target is never forwarded.", nameof(target));
        }

        string authority = target.Host is { Length: > 0 } ? target.Authority : "";
        if (authority.Length == 0 || authority.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            throw new ArgumentException("The target's host must be visible ASCII.", nameof(target));
        }

        CheckVia(via);
        HttpHeaderField[] fields = request.FieldArray;
        int length = request.Method.Length + 1 + pathAndQuery.Length + 11 + HttpHeadWriter.FieldLength("Host", authority) + ViaLength(via) + 2;
        foreach (HttpHeaderField field in fields)
        {
            if (IsForwarded(field, fields, dropHost: true))
            {
                length += HttpHeadWriter.FieldLength(field.Name, field.Value);
            }
        }

        var writer = new HttpHeadWriter(HttpHeadWriter.Reserve(output, length));
        writer.Write(request.Method);
        writer.Write(" "u8);
        writer.Write(pathAndQuery);
        writer.Write(" HTTP/1.1\r\n"u8);
        writer.WriteField("Host", authority);
        WriteFields(ref writer, fields, dropHost: true, via);
        writer.Write("\r\n"u8);
        System.Diagnostics.Debug.Assert(writer.Position == length, "the length was computed from the same parts");
        output.Advance(length);
        return length;
    }

    /// <summary>
    /// Writes the response as forwarded to the client; returns the bytes written: <c>HTTP/1.1 code reason</c>, the
    /// origin's fields without the hop-by-hop ones (as for requests), <c>Via</c> when given, then
    /// <c>Connection: close</c> when <paramref name="keepAlive"/> is false, or <c>Connection: keep-alive</c> when it is
    /// true and the client spoke HTTP/1.0 (which persists only when told so).
    /// </summary>
    /// <param name="response">A parsed response.</param>
    /// <param name="keepAlive">Whether the proxy keeps the client's connection after this response.</param>
    /// <param name="clientMinorVersion">The minor version of the client's request.</param>
    /// <param name="via">The Via value to add, or <see langword="null"/> for none.</param>
    /// <param name="output">Where to write.</param>
    /// <exception cref="ArgumentException"><paramref name="via"/> is not a field value.</exception>
    public static int WriteForwardedResponse(HttpResponseHead response, bool keepAlive, int clientMinorVersion, string? via, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(output);
        CheckVia(via);
        HttpHeaderField[] fields = response.FieldArray;
        string? connection = !keepAlive ? "close" : clientMinorVersion == 0 ? "keep-alive" : null;
        int length = 13 + response.ReasonPhrase.Length + 2 + ViaLength(via) + (connection is null ? 0 : HttpHeadWriter.FieldLength("Connection", connection)) + 2;
        foreach (HttpHeaderField field in fields)
        {
            if (IsForwarded(field, fields, dropHost: false))
            {
                length += HttpHeadWriter.FieldLength(field.Name, field.Value);
            }
        }

        var writer = new HttpHeadWriter(HttpHeadWriter.Reserve(output, length));
        writer.Write("HTTP/1.1 "u8);
        writer.Write(response.StatusCode);
        writer.Write(" "u8);
        writer.Write(response.ReasonPhrase);
        writer.Write("\r\n"u8);
        WriteFields(ref writer, fields, dropHost: false, via);
        if (connection is not null)
        {
            writer.WriteField("Connection", connection);
        }

        writer.Write("\r\n"u8);
        System.Diagnostics.Debug.Assert(writer.Position == length, "the length was computed from the same parts");
        output.Advance(length);
        return length;
    }

    /// <summary>
    /// Writes a response the proxy makes itself; returns the bytes written: the status line with the standard reason,
    /// <c>Content-Type: text/plain; charset=utf-8</c>, <c>Content-Length</c>, <c>Connection: close</c>,
    /// <c>Proxy-Authenticate: Basic realm="…"</c> when a realm is given (RFC 7617; a quote or backslash in it escaped),
    /// and the body <c>"&lt;code&gt; &lt;reason&gt;\n"</c>. At most <see cref="MaxStatusLength"/> bytes.
    /// </summary>
    /// <param name="destination">Where to write; <see cref="MaxStatusLength"/> bytes always suffice.</param>
    /// <param name="statusCode">200 to 599, except 204 and 304, which have no body.</param>
    /// <param name="proxyAuthenticateRealm">The realm to challenge for (with 407), printable ASCII, at most <see cref="MaxRealmLength"/> characters; or <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="statusCode"/> is out of range.</exception>
    /// <exception cref="ArgumentException">The realm is too long or not printable ASCII, or <paramref name="destination"/> is too short.</exception>
    public static int WriteStatus(Span<byte> destination, int statusCode, string? proxyAuthenticateRealm = null)
    {
        if (statusCode is < 200 or > 599 or 204 or 304)
        {
            throw new ArgumentOutOfRangeException(nameof(statusCode), statusCode, "A status the proxy answers with a body: 200 to 599, not 204 or 304.");
        }

        int escapes = 0;
        if (proxyAuthenticateRealm is not null)
        {
            if (proxyAuthenticateRealm.Length > MaxRealmLength || proxyAuthenticateRealm.AsSpan().ContainsAnyExceptInRange(' ', '~'))
            {
                throw new ArgumentException($"The realm must be printable ASCII, at most {MaxRealmLength} characters.", nameof(proxyAuthenticateRealm));
            }

            escapes = proxyAuthenticateRealm.AsSpan().Count('"') + proxyAuthenticateRealm.AsSpan().Count('\\');
        }

        string reason = ReasonPhrase(statusCode);
        int bodyLength = 3 + 1 + reason.Length + 1;
        int length = 13 + reason.Length + 2
            + "Content-Type: text/plain; charset=utf-8\r\n".Length
            + "Content-Length: ".Length + HttpHeadWriter.DigitCount(bodyLength) + 2
            + "Connection: close\r\n".Length
            + (proxyAuthenticateRealm is null ? 0 : "Proxy-Authenticate: Basic realm=\"\"\r\n".Length + proxyAuthenticateRealm.Length + escapes)
            + 2 + bodyLength;
        ThrowHelpers.ThrowIfTooShort(destination, length);
        var writer = new HttpHeadWriter(destination);
        writer.Write("HTTP/1.1 "u8);
        writer.Write(statusCode);
        writer.Write(" "u8);
        writer.Write(reason);
        writer.Write("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "u8);
        writer.Write(bodyLength);
        writer.Write("\r\nConnection: close\r\n"u8);
        if (proxyAuthenticateRealm is not null)
        {
            writer.Write("Proxy-Authenticate: Basic realm=\""u8);
            foreach (char c in proxyAuthenticateRealm)
            {
                if (c is '"' or '\\')
                {
                    writer.Write("\\"u8);
                }

                writer.Write((byte)c);
            }

            writer.Write("\"\r\n"u8);
        }

        writer.Write("\r\n"u8);
        writer.Write(statusCode);
        writer.Write(" "u8);
        writer.Write(reason);
        writer.Write("\n"u8);
        System.Diagnostics.Debug.Assert(writer.Position == length, "the length was computed from the same parts");
        return length;
    }

    /// <summary>Writes <c>HTTP/1.1 200 Connection established</c> and the empty line: a CONNECT tunnel is open. Returns <see cref="ConnectEstablishedLength"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="ConnectEstablishedLength"/>.</exception>
    public static int WriteConnectEstablished(Span<byte> destination)
    {
        ReadOnlySpan<byte> response = "HTTP/1.1 200 Connection established\r\n\r\n"u8;
        ThrowHelpers.ThrowIfTooShort(destination, response.Length);
        response.CopyTo(destination);
        return response.Length;
    }

    /// <summary>The standard reason phrase of a status (RFC 9110 §15, RFC 6585); "" for a code without one.</summary>
    public static string ReasonPhrase(int statusCode) => statusCode switch
    {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        _ => "",
    };

    private static void CheckVia(string? via)
    {
        if (via is not null && (via.Length == 0 || !HttpSyntax.IsFieldValue(via)))
        {
            throw new ArgumentException("Via must be a non-empty field value (RFC 9110 §7.6.3), such as \"1.1 sockeye\".", nameof(via));
        }
    }

    private static int ViaLength(string? via) => via is null ? 0 : HttpHeadWriter.FieldLength("Via", via);

    private static bool IsForwarded(HttpHeaderField field, HttpHeaderField[] fields, bool dropHost) =>
        !(dropHost && field.Name.Equals("Host", StringComparison.OrdinalIgnoreCase)) && !HttpFieldRules.IsHopByHop(field.Name, fields);

    private static void WriteFields(ref HttpHeadWriter writer, HttpHeaderField[] fields, bool dropHost, string? via)
    {
        foreach (HttpHeaderField field in fields)
        {
            if (IsForwarded(field, fields, dropHost))
            {
                writer.WriteField(field.Name, field.Value);
            }
        }

        if (via is not null)
        {
            writer.WriteField("Via", via);
        }
    }
}
