using System.Runtime.Versioning;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>The splice relay's pipe pool with real pipes (Linux only: elsewhere each test is reported skipped).</summary>
[SupportedOSPlatform("linux")]
public sealed class SplicePipePoolTests
{
    [LinuxFact]
    public void Return_KeepsAtMost256Pipes_ClosesTheRest_AndRentsThePooledOnesFirst()
    {
        using var pool = new SplicePipePool(4096, maxPipes: 300);
        var rented = new List<(int ReadEnd, int WriteEnd)>();
        for (int i = 0; i < 300; i++)
        {
            Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) pipe, out _));
            rented.Add(pipe);
        }

        foreach ((int ReadEnd, int WriteEnd) pipe in rented)
        {
            pool.Return(pipe);
        }

        Assert.Equal(256, pool.PipesOpen);

        // The 256 pooled pipes come back before any new one is made.
        var again = new HashSet<int>();
        for (int i = 0; i < 256; i++)
        {
            Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) pipe, out _));
            again.Add(pipe.ReadEnd);
        }

        Assert.Equal(256, again.Count);
        Assert.Equal(256, pool.PipesOpen);
        Assert.True(pool.TryRent(out _, out _));
        Assert.Equal(257, pool.PipesOpen);
    }

    [LinuxFact]
    public async Task ReturnAndRent_FromSeveralThreadsAtOnce_KeepTheCountOfOpenPipesExact()
    {
        using var pool = new SplicePipePool(4096, maxPipes: 64);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int round = 0; round < 2_000; round++)
            {
                if (pool.TryRent(out (int ReadEnd, int WriteEnd) pipe, out _))
                {
                    pool.Return(pipe);
                }
            }
        })));

        // Every pipe was returned: all of them are pooled, none is lost or counted twice.
        int open = pool.PipesOpen;
        Assert.InRange(open, 1, 4);
        var pooled = new HashSet<int>();
        for (int i = 0; i < open; i++)
        {
            Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) pipe, out _));
            pooled.Add(pipe.ReadEnd);
        }

        Assert.Equal(open, pooled.Count);
        Assert.Equal(open, pool.PipesOpen);
    }
}
