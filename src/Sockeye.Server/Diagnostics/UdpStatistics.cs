namespace Sockeye.Server.Diagnostics;

/// <summary>
/// What the UDP relays of one server did with datagrams, counted across all associations. One instance per server:
/// never static, so that two servers in a process (or two tests) never mix their numbers.
/// </summary>
public sealed class UdpStatistics
{
    private long _fromClients;
    private long _toClients;
    private long _droppedForeignSource;
    private long _droppedFragmented;
    private long _droppedMalformed;
    private long _droppedUnroutable;
    private long _droppedDenied;
    private long _droppedOverRate;
    private long _portRangeExhausted;

    /// <summary>Datagrams received from clients and forwarded to their destination.</summary>
    public long ForwardedFromClients => Volatile.Read(ref _fromClients);

    /// <summary>Datagrams received from destinations and forwarded to the client, with a header.</summary>
    public long ForwardedToClients => Volatile.Read(ref _toClients);

    /// <summary>Datagrams dropped because they came from an address or port other than the associated client's.</summary>
    public long DroppedForeignSource => Volatile.Read(ref _droppedForeignSource);

    /// <summary>Datagrams dropped because FRAG was not zero: Sockeye does not reassemble fragments (RFC 1928 §7 allows this).</summary>
    public long DroppedFragmented => Volatile.Read(ref _droppedFragmented);

    /// <summary>Datagrams dropped because their header was malformed or truncated.</summary>
    public long DroppedMalformed => Volatile.Read(ref _droppedMalformed);

    /// <summary>Datagrams dropped because their destination could not be resolved or reached.</summary>
    public long DroppedUnroutable => Volatile.Read(ref _droppedUnroutable);

    /// <summary>Datagrams dropped because the access rules deny their destination.</summary>
    public long DroppedDenied => Volatile.Read(ref _droppedDenied);
    /// <summary>
    /// Datagrams dropped because their payload did not fit the session's or its user's rate limit
    /// (<c>limits.sessionBandwidth</c>, <c>limits.userBandwidth</c>): UDP is never queued to wait for tokens.
    /// </summary>
    public long DroppedOverRate => Volatile.Read(ref _droppedOverRate);

    /// <summary>
    /// UDP ASSOCIATE requests answered X'01' because every port of <c>udp.portRange</c> was taken (by this server's
    /// associations, or by other processes).
    /// </summary>
    public long PortRangeExhausted => Volatile.Read(ref _portRangeExhausted);

    internal void CountFromClients(int datagrams) => Interlocked.Add(ref _fromClients, datagrams);

    internal void CountToClients(int datagrams) => Interlocked.Add(ref _toClients, datagrams);

    internal void CountForeignSource() => Interlocked.Increment(ref _droppedForeignSource);

    internal void CountFragmented() => Interlocked.Increment(ref _droppedFragmented);

    internal void CountMalformed() => Interlocked.Increment(ref _droppedMalformed);

    internal void CountUnroutable() => Interlocked.Increment(ref _droppedUnroutable);

    internal void CountUnroutable(int datagrams) => Interlocked.Add(ref _droppedUnroutable, datagrams);

    internal void CountDenied() => Interlocked.Increment(ref _droppedDenied);
    internal void CountOverRate() => Interlocked.Increment(ref _droppedOverRate);

    internal void CountPortRangeExhausted() => Interlocked.Increment(ref _portRangeExhausted);
}
