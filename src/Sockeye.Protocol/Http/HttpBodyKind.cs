namespace Sockeye.Protocol.Http;

/// <summary>How a message's body is delimited (RFC 9112 §6.3).</summary>
public enum HttpBodyKind : byte
{
    /// <summary>No body: the message ends with its head.</summary>
    None,

    /// <summary>Exactly <see cref="HttpBodyFraming.ContentLength"/> bytes.</summary>
    ContentLength,

    /// <summary>The chunked transfer coding, tracked with <see cref="HttpChunkedBody"/>.</summary>
    Chunked,

    /// <summary>Everything until the connection closes (responses only); the connection cannot be reused.</summary>
    UntilClose,
}
