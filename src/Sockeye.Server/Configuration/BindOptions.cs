using System.Net;

namespace Sockeye.Server.Configuration;

/// <summary>Settings of the BIND command (RFC 1928 §4, "BIND").</summary>
public sealed class BindOptions
{
    /// <summary>
    /// The address announced in BIND's first reply instead of the server's own: for a server behind NAT or a load
    /// balancer, the address the expected peer can reach. The listening socket is still opened on the server's address.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the local address of the client's control connection.</remarks>
    public IPAddress? AdvertiseAddress { get; set; }

    /// <summary>How long BIND waits for the incoming connection before it replies X'06' and closes.</summary>
    /// <remarks>Defaults to 60 seconds.</remarks>
    public TimeSpan AcceptTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
