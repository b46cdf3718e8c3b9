using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

public class AdaptivePollingTests
{
    [Fact]
    public void New_Polls()
    {
        var polling = new AdaptivePolling(seed: 1);

        Assert.True(polling.IsPolling);
        Assert.True(polling.ShouldPoll());
        Assert.Equal(1.0, polling.ShareWithinWindow);
    }

    [Fact]
    public void GapsThatAlternateShortAndLong_StopThePolling_AndKeepItStopped()
    {
        // A ping-pong paced slower than the loop's round trip: the answer comes within the window, the next request does not.
        var polling = new AdaptivePolling(seed: 7);
        bool found = true;
        int polled = 0;
        for (int gap = 0; gap < 10_000; gap++)
        {
            if (polling.ShouldPoll())
            {
                polled++;
                polling.OnPolled(found);
            }

            found = !found;
        }

        Assert.False(polling.IsPolling);
        Assert.InRange(polling.ShareWithinWindow, 0.3, 0.7);

        // Once asleep, only the samples poll: about one gap in ProbeOneIn.
        Assert.InRange(polled, 10_000 / AdaptivePolling.ProbeOneIn / 2, 10_000 / AdaptivePolling.ProbeOneIn * 2);
    }

    [Fact]
    public void ALightStreamOfTunnels_SixShortGapsThenALongOne_StopsThePolling()
    {
        // The share hovers around 6/7, under the threshold that stops the polling, but samples can lift it over the one
        // that starts it for a while: most gaps, not every one, are slept through.
        var polling = new AdaptivePolling(seed: 3);
        int polled = 0;
        const int Gaps = 70_000;
        for (int gap = 0; gap < Gaps; gap++)
        {
            if (polling.ShouldPoll())
            {
                polled++;
                polling.OnPolled(foundWork: gap % 7 != 6);
            }
        }

        Assert.InRange(polled, 0, Gaps / 4);
    }

    [Fact]
    public void NearlyEveryGapShort_KeepsPolling_ThroughAnOccasionalLongOne()
    {
        var polling = new AdaptivePolling(seed: 5);
        for (int gap = 0; gap < 10_000; gap++)
        {
            Assert.True(polling.ShouldPoll());
            polling.OnPolled(foundWork: gap % 50 != 49);
            Assert.True(polling.IsPolling);
        }
    }

    [Fact]
    public void AfterSleeping_ShortGapsFoundBySamples_StartThePollingAgain()
    {
        var polling = new AdaptivePolling(seed: 11);
        for (int gap = 0; gap < 100; gap++)
        {
            polling.OnPolled(foundWork: false);
        }

        Assert.False(polling.IsPolling);

        int gaps = 0;
        while (!polling.IsPolling && gaps < 100_000)
        {
            gaps++;
            if (polling.ShouldPoll())
            {
                polling.OnPolled(foundWork: true);
            }
        }

        Assert.True(polling.IsPolling);

        // From no short gap at all to polling takes about 45 samples (the share from 0 to 15/16 at a weight of 1/16):
        // about 45 * ProbeOneIn gaps, a tenth of a second of a busy loop's time.
        Assert.InRange(gaps, 20 * AdaptivePolling.ProbeOneIn, 100 * AdaptivePolling.ProbeOneIn);
    }

    [Fact]
    public void Samples_AreNotLockedToEveryOtherGap()
    {
        // A load whose gaps alternate must be sampled on both kinds, or the share would read 0 or 1.
        var polling = new AdaptivePolling(seed: 13);
        for (int gap = 0; gap < 100; gap++)
        {
            polling.OnPolled(foundWork: false);
        }

        int sampledEven = 0;
        int sampledOdd = 0;
        const int Gaps = 1_000 * AdaptivePolling.ProbeOneIn;
        for (int gap = 0; gap < Gaps; gap++)
        {
            if (polling.ShouldPoll())
            {
                if (gap % 2 == 0)
                {
                    sampledEven++;
                }
                else
                {
                    sampledOdd++;
                }
            }
        }

        // About 500 of each.
        Assert.InRange(sampledEven, 250, 750);
        Assert.InRange(sampledOdd, 250, 750);
    }

    [Fact]
    public void BatchesOfOneEvent_LeaveTheDecisionToTheGaps()
    {
        // A lone client: each batch one event, the odd one with two (a FIN and the other side's data).
        var polling = new AdaptivePolling(seed: 17);
        for (int batch = 0; batch < 10_000; batch++)
        {
            OnBusyBatch(ref polling, batch % 100 == 99 ? 2 : 1);
            Assert.True(polling.ShouldPoll());
            polling.OnPolled(foundWork: true);
            Assert.False(polling.IsConcurrent);
            Assert.True(polling.IsPolling);
        }
    }

    [Fact]
    public void BatchesOfSeveralEvents_StopThePolling_ThoughEveryGapIsShort()
    {
        // 16 tunnel workers through a polling loop: about half the batches hold two or more events.
        var polling = new AdaptivePolling(seed: 19);
        for (int batch = 0; batch < 100; batch++)
        {
            OnBusyBatch(ref polling, batch % 2 == 0 ? 3 : 1);
            if (polling.ShouldPoll())
            {
                polling.OnPolled(foundWork: true);
            }
        }

        Assert.True(polling.IsConcurrent);
        Assert.False(polling.IsPolling);
        Assert.InRange(polling.ShareOfMultiEventBatches, 0.25, 0.75);

        // While the load stays concurrent no gap is polled, not even as a sample.
        for (int batch = 0; batch < 100 * AdaptivePolling.ProbeOneIn; batch++)
        {
            OnBusyBatch(ref polling, batch % 2 == 0 ? 3 : 1);
            Assert.False(polling.ShouldPoll());
        }
    }

    [Fact]
    public void ATwoEventBatchNowAndThen_DoesNotStopThePolling()
    {
        // One batch in 20 with two events: the share settles near 1/20, under the 1/4 that calls the load concurrent.
        var polling = new AdaptivePolling(seed: 23);
        for (int batch = 0; batch < 10_000; batch++)
        {
            OnBusyBatch(ref polling, batch % 20 == 0 ? 2 : 1);
            Assert.False(polling.IsConcurrent);
        }

        Assert.True(polling.IsPolling);
    }

    [Fact]
    public void WhenTheLoadTurnsSerialAgain_PollingResumes_WithTheGapShareItHadLeft()
    {
        var polling = new AdaptivePolling(seed: 29);
        for (int batch = 0; batch < 100; batch++)
        {
            OnBusyBatch(ref polling, 4);
        }

        Assert.True(polling.IsConcurrent);
        Assert.False(polling.ShouldPoll());

        // Between 1/4 and 1/8 the load still counts as concurrent: a share near one threshold does not switch every batch.
        int batches = 0;
        while (polling.IsConcurrent && batches < 1_000)
        {
            batches++;
            OnBusyBatch(ref polling, 1);
        }

        // From a share of 1 to under 1/8 at a weight of 1/16: about 33 batches.
        Assert.InRange(batches, 20, 50);
        Assert.True(polling.IsPolling);
        Assert.True(polling.ShouldPoll());
    }

    [Fact]
    public void ALoneRoundTripBackToBack_AThirdOfTheTimeBusy_StopsThePolling_ThoughEveryGapIsShort()
    {
        // A lone 64-byte ping-pong: about 12 µs handling each event, 26 µs polling for the next, every poll finding it.
        // Polling would keep a core busy for what costs a sleeping loop a third of one: the loop sleeps, and does not
        // even sample (the gap share is not what keeps it asleep).
        var polling = new AdaptivePolling(seed: 31);
        int batches = 0;
        for (; batches < 1_000 && polling.IsPolling; batches++)
        {
            polling.OnBatch(1, busyTicks: 12, waitedTicks: 26);
            if (polling.ShouldPoll())
            {
                polling.OnPolled(foundWork: true);
            }
        }

        Assert.False(polling.IsBusy);
        Assert.False(polling.IsPolling);
        Assert.InRange(batches, 5, 40);
        Assert.Equal(1.0, polling.ShareWithinWindow, 2);

        // Asleep, the same load's batches are further apart still (the wake-up is in the wait).
        for (int batch = 0; batch < 100 * AdaptivePolling.ProbeOneIn; batch++)
        {
            polling.OnBatch(1, busyTicks: 12, waitedTicks: 55);
            Assert.False(polling.ShouldPoll());
        }

        Assert.InRange(polling.ShareBusy, 0.1, 0.3);
    }

    [Fact]
    public void ALoopBusyMostOfItsTime_KeepsPolling()
    {
        // A bulk stream: each splice takes longer than the wait for the next readiness.
        var polling = new AdaptivePolling(seed: 37);
        for (int batch = 0; batch < 10_000; batch++)
        {
            polling.OnBatch(1, busyTicks: 20, waitedTicks: 6);
            Assert.True(polling.ShouldPoll());
            polling.OnPolled(foundWork: true);
            Assert.True(polling.IsPolling);
        }

        Assert.InRange(polling.ShareBusy, 0.7, 0.8);
    }

    [Fact]
    public void BetweenTheThresholds_TheBusyStateHolds_AndALoadThatTurnsBusy_IsPolledAgain()
    {
        var polling = new AdaptivePolling(seed: 41);

        // Busy 45 % of the time: under the 1/2 that makes a loop busy, over the 3/8 that makes it idle again.
        for (int batch = 0; batch < 1_000; batch++)
        {
            polling.OnBatch(1, busyTicks: 45, waitedTicks: 55);
            Assert.True(polling.IsBusy);
        }

        int idleAfter = 0;
        for (; idleAfter < 1_000 && polling.IsBusy; idleAfter++)
        {
            polling.OnBatch(1, busyTicks: 10, waitedTicks: 90);
        }

        Assert.InRange(idleAfter, 1, 40);
        Assert.False(polling.ShouldPoll());

        // 45 % again: an idle loop stays idle until the share reaches 1/2.
        for (int batch = 0; batch < 1_000; batch++)
        {
            polling.OnBatch(1, busyTicks: 45, waitedTicks: 55);
            Assert.False(polling.IsBusy);
        }

        int busyAfter = 0;
        for (; busyAfter < 1_000 && !polling.IsBusy; busyAfter++)
        {
            polling.OnBatch(1, busyTicks: 80, waitedTicks: 20);
        }

        Assert.InRange(busyAfter, 1, 40);

        // The gap share was left where it was while the loop slept for being idle: every gap short, so it polls at once.
        Assert.True(polling.IsPolling);
        Assert.True(polling.ShouldPoll());
    }

    [Fact]
    public void ABatchAfterALongSleep_CountsAsWaiting_AndAClockThatStood_AsBusy()
    {
        var polling = new AdaptivePolling(seed: 43);
        polling.OnBatch(1, busyTicks: 10, waitedTicks: TimeSpan.TicksPerDay * 365);
        Assert.InRange(polling.ShareBusy, 0.93, 0.94);

        // Two reads of a coarse clock can be equal: such a batch moves the share towards busy, never divides by zero.
        polling.OnBatch(1, busyTicks: 0, waitedTicks: 0);
        Assert.InRange(polling.ShareBusy, 0.93, 0.95);
    }

    /// <summary>A batch of a loop busy three quarters of its time, which leaves the decision to the gaps and the batches.</summary>
    private static void OnBusyBatch(ref AdaptivePolling polling, int events) => polling.OnBatch(events, busyTicks: 3, waitedTicks: 1);
}
