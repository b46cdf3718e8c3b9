using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Transport.Linux;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

/// <summary>UDP ASSOCIATE end to end, on the event loop (splice mode, Linux) and with awaiting receives (copy mode).</summary>
public abstract class UdpAssociationTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    /// <summary>The relay mode under test: on Linux, splice serves associations on an event loop, copy awaits receives.</summary>
    protected abstract RelayEngine Mode { get; }

    private Task<TestServer> StartServerAsync(Action<SockeyeServerOptions>? configure = null, IHostResolver? resolver = null,
        IPAddress? listenAddress = null, TimeProvider? timeProvider = null) =>
        TestServer.StartAsync(
            options =>
            {
                options.RelayEngine = Mode;
                configure?.Invoke(options);
            },
            resolver,
            listenAddress,
            timeProvider);

    [Fact]
    public async Task Associate_ToIPv4Destination_EchoComesBackWithSourceHeader()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        Assert.Equal(new byte[] { 5, 0, 0, 1, 127, 0, 0, 1 }, client.Reply[..8]);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "ping"u8]);

        byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
        AssertDatagram([.. header, .. "ping"u8], back);
        // Counted once each send completes, which may be just after the datagram arrived here.
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedToClients == 1);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedFromClients == 1);
    }

    [Fact]
    public async Task Associate_ToIPv6Destination_EchoComesBackWithIPv6Header()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho(IPAddress.IPv6Loopback);
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        Assert.Equal(4, header[3]);
        await client.SendAsync([.. header, .. "ping6"u8]);

        AssertDatagram([.. header, .. "ping6"u8], await client.ReceiveAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task Associate_OverIPv6Control_RelayIsIPv6()
    {
        await using TestServer server = await StartServerAsync(listenAddress: IPAddress.IPv6Loopback);
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        Assert.Equal(IPAddress.IPv6Loopback, client.Relay.Address);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "v4 via v6"u8]);
        AssertDatagram([.. header, .. "v4 via v6"u8], await client.ReceiveAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task Associate_ToDomainDestination_ResolvedOnceAndAnsweredWithAddressHeader()
    {
        using var echo = new UdpEcho();
        var resolver = new CountingResolver(IPAddress.Loopback);
        await using TestServer server = await StartServerAsync(resolver: resolver);
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        for (int i = 0; i < 3; i++)
        {
            await client.SendAsync([.. UdpAssociateClient.Header("echo.test", echo.EndPoint.Port), (byte)i]);
            AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), (byte)i], await client.ReceiveAsync(TestTimeouts.Default));
        }

        // The answer names the address it came from; the name was resolved once for all three datagrams.
        Assert.Equal(1, resolver.Count);
    }

    [Theory]
    [MemberData(nameof(UnspecifiedAddressNames.All), MemberType = typeof(UnspecifiedAddressNames))]
    public async Task Associate_DatagramToNameWrittenAsTheUnspecifiedAddress_JudgedAsThatAddressAndAssociationGoesOn(string name)
    {
        // Issue 17: the system resolver throws for these names, which used to end the association in a session fault.
        await using TestServer server = await StartServerAsync(o =>
        {
            var unspecified = new AccessRule { Action = AccessAction.Deny };
            unspecified.Destinations.Add(DestinationPattern.ForNetwork(IPNetwork.Parse("0.0.0.0/8")));
            unspecified.Destinations.Add(DestinationPattern.ForNetwork(IPNetwork.Parse("::/128")));
            o.Rules.Add(unspecified);
            o.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        });
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(name, echo.EndPoint.Port), .. "denied"u8]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedDenied == 1);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "still relayed"u8]);

        AssertDatagram([.. header, .. "still relayed"u8], await client.ReceiveAsync(TestTimeouts.Default));
        client.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Associate_ResolverFailsUnexpectedly_DatagramDroppedAndAssociationGoesOn()
    {
        await using TestServer server = await StartServerAsync(resolver: new ThrowingResolver());
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header("broken.test", echo.EndPoint.Port), .. "unroutable"u8]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedUnroutable == 1);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "still relayed"u8]);

        AssertDatagram([.. header, .. "still relayed"u8], await client.ReceiveAsync(TestTimeouts.Default));
        client.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Associate_DatagramFromAnotherPort_DroppedAndCounted()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint, namePort: true);
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        await SendFromAsync(other, [.. UdpAssociateClient.Header(echo.EndPoint), .. "stranger"u8], client.Relay);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. "client"u8]);

        AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), .. "client"u8], await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, server.Server.UdpStatistics.DroppedForeignSource);
        Assert.Equal(1, echo.Received);
    }

    [Fact]
    public async Task Associate_NoPortNamed_LocksToFirstSourcePort()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint, namePort: false);
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. "first"u8]);
        Assert.NotNull(await client.ReceiveAsync(TestTimeouts.Default));
        await SendFromAsync(other, [.. UdpAssociateClient.Header(echo.EndPoint), .. "second port"u8], client.Relay);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. "again"u8]);

        AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), .. "again"u8], await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, server.Server.UdpStatistics.DroppedForeignSource);
    }

    [Fact]
    public async Task Associate_DatagramFromAnotherAddress_Dropped()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint, namePort: false);
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        other.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));

        // Even as the very first datagram, another address cannot claim the association.
        await SendFromAsync(other, [.. UdpAssociateClient.Header(echo.EndPoint), .. "stranger"u8], client.Relay);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. "client"u8]);

        AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), .. "client"u8], await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, server.Server.UdpStatistics.DroppedForeignSource);
        Assert.Equal(1, echo.Received);
    }

    [Fact]
    public async Task Associate_FragmentedDatagram_DroppedAndCounted()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint, fragment: 1), .. "part one"u8]);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint, fragment: 0x81), .. "last part"u8]);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. "whole"u8]);

        AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), .. "whole"u8], await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(2, server.Server.UdpStatistics.DroppedFragmented);
        Assert.Equal(1, echo.Received);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0 })]
    [InlineData(new byte[] { 0, 0, 0, 1, 127, 0 })]
    [InlineData(new byte[] { 0, 0, 0, 9, 127, 0, 0, 1, 0, 7 })]
    [InlineData(new byte[] { 0, 0, 0, 3, 0, 0, 7 })]
    public async Task Associate_MalformedHeader_DroppedAndCounted(byte[] datagram)
    {
        await using TestServer server = await StartServerAsync();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync(datagram);
        using var echo = new UdpEcho();
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), 1]);

        Assert.NotNull(await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, server.Server.UdpStatistics.DroppedMalformed);
    }

    [Fact]
    public async Task Associate_SocketsServedByTheEventLoopInSpliceModeOnly_AndLeaveItWithTheAssociation()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "ping"u8]);
        AssertDatagram([.. header, .. "ping"u8], await client.ReceiveAsync(TestTimeouts.Default));

        // The relay socket and the IPv4 destination socket.
        int expected = OperatingSystem.IsLinux() && Mode != RelayEngine.Portable ? 2 : 0;
        Assert.Equal(expected, server.Server.UdpSocketsOnEventLoops);

        client.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Equal(0, server.Server.UdpSocketsOnEventLoops);
    }

    [Fact]
    public async Task Associate_SecondFamilyOpenedMidAssociation_ItsAnswersArePumpedAndItsSocketLeavesWithTheAssociation()
    {
        // The IPv6 destination socket is opened while the IPv4 one is already being pumped: the pump must start
        // receiving on it too, and let go of it with the others.
        await using TestServer server = await StartServerAsync();
        using var echo4 = new UdpEcho();
        using var echo6 = new UdpEcho(IPAddress.IPv6Loopback);
        UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        byte[] header4 = UdpAssociateClient.Header(echo4.EndPoint);
        byte[] header6 = UdpAssociateClient.Header(echo6.EndPoint);

        await client.SendAsync([.. header4, .. "first v4"u8]);
        AssertDatagram([.. header4, .. "first v4"u8], await client.ReceiveAsync(TestTimeouts.Default));
        await client.SendAsync([.. header6, .. "then v6"u8]);
        AssertDatagram([.. header6, .. "then v6"u8], await client.ReceiveAsync(TestTimeouts.Default));
        await client.SendAsync([.. header4, .. "v4 again"u8]);
        AssertDatagram([.. header4, .. "v4 again"u8], await client.ReceiveAsync(TestTimeouts.Default));

        // The relay socket and both destination sockets.
        int expected = OperatingSystem.IsLinux() && Mode != RelayEngine.Portable ? 3 : 0;
        Assert.Equal(expected, server.Server.UdpSocketsOnEventLoops);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedFromClients == 3);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedToClients == 3);

        client.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Equal(0, server.Server.UdpSocketsOnEventLoops);
    }

    [Fact]
    public async Task Associate_ControlConnectionCloses_RelayPortIsClosed()
    {
        await using TestServer server = await StartServerAsync();
        UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        IPEndPoint relay = client.Relay;

        client.Dispose();

        // Once the association is gone its port is free again: binding it succeeds (bounded wait for the close).
        bool freed = false;
        for (int attempt = 0; attempt < 200 && !freed; attempt++)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                probe.Bind(relay);
                freed = true;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                await Task.Delay(10);
            }
        }

        Assert.True(freed, "the relay socket was still open after its control connection closed");

        // The relay socket closes first; the session leaves the registry a moment later.
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
    }

    [Fact]
    public async Task Associate_DataOnControlConnection_IgnoredAndAssociationKept()
    {
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.Control.SendAsync(new byte[5000]);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. "still alive"u8]);

        AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), .. "still alive"u8], await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, server.Server.ActiveSessionCount);
    }

    [Fact]
    public async Task Associate_NoDatagramsForUdpIdleTimeout_ControlConnectionClosed()
    {
        await using TestServer server = await StartServerAsync(o => o.Udp.IdleTimeout = TimeSpan.FromMilliseconds(300));
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        Assert.Empty(await client.Control.ReadToEndAsync());
        await SocketTestExtensions.WaitUntilAsync(() => server.Logs.Lines.Any(l => l.Contains("close=UdpIdleTimeout", StringComparison.Ordinal)));
        Assert.Contains(server.Logs.Lines, l => l.Contains("[4003]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Associate_DatagramsKeepFlowing_TcpIdleTimeoutDoesNotApplyButUdpIdleTimeoutDoes()
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartServerAsync(o =>
        {
            o.IdleTimeout = TimeSpan.FromSeconds(1);
            o.Udp.IdleTimeout = TimeSpan.FromSeconds(60);
        }, timeProvider: time);
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "tick"u8];

        // Two simulated minutes with a datagram every 30 s: 120 TCP idle timeouts, never one UDP idle timeout.
        for (int i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromSeconds(30));
            await client.SendAsync(datagram);
            AssertDatagram(datagram, await client.ReceiveAsync(TestTimeouts.Default));
            Assert.Equal(1, server.Server.ActiveSessionCount);
        }

        // Then a minute of silence closes it.
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Empty(await client.Control.ReadToEndAsync());
        await SocketTestExtensions.WaitUntilAsync(() => server.Logs.Lines.Any(l => l.Contains("close=UdpIdleTimeout", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Associate_UdpIdleTimeoutZero_AssociationOutlivesTheTcpIdleTimeout()
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartServerAsync(o =>
        {
            o.IdleTimeout = TimeSpan.FromSeconds(1);
            o.Udp.IdleTimeout = TimeSpan.Zero;
        }, timeProvider: time);
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        time.Advance(TimeSpan.FromHours(1));
        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "still here"u8];
        await client.SendAsync(datagram);
        AssertDatagram(datagram, await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, server.Server.ActiveSessionCount);
    }

    [Fact]
    public async Task Associate_OverTheSessionRate_DatagramsDroppedAndCountedUntilTokensReturn()
    {
        // 10 KiB/s: a burst of 1 KiB, so one 600-byte payload fits and the next does not until 60 ms have passed.
        var time = new FakeTimeProvider();
        await using TestServer server = await StartServerAsync(o => o.Limits.SessionBytesPerSecond = 10 * 1024, timeProvider: time);
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. new byte[600]];

        await client.SendAsync(datagram);
        AssertDatagram(datagram, await client.ReceiveAsync(TestTimeouts.Default));
        for (int i = 0; i < 5; i++)
        {
            await client.SendAsync(datagram);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedOverRate == 5);
        Assert.Equal(1, echo.Received);

        time.Advance(TimeSpan.FromMilliseconds(100));
        await client.SendAsync(datagram);
        AssertDatagram(datagram, await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(5, server.Server.UdpStatistics.DroppedOverRate);

        // The awaiting pump counts a datagram once its send has completed, which on a busy thread pool can come after the
        // echo's answer has already reached the client.
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedFromClients == 2);
    }

    [Fact]
    public async Task Associate_AdvertiseAddressConfigured_ReplyNamesIt()
    {
        await using TestServer server = await StartServerAsync(o => o.Udp.AdvertiseAddress = IPAddress.Parse("192.0.2.9"));
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        Assert.Equal(IPAddress.Parse("192.0.2.9"), client.Relay.Address);

        // The socket itself is on the address the client reached.
        var local = new IPEndPoint(IPAddress.Loopback, client.Relay.Port);
        await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), 1], local);
        byte[] buffer = new byte[100];
        using var cts = new CancellationTokenSource(TestTimeouts.Default);
        SocketReceiveFromResult result = await client.Udp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        Assert.Equal(local, result.RemoteEndPoint);
    }

    [Fact]
    public async Task Associate_TenThousandDatagramsWindowed_NoneLost()
    {
        const int Total = 10_000;
        const int Window = 16;
        await using TestServer server = await StartServerAsync();
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        byte[] datagram = [.. header, .. new byte[64]];

        int sent = 0;
        int received = 0;
        int lost = 0;
        for (; sent < Window; sent++)
        {
            await client.SendAsync(datagram);
        }

        // One new datagram per answer; a datagram not answered within a second counts as lost and frees its slot.
        while (received + lost < Total)
        {
            byte[]? back = await client.ReceiveAsync(TimeSpan.FromSeconds(1));
            if (back is null)
            {
                lost++;
            }
            else
            {
                Assert.Equal(datagram.Length, back.Length);
                received++;
            }

            if (sent < Total)
            {
                await client.SendAsync(datagram);
                sent++;
            }

            Assert.True(lost < 50, $"{lost} datagrams lost after {received} came back");
        }

        Assert.Equal(0, lost);
        Assert.Equal(Total, received);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedToClients == Total);
    }

    [Fact]
    public async Task Associate_BurstWithANameToResolveInItsMiddle_EveryDatagramArrivesInOrderBothWaysAndIsCounted()
    {
        const int Burst = 64;
        var resolver = new GatedResolver(IPAddress.Loopback);
        await using TestServer server = await StartServerAsync(resolver: resolver);
        using var destination = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 1 << 20 };
        destination.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var destinationEndPoint = (IPEndPoint)destination.LocalEndPoint!;
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);
        client.Udp.ReceiveBufferSize = 1 << 20;

        byte[] byAddress = UdpAssociateClient.Header(destinationEndPoint);
        byte[] byName = UdpAssociateClient.Header("burst.test", destinationEndPoint.Port);
        List<byte[]> payloads = [];
        for (int i = 0; i < Burst; i++)
        {
            // From the tenth on, every third goes by name: the first of them waits for the lookup, with all behind it.
            payloads.Add([(byte)i, .. Enumerable.Repeat((byte)i, i * 5)]);
            await client.SendAsync([.. i >= 10 && i % 3 == 1 ? byName : byAddress, .. payloads[i]]);
        }

        await resolver.Started.DefaultTimeout();
        resolver.Answer();
        byte[] buffer = new byte[2048];
        EndPoint relayOutbound = new IPEndPoint(IPAddress.Any, 0);
        for (int i = 0; i < Burst; i++)
        {
            SocketReceiveFromResult result = await destination.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();
            Assert.Equal(payloads[i], buffer[..result.ReceivedBytes]);
            relayOutbound = result.RemoteEndPoint;
        }

        // The answers in a burst of their own, queued faster than one at a time.
        foreach (byte[] payload in payloads)
        {
            destination.SendTo(payload, relayOutbound);
        }

        for (int i = 0; i < Burst; i++)
        {
            AssertDatagram([.. byAddress, .. payloads[i]], await client.ReceiveAsync(TestTimeouts.Default));
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedFromClients == Burst);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.ForwardedToClients == Burst);
        Assert.Equal(1, resolver.Count);
    }


    private static void AssertDatagram(byte[] expected, byte[]? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected, actual);
    }

    private static Task SendFromAsync(Socket socket, byte[] datagram, IPEndPoint relay) =>
        socket.SendToAsync(datagram, SocketFlags.None, relay).DefaultTimeout();

    private sealed class ThrowingResolver : IHostResolver
    {
        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
            Task.FromException<IPAddress[]>(new InvalidOperationException("a resolver bug"));
    }

    /// <summary>Answers every lookup with <paramref name="answer"/>, once <see cref="Answer"/> lets it.</summary>
    private sealed class GatedResolver(IPAddress answer) : IHostResolver
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task Started => _started.Task;

        public void Answer() => _answered.TrySetResult();

        public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            _started.TrySetResult();
            await _answered.Task.WaitAsync(cancellationToken);
            return [answer];
        }
    }

    private sealed class CountingResolver(IPAddress answer) : IHostResolver
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return Task.FromResult<IPAddress[]>([answer]);
        }
    }
}

/// <summary>UDP ASSOCIATE with its sockets on an <see cref="EpollLoop"/> (the default on Linux).</summary>
public sealed class UdpAssociationOnEventLoopTests : UdpAssociationTests
{
    protected override RelayEngine Mode => OperatingSystem.IsLinux() ? RelayEngine.Linux : RelayEngine.Auto;
}

/// <summary>UDP ASSOCIATE awaiting its receives (the portable path).</summary>
public sealed class UdpAssociationAwaitingTests : UdpAssociationTests
{
    protected override RelayEngine Mode => RelayEngine.Portable;
}
