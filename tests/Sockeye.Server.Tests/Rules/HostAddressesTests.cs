using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Rules;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Rules;

public sealed class HostAddressesTests
{
    private static readonly IPAddress First = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress Second = IPAddress.Parse("2001:db8::20");

    [Fact]
    public void Refresh_PutsTheProvidersAddressesInForce()
    {
        var host = new HostAddresses(new FakeHostAddressProvider(First, Second), TimeProvider.System, new CapturingLoggerFactory().CreateLogger("test"));
        Assert.Empty(host.Snapshot);

        host.Refresh();

        Assert.True(host.Contains(First));
        Assert.True(host.Contains(Second));
        Assert.False(host.Contains(IPAddress.Parse("192.0.2.11")));
    }

    [Fact]
    public void Start_ProviderReportsAChange_NewSnapshotSwappedInAtOnce()
    {
        var provider = new FakeHostAddressProvider(First);
        using var host = new HostAddresses(provider, new FakeTimeProvider(), new CapturingLoggerFactory().CreateLogger("test"));
        host.Start();
        var before = host.Snapshot;

        provider.Change([Second]);

        Assert.False(host.Contains(First));
        Assert.True(host.Contains(Second));
        Assert.Equal(First, Assert.Single(before)); // a snapshot already handed out never changes
    }

    [Fact]
    public void Start_NoChangeNews_ListsAgainEveryRefreshInterval()
    {
        var provider = new FakeHostAddressProvider(First) { ReportsChanges = false };
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory();
        using var host = new HostAddresses(provider, time, logs.CreateLogger("test"));
        host.Start();

        provider.Change([Second], report: false);
        time.Advance(HostAddresses.RefreshInterval - TimeSpan.FromSeconds(1));
        Assert.True(host.Contains(First));
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(host.Contains(First));
        Assert.True(host.Contains(Second));
        Assert.Contains(logs.Lines, line => line.StartsWith("Information", StringComparison.Ordinal) && line.Contains("[1015]", StringComparison.Ordinal));
    }

    [Fact]
    public void Dispose_StopsWatchingAndRefreshing_KeepsTheLastSnapshot()
    {
        var provider = new FakeHostAddressProvider(First);
        var time = new FakeTimeProvider();
        var host = new HostAddresses(provider, time, new CapturingLoggerFactory().CreateLogger("test"));
        host.Start();
        Assert.Equal(1, provider.Watchers);

        host.Dispose();
        provider.Change([Second]);
        time.Advance(HostAddresses.RefreshInterval * 2);

        Assert.Equal(0, provider.Watchers);
        Assert.True(host.Contains(First));
        Assert.False(host.Contains(Second));
    }

    [Fact]
    public void Refresh_ListingFails_KeepsTheSnapshotAndLogsAWarning()
    {
        var provider = new FakeHostAddressProvider(First);
        var logs = new CapturingLoggerFactory();
        var host = new HostAddresses(provider, TimeProvider.System, logs.CreateLogger("test"));
        host.Refresh();

        provider.Failure = new NetworkInformationException(13);
        host.Refresh();

        Assert.True(host.Contains(First));
        Assert.Contains(logs.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal) && line.Contains("[1014]", StringComparison.Ordinal)
            && line.Contains("the 1 it knew", StringComparison.Ordinal));
    }

    [Fact]
    public void Refresh_OnTheTimer_ListingThrowsIOException_KeepsTheSnapshotAndTheProcess()
    {
        // At the open-file limit, reading /proc and /sys fails with an IOException; on the timer's thread an exception
        // that escaped would end the process.
        var provider = new FakeHostAddressProvider(First);
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory();
        using var host = new HostAddresses(provider, time, logs.CreateLogger("test"));
        host.Start();

        provider.Failure = new IOException("Too many open files");
        time.Advance(HostAddresses.RefreshInterval);

        Assert.True(host.Contains(First));
        Assert.Contains(logs.Lines, line => line.Contains("[1014]", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("192.0.2.7", "192.0.2.7")]
    [InlineData("192.0.2.7", "::ffff:192.0.2.7")]
    [InlineData("::ffff:192.0.2.7", "192.0.2.7")]
    [InlineData("::ffff:192.0.2.7", "::ffff:192.0.2.7")]
    [InlineData("fe80::1%3", "fe80::1")]
    [InlineData("2001:db8::5", "2001:db8::5")]
    public void Contains_MatchesEveryFormOfAHostAddress(string reported, string asked)
    {
        var host = new HostAddresses(new FakeHostAddressProvider(IPAddress.Parse(reported)), TimeProvider.System, new CapturingLoggerFactory().CreateLogger("test"));
        host.Refresh();

        Assert.True(host.Contains(IPAddress.Parse(asked)));
    }
}
