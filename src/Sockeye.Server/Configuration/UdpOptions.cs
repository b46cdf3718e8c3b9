using System.Net;

namespace Sockeye.Server.Configuration;

/// <summary>Settings of the UDP ASSOCIATE command (RFC 1928 §7).</summary>
public sealed class UdpOptions
{
    /// <summary>
    /// The address announced in the UDP ASSOCIATE reply instead of the server's own: for a server behind NAT or a load
    /// balancer, the address clients can send datagrams to. The relay socket is still bound on the server's address.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the local address of the client's control connection.</remarks>
    public IPAddress? AdvertiseAddress { get; set; }

    /// <summary>
    /// The largest datagram payload relayed; larger ones are truncated by the socket and dropped. Each association holds
    /// one receive buffer of this size per socket for its lifetime.
    /// </summary>
    /// <remarks>Defaults to 65507, the largest UDP payload over IPv4.</remarks>
    public int MaxDatagramBytes { get; set; } = 65507;

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
