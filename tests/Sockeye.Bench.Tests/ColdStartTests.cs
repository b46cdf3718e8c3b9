namespace Sockeye.Bench.Tests;

/// <summary>The warmup scenario's reading of a per-second series: the steady state and when the rate settled to it.</summary>
public sealed class ColdStartTests
{
    [Fact]
    public void AFlatSeries_IsSettledFromTheFirstSecond()
    {
        double[] perSecond = [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000];

        Assert.Equal(1000, ColdStart.SteadyMean(perSecond));
        Assert.Equal(1, ColdStart.SecondsUntilSettled(perSecond));
    }

    [Fact]
    public void ARisingSeries_SettlesAtTheFirstSecondFromWhichAllAreWithinTenPercent()
    {
        // Steady mean 1000; second 3 (850) is 15 % short, second 4 (920) 8 %.
        double[] perSecond = [300, 600, 850, 920, 1050, 980, 1000, 1010, 1010, 1000];

        Assert.Equal(1000, ColdStart.SteadyMean(perSecond));
        Assert.Equal(4, ColdStart.SecondsUntilSettled(perSecond));
    }

    [Fact]
    public void ADipAfterReachingTheSteadyState_MovesTheSettledSecondPastIt()
    {
        // Second 2 is already at speed, but second 5 dips 20 %: every later second must be within the tolerance.
        double[] perSecond = [500, 1000, 1000, 1000, 800, 1000, 1000, 1000, 1000, 1000];

        Assert.Equal(6, ColdStart.SecondsUntilSettled(perSecond));
    }

    [Fact]
    public void ExactlyTenPercentOff_CountsAsWithin()
    {
        double[] perSecond = [900, 1000, 1000, 1000, 1000, 1000];

        Assert.Equal(1, ColdStart.SecondsUntilSettled(perSecond));
    }

    [Fact]
    public void ASeriesThatNeverSettles_HasNoSettledSecond()
    {
        // Still climbing steeply: the last second is 25 % above the last five seconds' mean of 800.
        double[] perSecond = [100, 200, 400, 600, 700, 800, 900, 1000];

        Assert.Equal(800, ColdStart.SteadyMean(perSecond));
        Assert.Null(ColdStart.SecondsUntilSettled(perSecond));
    }

    [Fact]
    public void AShortSeries_TakesItsMeanOverAllItsSeconds()
    {
        double[] perSecond = [100, 1000, 1000];

        Assert.Equal(700, ColdStart.SteadyMean(perSecond));
        Assert.Null(ColdStart.SecondsUntilSettled(perSecond));
    }

    [Fact]
    public void AnEmptySeries_NeverSettles()
    {
        Assert.Equal(0, ColdStart.SteadyMean([]));
        Assert.Null(ColdStart.SecondsUntilSettled([]));
    }

    [Fact]
    public void TheSection_GivesMediansAndNeverForRunsThatDidNotSettle()
    {
        ColdStartRun settled = new(80, [500, 1000, 1000, 1000, 1000, 1000], 1.5, 0);
        ColdStartRun unsettled = new(120, [100, 200, 400, 600, 700, 800, 900, 1000], 2.5, 1);

        string section = ColdStart.Section([("sockeye (r2r)", [settled]), ("sockeye (jit)", [unsettled, unsettled, settled])], loadSeconds: 8, generatorWarmUpSeconds: 15);

        Assert.StartsWith("## Warm-up from a cold start", section, StringComparison.Ordinal);
        Assert.Contains("| Figure | Unit | sockeye (r2r) | sockeye (jit) |", section, StringComparison.Ordinal);
        Assert.Contains("| Time to listen | ms | 80 | 120 |", section, StringComparison.Ordinal);
        Assert.Contains("| Tunnels/s in second 1 | tunnels/s | 500 | 100 |", section, StringComparison.Ordinal);
        Assert.Contains("| Tunnels/s in second 20 | tunnels/s | — | — |", section, StringComparison.Ordinal);
        Assert.Contains("| Seconds until within 10 % of that mean | s | 2 | never |", section, StringComparison.Ordinal);
        Assert.Contains("| Proxy CPU from start to the end of the 8 s | CPU s | 1.50 | 2.50 |", section, StringComparison.Ordinal);
    }
}
