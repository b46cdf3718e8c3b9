namespace Sockeye.Protocol.Http;

/// <summary>One field line of a head (RFC 9112 §5).</summary>
/// <param name="Name">The field name, a token, as sent (compare it case-insensitively).</param>
/// <param name="Value">The field value with its surrounding whitespace trimmed, decoded as Latin-1 (obs-text kept).</param>
public readonly record struct HttpHeaderField(string Name, string Value);
