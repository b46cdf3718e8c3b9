namespace Sockeye.Server.Configuration;

/// <summary>Caps on what clients can hold at once. Zero means no cap.</summary>
public sealed class LimitsOptions
{
    /// <summary>
    /// Handshakes in progress at once. When a new client arrives at the cap, the oldest unfinished handshake is closed to
    /// make room: a flood of idle connections then only evicts itself, while a client that completes its handshake in
    /// milliseconds is still served.
    /// </summary>
    /// <remarks>Defaults to 1024. Zero removes the cap; then idle connections are bounded only by the handshake timeout.</remarks>
    public int MaxHandshakes { get; set; } = 1024;

    /// <summary>Sessions (tunnels, BIND waits, UDP associations) open at once. A request beyond it is answered X'01'.</summary>
    /// <remarks>Defaults to 0: no cap beyond the open-file limit.</remarks>
    public int MaxSessions { get; set; }

    /// <summary>Sessions one authenticated user may hold at once. A request beyond it is answered X'01'.</summary>
    /// <remarks>Defaults to 0: no cap.</remarks>
    public int MaxSessionsPerUser { get; set; }

    /// <summary>Sessions one client IP address may hold at once. A request beyond it is answered X'01'.</summary>
    /// <remarks>Defaults to 0: no cap.</remarks>
    public int MaxSessionsPerClientAddress { get; set; }
}
