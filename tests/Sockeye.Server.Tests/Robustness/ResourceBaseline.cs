using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// What the test process holds before a hostile batch (open sockets, managed heap), so that the batch can be
/// shown to cost nothing once it is over. Read in-process from <c>/proc/self/fd</c> and the GC; the tests that use it
/// belong to <see cref="ProcessWideResources"/>, so no other test's sockets are counted.
/// </summary>
internal sealed class ResourceBaseline
{
    // The heap after a full collection wanders by a few hundred KiB between identical states (JIT'd code, pool trimming,
    // tiered compilation's counters); what a leak of one buffer or session per connection would add over a batch of
    // thousands is megabytes.
    private const long ManagedSlackBytes = 4 * 1024 * 1024;

    private ResourceBaseline(int descriptors, long managedBytes)
    {
        Descriptors = descriptors;
        ManagedBytes = managedBytes;
    }

    /// <summary>Sockets open in this process.</summary>
    public int Descriptors { get; }

    /// <summary>Managed heap after a full, compacting collection.</summary>
    public long ManagedBytes { get; }

    public static ResourceBaseline Capture() => new(CountSockets(), MeasureManagedBytes());

    /// <summary>
    /// Waits (bounded) until the server has no session left and the process holds no more sockets than at
    /// the baseline and about the same managed heap; fails with what is still held otherwise.
    /// </summary>
    public async Task AssertReturnedAsync(SockeyeServer server, TimeSpan? within = null)
    {
        DateTime deadline = DateTime.UtcNow + (within ?? TestTimeouts.Default);
        int descriptors;
        do
        {
            descriptors = CountSockets();
            if (server.ActiveSessionCount == 0 && descriptors <= Descriptors)
            {
                break;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal(0, server.ActiveSessionCount);
        Assert.True(descriptors <= Descriptors, $"{descriptors - Descriptors} socket(s) leaked ({Descriptors} before, {descriptors} after)");

        // Measured again until the deadline: the last sockets' completions may still be on their way through the
        // thread pool, holding what they read, when the count of sockets is already back. A leak stays.
        long first = MeasureManagedBytes();
        long managed = first;
        while (managed > ManagedBytes + ManagedSlackBytes && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            managed = MeasureManagedBytes();
        }

        Assert.True(managed <= ManagedBytes + ManagedSlackBytes,
            $"managed heap {managed / 1024} KiB after the batch (first {first / 1024} KiB) against {ManagedBytes / 1024} KiB before");
    }

    /// <summary>
    /// Open sockets. Other descriptors are not the batch's: assemblies load on first use, and the splice pipe pool keeps
    /// the pipes it has made for the next tunnel (up to its cap, which its own tests check).
    /// </summary>
    public static int CountSockets()
    {
        int count = 0;
        foreach (string descriptor in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                string? target = new FileInfo(descriptor).LinkTarget;
                if (target is not null && target.StartsWith("socket:", StringComparison.Ordinal))
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked: it is not open.
            }
        }

        return count;
    }

    private static long MeasureManagedBytes()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
