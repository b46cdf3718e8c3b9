using Xunit.Abstractions;

namespace Sockeye.Bench.Tests;

/// <summary>
/// The fixed-load scenario's schedule (<c>FixedLoad</c>, issue 24) against the server built with the tests, at a low
/// rate for a second: every slot of the timed part is accounted for (done, missed or failed), none is run ahead of its
/// time, and the proxy's CPU was read. The bounds are loose on purpose: no speed is asserted, only that a rate a
/// fraction of what any server takes was kept for at least a quarter of its slots on a busy machine.
/// </summary>
public sealed class FixedLoadTests(ITestOutputHelper output)
{
    // The scenario's own untimed second: a fresh server compiles its paths on the first tunnels.
    private static readonly TimeSpan WarmUp = FixedLoad.WarmUp;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task PacedPingPong_KeepsItsSchedule_AndReadsTheProxyCpu()
    {
        using var targets = new Targets();
        await using ProxyUnderTest sockeye = await StartSockeyeAsync();

        FixedLoad.Result result = await FixedLoad.PingPongAsync(sockeye, targets, 200, WarmUp, Duration).WaitAsync(RunLimit);

        AssertScheduleKept(result, expectedSlots: 200);
        Assert.Equal(0, result.Errors);
        Assert.True(double.IsFinite(result.CpuPercent) && result.CpuPercent >= 0, $"CPU {result.CpuPercent}");

        // The reading is of the live process: a started server has used some CPU.
        Assert.True(sockeye.CpuSeconds() > 0, "no CPU time read for the server");
    }

    [Fact]
    public async Task PacedTunnels_KeepTheirSchedule_WithoutErrors()
    {
        using var targets = new Targets();
        await using ProxyUnderTest sockeye = await StartSockeyeAsync();

        FixedLoad.Result result = await FixedLoad.TunnelsAsync(sockeye, targets, 50, WarmUp, Duration).WaitAsync(RunLimit);

        AssertScheduleKept(result, expectedSlots: 50);
        Assert.Equal(0, result.Errors + result.WarmUpErrors);
        Assert.True(double.IsFinite(result.CpuPercent) && result.CpuPercent >= 0, $"CPU {result.CpuPercent}");
    }

    private void AssertScheduleKept(FixedLoad.Result result, long expectedSlots)
    {
        output.WriteLine($"{result}; achieved {result.AchievedPerSecond:0.0}/s, proxy CPU {result.CpuPercent:0.0} %");
        Assert.Equal(expectedSlots, result.Slots);
        Assert.Equal(result.Slots, result.Done + result.Missed + result.Errors);

        // The timed part ends at its last slot's end, never before: the schedule is not run faster than offered.
        Assert.True(result.Seconds >= Duration.TotalSeconds, $"the timed part lasted {result.Seconds} s");

        // Loose: a rate this low is a small fraction of what any server takes, but a shared machine can stall a few
        // hundred milliseconds (the longest operation is in the output).
        Assert.InRange(result.Done, expectedSlots / 4, expectedSlots);
    }

    private static Task<ProxyUnderTest> StartSockeyeAsync() =>
        ProxyUnderTest.StartSockeyeAsync("sockeye", BenchProcess.SockeyeDll, cpus: null, withUser: false, new Dictionary<string, string> { ["SOCKEYE_RELAYMODE"] = "splice" });
}
