namespace Sockeye.Protocol.Http;

/// <summary>Where a proxy request goes, from <see cref="HttpRequestHead.TryGetTarget"/>.</summary>
/// <param name="Host">A registered name (lower case) or an IP literal; an IPv6 address is given without brackets.</param>
/// <param name="Port">The port; 80 when an <c>http://</c> target names none.</param>
/// <param name="PathAndQuery">"" for CONNECT; otherwise the path and query to send the origin, at least "/", the fragment dropped.</param>
public readonly record struct HttpRequestTarget(string Host, ushort Port, string PathAndQuery)
{
    /// <summary>
    /// The target's authority as a Host field value (RFC 9112 §3.2.2): the host, bracketed when it is an IPv6 address,
    /// then ":port" unless the port is 80.
    /// </summary>
    public string Authority
    {
        get
        {
            string host = Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;
            return Port == 80 ? host : $"{host}:{Port}";
        }
    }
}
