namespace Sockeye.Server.Limits;

/// <summary>
/// The process's open-file limit, divided between what clients may make the server hold and what it must keep for
/// itself. Every session takes its descriptors from the budget before it opens them: one for a handshake, two for a
/// tunnel or a BIND wait, four for a UDP association. When the budget is spent a new connection is closed right after
/// accept, and a request that would need more is answered X'01'.
/// </summary>
/// <remarks>
/// <para>
/// Clients must never get the last descriptors. The runtime needs some of its own at unpredictable moments: starting a
/// thread reads <c>/proc/stat</c> and creates a pipe, and when that fails with EMFILE the runtime aborts the process
/// ("Out of memory.", exit 134), dropping every tunnel. So the budget is the limit less a reserve for the runtime,
/// the listeners, the logs, name lookups and the brief overlaps a budget per session does not see (a BIND's peer
/// arriving before its listener closes), less what splice pipes may hold.
/// </para>
/// <para>Thread-safe: one per server, shared by every session.</para>
/// </remarks>
internal sealed class DescriptorBudget
{
    /// <summary>Descriptors of a session in its handshake: the client's connection.</summary>
    public const int HandshakeDescriptors = 1;

    /// <summary>Descriptors of a tunnel (client and destination) or a BIND wait (client and listener).</summary>
    public const int TunnelDescriptors = 2;

    /// <summary>Descriptors of a UDP association: its control connection, the client-facing socket, and one outbound socket per address family.</summary>
    public const int UdpAssociationDescriptors = 4;

    /// <summary>Kept for the runtime, listeners, logs and name lookups, never given to clients.</summary>
    public const int RuntimeReserve = 256;

    /// <summary>The most splice pipes the server creates (two descriptors each); beyond it a tunnel copies through a buffer instead.</summary>
    public const int MaxSplicePipes = 1024;

    private readonly long _capacity;
    private long _inUse;
    private long _refused;

    private DescriptorBudget(long openFileLimit, long capacity, int splicePipes)
    {
        OpenFileLimit = openFileLimit;
        _capacity = capacity;
        SplicePipes = splicePipes;
    }

    /// <summary>A budget with no limit: off Linux, or where the limit is too large to matter.</summary>
    public static DescriptorBudget Unlimited { get; } = new(long.MaxValue, long.MaxValue, MaxSplicePipes);

    /// <summary>
    /// Divides <paramref name="openFileLimit"/>: the runtime's reserve first, then up to a fifth of the rest (and at most
    /// <see cref="MaxSplicePipes"/> pipes) for splice pipes, and what remains for sessions.
    /// </summary>
    public static DescriptorBudget FromLimit(long openFileLimit)
    {
        if (openFileLimit >= int.MaxValue)
        {
            return Unlimited;
        }

        long afterReserve = Math.Max(0, openFileLimit - RuntimeReserve);
        int pipes = (int)Math.Min(MaxSplicePipes, afterReserve / 5 / 2);
        return new DescriptorBudget(openFileLimit, afterReserve - (2L * pipes), pipes);
    }

    /// <summary>Reads this process's soft open-file limit and divides it; <see cref="Unlimited"/> off Linux.</summary>
    public static DescriptorBudget ForThisProcess() =>
        Limits.OpenFileLimit.ReadSoftLimit() is ulong limit && limit < int.MaxValue ? FromLimit((long)limit) : Unlimited;

    /// <summary>The open-file limit the budget was derived from; <see cref="long.MaxValue"/> for none.</summary>
    public long OpenFileLimit { get; }

    /// <summary>Whether a limit applies at all.</summary>
    public bool IsLimited => _capacity != long.MaxValue;

    /// <summary>Descriptors sessions may hold at once.</summary>
    public long Capacity => _capacity;

    /// <summary>Splice pipes the server may hold at once.</summary>
    public int SplicePipes { get; }

    /// <summary>Tunnels or BIND waits the budget has room for, if nothing else held descriptors.</summary>
    public long TunnelCeiling => _capacity == long.MaxValue ? long.MaxValue : _capacity / TunnelDescriptors;

    /// <summary>
    /// Handshakes that may be in progress at once: a quarter of the budget, so that a flood of silent connections, which
    /// evicts its own oldest handshakes at this cap, leaves three quarters to the tunnels.
    /// </summary>
    public long HandshakeCeiling => _capacity == long.MaxValue ? long.MaxValue : Math.Max(1, _capacity / 4);

    /// <summary>Descriptors held by sessions now.</summary>
    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>Takes of the budget refused because it was spent, since the server started.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Takes <paramref name="count"/> descriptors; <see langword="false"/>, and nothing taken, when the budget lacks them.</summary>
    public bool TryTake(int count)
    {
        if (_capacity == long.MaxValue)
        {
            Interlocked.Add(ref _inUse, count);
            return true;
        }

        long now = Interlocked.Add(ref _inUse, count);
        if (now > _capacity)
        {
            Interlocked.Add(ref _inUse, -count);
            Interlocked.Increment(ref _refused);
            return false;
        }

        return true;
    }

    /// <summary>Gives back what <see cref="TryTake"/> took, once those descriptors are closed.</summary>
    public void Give(int count) => Interlocked.Add(ref _inUse, -count);
}
