using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Handshake;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>The two addresses of a UDP association: the client's UDP socket, and the relay the proxy announces.</summary>
internal static class UdpRelayEndPoints
{
    /// <summary>
    /// A UDP socket on the control connection's local address, port chosen by the OS: the interface that reaches the
    /// proxy, so the source address the proxy sees matches what the request announces.
    /// </summary>
    public static Socket BindNextTo(Socket control)
    {
        var local = (IPEndPoint)control.LocalEndPoint!;
        IPAddress address = local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address;
        var udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            udp.Bind(new IPEndPoint(address, 0));
            return udp;
        }
        catch
        {
            udp.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Where to send datagrams: BND.ADDR:BND.PORT of the reply. An unspecified address (0.0.0.0 or ::), which some
    /// proxies send to mean "the address you reached me on", becomes the proxy's own; a name is resolved here.
    /// </summary>
    public static async Task<IPEndPoint> ResolveAsync(Socks5Reply reply, Socket control, Socket udp, HopContext hop, CancellationToken cancellationToken)
    {
        if (reply.Port == 0)
        {
            throw SocksErrors.UnreachableRelay(hop, reply.Bound.ToString(reply.Port), "has no port");
        }

        IPAddress[] candidates;
        if (reply.Bound.TryGetIPAddress(out IPAddress? announced))
        {
            if (!announced.Equals(IPAddress.Any) && !announced.Equals(IPAddress.IPv6Any))
            {
                candidates = [announced];
            }
            else if (hop.Count == 1)
            {
                candidates = [((IPEndPoint)control.RemoteEndPoint!).Address];
            }
            else
            {
                candidates = await hop.Proxy.ResolveAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            try
            {
                candidates = await Dns.GetHostAddressesAsync(reply.Bound.DomainName!, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw SocksErrors.UnreachableRelay(hop, reply.Bound.ToString(reply.Port), $"does not resolve ({e.SocketErrorCode})");
            }
        }

        foreach (IPAddress candidate in candidates)
        {
            IPAddress address = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
            if (address.AddressFamily == udp.AddressFamily)
            {
                return new IPEndPoint(address, reply.Port);
            }
        }

        throw SocksErrors.UnreachableRelay(hop, reply.Bound.ToString(reply.Port),
            $"has no {(udp.AddressFamily == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address, the family of the control connection");
    }
}
