using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Client;

namespace Sockeye.Server.Configuration;

/// <summary>
/// How a rule's destinations are reached (<see cref="AccessRule.Route"/>): directly, or onward through an upstream proxy
/// or a chain of them, leaving this host from a chosen address or interface, with another route to try when this one
/// fails.
/// </summary>
/// <remarks>
/// Routes apply to CONNECT, from SOCKS5, SOCKS4 and HTTP clients alike (HTTP's forwarded requests too). BIND and UDP
/// ASSOCIATE do not take routes: they are served from this host.
/// </remarks>
public sealed class RouteOptions
{
    /// <summary>
    /// The upstream proxies in order: the first is connected to, each asks the next to connect, the last connects to the
    /// destination. Empty: the route is direct. Each is a SOCKS5, SOCKS4a or HTTP (CONNECT) proxy (<see cref="Socks5Proxy.Kind"/>).
    /// </summary>
    public IList<Socks5Proxy> Upstreams { get; } = new List<Socks5Proxy>();

    /// <summary>The IPv4 source address of the route's connections (to the destination, or to the first upstream).</summary>
    public IPAddress? BindAddressV4 { get; set; }

    /// <summary>The IPv6 source address of the route's connections.</summary>
    public IPAddress? BindAddressV6 { get; set; }

    /// <summary>The network interface the route's connections leave through (SO_BINDTODEVICE; Linux, and it needs CAP_NET_RAW).</summary>
    public string? Interface { get; set; }

    /// <summary>The route to try when this one fails to connect, for any reason but a rule's denial; null for none.</summary>
    public RouteOptions? Fallback { get; set; }

    /// <summary>Whether the destination is connected to from here.</summary>
    public bool IsDirect => Upstreams.Count == 0;

    /// <summary>The source address for <paramref name="family"/>, when the route sets one.</summary>
    public IPAddress? BindAddressFor(AddressFamily family) => family == AddressFamily.InterNetwork ? BindAddressV4 : BindAddressV6;

    /// <summary>The route as <c>check-config</c> shows it: <c>direct</c> or the chain, the egress, the fallback. Never a password.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        if (IsDirect)
        {
            text.Append("direct");
        }
        else
        {
            for (int i = 0; i < Upstreams.Count; i++)
            {
                Socks5Proxy upstream = Upstreams[i];
                text.Append(i == 0 ? "" : " -> ").Append(Scheme(upstream.Kind)).Append("://").Append(upstream);
            }
        }

        if (BindAddressV4 is not null || BindAddressV6 is not null)
        {
            text.Append(" from ").AppendJoin(", ", new[] { BindAddressV4, BindAddressV6 }.Where(static a => a is not null));
        }

        if (Interface is not null)
        {
            text.Append(" via ").Append(Interface);
        }

        if (Fallback is not null)
        {
            text.Append(", else ").Append(Fallback);
        }

        return text.ToString();
    }

    private static string Scheme(ProxyKind kind) => kind switch
    {
        ProxyKind.Socks4a => "socks4a",
        ProxyKind.Http => "http",
        _ => "socks5",
    };
}
