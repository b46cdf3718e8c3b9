using System.Net;

namespace Sockeye.Server.Configuration;

/// <summary>
/// A listener behind a load balancer that speaks HAProxy's PROXY protocol (versions 1 and 2): every connection starts
/// with a header that gives the real client's address, which Sockeye then uses for everything (rules, limits, login
/// throttling, logs, metrics, the status report). Set per listener in <see cref="SockeyeServerOptions.ProxyProtocol"/>.
/// </summary>
/// <remarks>
/// Only the balancers in <see cref="TrustedProxies"/> may send a header: a connection from anywhere else is closed
/// unheard, since a header it sent would let it pose as any address. A connection whose header is missing, malformed
/// or later than the handshake timeout is closed too. A version 2 LOCAL header (a balancer's health check) is accepted
/// and the connection closed without a request.
/// </remarks>
public sealed class ProxyProtocolOptions
{
    /// <summary>The networks or addresses of the balancers allowed to send a header. At least one is required.</summary>
    public IList<IPNetwork> TrustedProxies { get; } = new List<IPNetwork>();

    /// <summary>Whether <paramref name="address"/> (IPv4-mapped IPv6 addresses as IPv4) is one of <see cref="TrustedProxies"/>.</summary>
    public bool Trusts(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (IPNetwork network in TrustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
