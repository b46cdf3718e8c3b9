using System.Net;

namespace Sockeye.Server.Configuration;

/// <summary>Where the server's own connections to destinations come from.</summary>
public sealed class OutboundOptions
{
    /// <summary>The source address of outgoing IPv4 connections and datagrams (CONNECT, UDP ASSOCIATE).</summary>
    /// <remarks>Defaults to <see langword="null"/>: the kernel picks it from the route.</remarks>
    public IPAddress? BindAddressV4 { get; set; }

    /// <summary>The source address of outgoing IPv6 connections and datagrams (CONNECT, UDP ASSOCIATE).</summary>
    /// <remarks>Defaults to <see langword="null"/>: the kernel picks it from the route.</remarks>
    public IPAddress? BindAddressV6 { get; set; }

    /// <summary>The configured source address for <paramref name="family"/>'s connections, if any.</summary>
    public IPAddress? For(System.Net.Sockets.AddressFamily family) =>
        family == System.Net.Sockets.AddressFamily.InterNetwork ? BindAddressV4 : BindAddressV6;
}
