using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Configuration;

/// <summary>Settings of the UDP ASSOCIATE command (RFC 1928 §7).</summary>
public sealed class UdpOptions
{
    /// <summary>
    /// One address announced in the UDP ASSOCIATE reply instead of the server's own, for every relay whatever its
    /// family: for a server behind NAT or a load balancer, the address clients can send datagrams to. Setting it puts it
    /// in the slot of its family (<see cref="AdvertiseAddressV4"/> or <see cref="AdvertiseAddressV6"/>) and empties the
    /// other, so that it serves relays of both families; reading it gives the IPv4 slot, else the IPv6 one.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the local address of the client's control connection.</remarks>
    public IPAddress? AdvertiseAddress
    {
        get => AdvertiseAddressV4 ?? AdvertiseAddressV6;
        set
        {
            AdvertiseAddressV4 = value?.AddressFamily == AddressFamily.InterNetwork ? value : null;
            AdvertiseAddressV6 = value?.AddressFamily == AddressFamily.InterNetworkV6 ? value : null;
        }
    }

    /// <summary>
    /// The address announced for a relay socket of IPv4 (the client reached the server over IPv4), instead of the
    /// server's own; also for an IPv6 relay when <see cref="AdvertiseAddressV6"/> is not set (see <see cref="AdvertiseAddressFor"/>).
    /// The relay socket is still bound on the server's address.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>.</remarks>
    public IPAddress? AdvertiseAddressV4 { get; set; }

    /// <summary>
    /// The address announced for a relay socket of IPv6, instead of the server's own; also for an IPv4 relay when
    /// <see cref="AdvertiseAddressV4"/> is not set (see <see cref="AdvertiseAddressFor"/>).
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>.</remarks>
    public IPAddress? AdvertiseAddressV6 { get; set; }

    /// <summary>
    /// The ports the relay sockets (those clients send their datagrams to, whose port the reply announces) are bound
    /// to, so that a firewall or a load balancer can open exactly these. A port serves one association at a time, on
    /// whatever address: the range's size is how many associations can be open at once, and a request beyond it is
    /// answered X'01'. The sockets toward destinations still take an ephemeral port.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: an ephemeral port the kernel picks.</remarks>
    public PortRange? PortRange { get; set; }

    /// <summary>
    /// The address to announce for a relay socket of <paramref name="family"/>: that family's advertised address, else
    /// the other family's (one address serves every relay, as behind a load balancer that takes IPv4 and reaches the
    /// server over IPv6), else <see langword="null"/> (announce the relay socket's own).
    /// </summary>
    public IPAddress? AdvertiseAddressFor(AddressFamily family) => family == AddressFamily.InterNetwork
        ? AdvertiseAddressV4 ?? AdvertiseAddressV6
        : AdvertiseAddressV6 ?? AdvertiseAddressV4;

    /// <summary>
    /// The largest datagram payload relayed; larger ones are truncated by the socket and dropped. Each association holds
    /// one receive buffer of this size per socket for its lifetime.
    /// </summary>
    /// <remarks>Defaults to 65507, the largest UDP payload over IPv4.</remarks>
    public int MaxDatagramBytes { get; set; } = 65507;

    /// <summary>
    /// Whether the Linux engine sends a run of datagrams of one length to one address as one segmented message that the
    /// kernel (or the network card) cuts back into those datagrams (UDP generic segmentation offload, Linux 4.18 and
    /// later): one pass through the network stack for the run. Receivers get the same datagrams either way; a packet
    /// capture on this host shows the run as one large packet before it is cut. Where the kernel refuses it on a path
    /// (an MTU below the datagrams, a device that cannot segment) the association falls back to one datagram per
    /// message by itself; turning it off is for a device whose driver mishandles segmented packets.
    /// </summary>
    /// <remarks>Defaults to <see langword="true"/>. Read at start: a reload that changes it keeps the value in force.</remarks>
    public bool SegmentationOffload { get; set; } = true;

    /// <summary>
    /// An association with no datagram in either direction for this long is closed, with its control connection. While
    /// an association lives, this replaces <see cref="SockeyeServerOptions.IdleTimeout"/> for its control connection,
    /// which is silent by design.
    /// </summary>
    /// <remarks>
    /// Defaults to 5 minutes, the same as the TCP idle timeout. <see cref="TimeSpan.Zero"/> or
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables it; then an association lasts as long as its control connection.
    /// </remarks>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
}
