namespace Sockeye.Protocol.Http;

/// <summary>
/// Why bytes can never become an HTTP/1.1 message (RFC 9112), or <see cref="None"/> when more bytes are needed.
/// <see cref="HttpParseErrorExtensions.ToStatusCode"/> is the one place that turns an error into a response status.
/// </summary>
public enum HttpParseError : byte
{
    /// <summary>No error: the parser needs more bytes (or succeeded).</summary>
    None = 0,

    /// <summary>The bytes break RFC 9112's grammar: the request or status line, a field line, a line ending. 400.</summary>
    Malformed,

    /// <summary>No line end within <see cref="HttpHeadLimits.MaxRequestLineLength"/> bytes of the request (or status) line. 414.</summary>
    RequestLineTooLong,

    /// <summary>The head is longer than <see cref="HttpHeadLimits.MaxHeadLength"/>, or has more than <see cref="HttpHeadLimits.MaxFieldCount"/> fields. 431.</summary>
    HeadTooLarge,

    /// <summary>A well-formed HTTP-version other than HTTP/1.0 and HTTP/1.1. 505.</summary>
    UnsupportedVersion,

    /// <summary>A Content-Length that is not a non-negative decimal that fits a <see cref="long"/>, or copies that disagree. 400.</summary>
    InvalidContentLength,

    /// <summary>
    /// Transfer-Encoding together with Content-Length; a request Transfer-Encoding whose final coding is not chunked;
    /// chunked applied twice; Transfer-Encoding in an HTTP/1.0 message. 400 (RFC 9112 §6.1, §6.3: a smuggling attempt).
    /// </summary>
    ConflictingFraming,

    /// <summary>A target with no host, CONNECT without a port, or an empty or invalid port. 400.</summary>
    MissingHost,

    /// <summary>An origin-form (<c>/path</c>) or asterisk-form (<c>*</c>) target sent to a proxy; CONNECT aside. 400.</summary>
    NotAProxyRequest,

    /// <summary>An absolute-form target whose scheme is not <c>http</c> (<c>https://</c>, <c>ftp://</c>, ...). 400.</summary>
    UnsupportedScheme,

    /// <summary>Broken chunked framing (RFC 9112 §7.1). 400 towards a client; a proxy reading an origin's body answers 502.</summary>
    InvalidChunk,
}
