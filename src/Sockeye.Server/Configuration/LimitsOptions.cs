namespace Sockeye.Server.Configuration;

/// <summary>Caps on what clients can hold at once, and on how fast their tunnels move bytes. Zero means no cap.</summary>
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

    /// <summary>
    /// The most bytes per second one session may move in each direction: upload (client → destination) and download
    /// each get this rate. Applies to TCP tunnels and to UDP datagrams (a datagram over the rate is dropped).
    /// </summary>
    /// <remarks>
    /// Defaults to 0: no limit. Otherwise at least 1024. A quiet session may burst a tenth of a second of the rate; over
    /// 10 s the bytes moved stay within about 1 % of the rate.
    /// </remarks>
    public long SessionBytesPerSecond { get; set; }

    /// <summary>
    /// The most bytes per second all sessions of one authenticated user may move together, in each direction. Anonymous
    /// sessions have only <see cref="SessionBytesPerSecond"/>. When both are set, a session gets the lower of the two.
    /// </summary>
    /// <remarks>Defaults to 0: no limit. Otherwise at least 1024.</remarks>
    public long UserBytesPerSecond { get; set; }

    /// <summary>
    /// Where <see cref="MaxSessionsPerUser"/> and <see cref="UserBytesPerSecond"/> are shared with other instances; by
    /// default nowhere, and each instance limits its own sessions.
    /// </summary>
    public SharedLimitsOptions Shared { get; } = new();
}
