using System.Diagnostics;

namespace Sockeye.Bench.Tests;

/// <summary>The CPU figures the generator reads from /proc for a server's process tree.</summary>
public sealed class ProcessStatsTests
{
    [Fact]
    public void CpuTimes_CountWorkInUserSpace_AsPartOfTheTotal()
    {
        int self = Environment.ProcessId;
        (double totalBefore, double userBefore) = ProcessStats.CpuTimes(self);

        // Arithmetic and no system call: user time, which the kernel's tick samples must see. Until a fifth of a second of
        // it is counted, at most 20 s: tests running beside this one may take the core for a while.
        var clock = Stopwatch.StartNew();
        ulong state = 88172645463325252UL;
        while (ProcessStats.CpuTimes(self).User - userBefore < 0.2 && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            for (int i = 0; i < 1_000_000; i++)
            {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
            }
        }

        (double totalAfter, double userAfter) = ProcessStats.CpuTimes(self);
        double total = totalAfter - totalBefore;
        double user = userAfter - userBefore;
        Assert.NotEqual(0UL, state);
        Assert.True(user >= 0.2, $"user space: {user:0.00} s after {clock.Elapsed.TotalSeconds:0.0} s of arithmetic");

        // Both are read at tick resolution (10 ms).
        Assert.True(user <= total + 0.02, $"user space {user:0.00} s is more than the total {total:0.00} s");
    }
}
