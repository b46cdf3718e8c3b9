namespace Sockeye.Client.Handshake;

/// <summary>A proxy and its place in the chain, for messages: "127.0.0.1:1081 (hop 2 of 2)".</summary>
/// <param name="Proxy">The proxy.</param>
/// <param name="Index">Its zero-based position in the chain.</param>
/// <param name="Count">The number of proxies in the chain.</param>
internal readonly record struct HopContext(Socks5Proxy Proxy, int Index, int Count)
{
    public override string ToString() => Count == 1 ? Proxy.ToString() : $"{Proxy} (hop {Index + 1} of {Count})";
}
