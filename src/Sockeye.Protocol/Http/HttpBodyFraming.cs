namespace Sockeye.Protocol.Http;

/// <summary>How a message's body is delimited.</summary>
/// <param name="Kind">The delimiting rule.</param>
/// <param name="ContentLength">The body's length for <see cref="HttpBodyKind.ContentLength"/>; 0 otherwise.</param>
public readonly record struct HttpBodyFraming(HttpBodyKind Kind, long ContentLength);
