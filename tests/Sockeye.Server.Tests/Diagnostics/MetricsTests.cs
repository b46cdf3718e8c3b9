using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Diagnostics;

/// <summary>The <c>Sockeye.Server</c> meter, read with a <see cref="MeterListener"/> as a collector would.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Tunnel_Ends_CountedWithCommandReplyCloseReasonBytesAndDuration()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using var metrics = new RecordedMetrics(server.Server.Meter);

        using (RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint))
        using (Socket far = await target.AcceptAsync())
        {
            await client.SendAsync("hello"u8.ToArray());
            await far.ReceiveExactlyAsync(5);
            await far.SendAsync("goodbye"u8.ToArray(), SocketFlags.None);
            await client.ReceiveExactlyAsync(7);
        }

        // A session's measurements are recorded by whichever thread ends it (an event loop's, on the Linux engine).
        await SocketTestExtensions.WaitUntilAsync(() => metrics.Of("sockeye.session.duration").Any());
        metrics.Collect();
        RecordedMetrics.Measurement session = Assert.Single(metrics.Of("sockeye.sessions"));
        Assert.Equal("connect", session.Tags["sockeye.command"]);
        Assert.Equal("succeeded", session.Tags["sockeye.reply"]);
        Assert.Contains(session.Tags["sockeye.close_reason"], new[] { "client_eof", "completed", "target_reset", "client_reset" });
        Assert.Equal(5, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "upload"));
        Assert.Equal(7, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "download"));
        RecordedMetrics.Measurement duration = Assert.Single(metrics.Of("sockeye.session.duration"));
        Assert.InRange(duration.Value, 0, 60);
        Assert.Equal("connect", duration.Tags["sockeye.command"]);
    }

    [Fact]
    public async Task RelayedBytes_OfAnOpenTunnel_ShowWhileItRelays_AndNeverCountTwiceWhenItEnds()
    {
        // Issue 19: "today sockeye.relay.bytes is added when a tunnel ends, so a two-hour download is invisible for two
        // hours". The counter is read when collected: an open tunnel's bytes so far, then the same total once it ended.
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using var metrics = new RecordedMetrics(server.Server.Meter);
        using (RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint))
        using (Socket far = await target.AcceptAsync())
        {
            await client.SendAsync(new byte[1000]);
            await far.ReceiveExactlyAsync(1000);
            await far.SendAsync(new byte[3000], SocketFlags.None);
            await client.ReceiveExactlyAsync(3000);

            // A relay counts a chunk once its send has completed, which can be just after the peer has read it.
            await CollectUntilAsync(metrics, "upload", 1000);
            await CollectUntilAsync(metrics, "download", 3000);
            Assert.Equal(1000, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "upload"));
            Assert.Equal(3000, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "download"));

            await client.SendAsync(new byte[500]);
            await far.ReceiveExactlyAsync(500);
            await CollectUntilAsync(metrics, "upload", 1500);
            Assert.Equal(1500, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "upload"));
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        metrics.Collect();
        Assert.Equal(1500, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "upload"));
        Assert.Equal(3000, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "download"));
    }

    /// <summary>Collects until the last <c>sockeye.relay.bytes</c> reading of <paramref name="direction"/> is <paramref name="bytes"/> or more, bounded.</summary>
    private static Task CollectUntilAsync(RecordedMetrics metrics, string direction, long bytes) =>
        SocketTestExtensions.WaitUntilAsync(() =>
        {
            metrics.Collect();
            return metrics.Of("sockeye.relay.bytes").Any(m => (string?)m.Tags.GetValueOrDefault("sockeye.direction") == direction && m.Value >= bytes);
        });

    [Fact]
    public async Task UdpAssociation_Ends_ItsPayloadBytesCountedEachWay_InTheMetricAndTheAccessLog()
    {
        // Issue 19: "the access log shows up=0 down=0 for every UDP association, whatever was relayed". Payloads are
        // counted, not the SOCKS headers: 3 datagrams of 100 bytes up, echoed back down.
        using var echo = new UdpEcho();
        await using TestServer server = await TestServer.StartAsync();
        using var metrics = new RecordedMetrics(server.Server.Meter);
        using (UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint))
        {
            for (int i = 0; i < 3; i++)
            {
                await client.SendAsync([.. UdpAssociateClient.Header(echo.EndPoint), .. new byte[100]]);
                Assert.NotNull(await client.ReceiveAsync(TestTimeouts.Default));
            }
        }

        await SocketTestExtensions.WaitUntilAsync(() => metrics.Of("sockeye.session.duration").Any());
        metrics.Collect();
        Assert.Equal(300, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "upload"));
        Assert.Equal(300, metrics.Last("sockeye.relay.bytes", "sockeye.direction", "download"));
        Assert.All(metrics.Of("sockeye.relay.bytes"), m => Assert.Equal("udp_associate", m.Tags["sockeye.command"]));
        await SocketTestExtensions.WaitUntilAsync(() => server.Logs.Lines.Any(line => line.Contains("Sockeye.Access[2900]", StringComparison.Ordinal)));
        Assert.Contains(server.Logs.Lines, line => line.Contains("Sockeye.Access[2900]", StringComparison.Ordinal)
            && line.Contains(" up=300 down=300 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HandshakeConnectLoginAndRuleDenials_Measured()
    {
        // Issue 19: what dashboards need and the meter lacked. A login that fails, one that succeeds and connects, and a
        // request a named rule denies.
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Rules.Add(new AccessRule { Action = AccessAction.Deny, Name = "no port 9", Ports = { new PortRange(9, 9) } });
            o.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        });
        using var metrics = new RecordedMetrics(server.Server.Meter);

        using (RawClient wrong = await RawClient.ConnectAsync(server.EndPoint))
        {
            await wrong.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "wrong")]);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await wrong.ReceiveExactlyAsync(4));
        }

        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"), .. Socks5Bytes.Connect(target.EndPoint)]);
            Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket far = await target.AcceptAsync();
        }

        using (RawClient denied = await RawClient.ConnectAsync(server.EndPoint))
        {
            await denied.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"),
                .. Socks5Bytes.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9))]);
            Assert.Equal(new byte[] { 5, 2, 1, 0 }, await denied.ReceiveExactlyAsync(4));
            Assert.Equal(2, (await denied.ReceiveReplyAsync())[1]);
        }

        await SocketTestExtensions.WaitUntilAsync(() => metrics.Sum("sockeye.sessions") == 3);
        Assert.Equal(1, metrics.Sum("sockeye.authentications", "sockeye.outcome", "failed"));
        Assert.Equal(2, metrics.Sum("sockeye.authentications", "sockeye.outcome", "succeeded"));
        Assert.Equal(1, metrics.Sum("sockeye.rule.denials", "sockeye.rule", "no port 9"));
        Assert.Equal(2, metrics.Of("sockeye.handshake.duration").Count());
        RecordedMetrics.Measurement connect = Assert.Single(metrics.Of("sockeye.connect.duration"));
        Assert.Equal("succeeded", connect.Tags["sockeye.reply"]);
        Assert.InRange(connect.Value, 0, 60);
    }

    [Fact]
    public async Task DeniedConnect_And_NoAcceptableMethod_TaggedWithWhatHappened()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o => o.Rules.Add(new AccessRule { Action = AccessAction.Deny }));
        using var metrics = new RecordedMetrics(server.Server.Meter);

        Assert.Equal(2, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync([5, 1, 0x80]);
            Assert.Equal(new byte[] { 5, 0xFF }, await client.ReceiveExactlyAsync(2));
        }

        await SocketTestExtensions.WaitUntilAsync(() => metrics.Sum("sockeye.sessions") == 2);
        Assert.Contains(metrics.Of("sockeye.sessions"), m => (string?)m.Tags["sockeye.reply"] == "not_allowed" && (string?)m.Tags["sockeye.close_reason"] == "rule_denied");
        Assert.Contains(metrics.Of("sockeye.sessions"), m => (string?)m.Tags["sockeye.command"] == "none" && (string?)m.Tags["sockeye.reply"] == "none"
            && (string?)m.Tags["sockeye.close_reason"] == "no_acceptable_method");
        metrics.Collect();
        Assert.Equal(0, metrics.Sum("sockeye.relay.bytes"));
    }

    [Fact]
    public async Task ObservableInstruments_ReadOpenSessionsAndUdpDatagrams()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using var metrics = new RecordedMetrics(server.Server.Meter);
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();

        metrics.Collect();
        Assert.Equal(1, metrics.Last("sockeye.sessions.active"));
        Assert.Equal(0, metrics.Last("sockeye.udp.datagrams", "sockeye.outcome", "forwarded_to_client"));
        Assert.Equal(0, metrics.Last("sockeye.limit.rejections", "sockeye.limit", "sessions"));

        client.Dispose();
        far.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        metrics.Collect();
        Assert.Equal(0, metrics.Last("sockeye.sessions.active"));
    }

    [Fact]
    public async Task LimitRejections_ConnectionClosedForWantOfDescriptors_CountedAsDescriptors()
    {
        // Room for one connection in its handshake, and no more.
        DescriptorBudget budget = DescriptorBudget.FromLimit(DescriptorBudget.RuntimeReserve + 1);
        await using TestServer server = await TestServer.StartAsync(descriptors: budget);
        using var metrics = new RecordedMetrics(server.Server.Meter);
        using RawClient silent = await RawClient.ConnectAsync(server.EndPoint);
        await SocketTestExtensions.WaitUntilAsync(() => budget.InUse == 1);

        using RawClient refused = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Empty(await refused.ReadToEndAsync());

        metrics.Collect();
        Assert.Equal(1, metrics.Last("sockeye.limit.rejections", "sockeye.limit", "descriptors"));
    }

    [Fact]
    public async Task LimitRejections_EveryRelayPortTaken_CountedAsUdpPorts()
    {
        // A few ports below the ephemeral ones, at random so that parallel runs rarely meet; whichever of them another
        // process holds only fills the range sooner.
        int first = Random.Shared.Next(20000, 29990);
        var range = new PortRange((ushort)first, (ushort)(first + 2));
        await using TestServer server = await TestServer.StartAsync(o => o.Udp.PortRange = range);
        using var metrics = new RecordedMetrics(server.Server.Meter);
        var open = new List<UdpAssociateClient>();
        try
        {
            byte refusal = 0;
            for (int attempt = 0; attempt <= range.Count && refusal == 0; attempt++)
            {
                (UdpAssociateClient? client, byte replyCode) = await UdpAssociateClient.TryOpenAsync(server.EndPoint);
                refusal = replyCode;
                if (client is not null)
                {
                    open.Add(client);
                }
            }

            Assert.Equal(1, refusal);
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == open.Count);
            metrics.Collect();
            Assert.Equal(1, metrics.Last("sockeye.limit.rejections", "sockeye.limit", "udp_ports"));
            Assert.Contains(metrics.Of("sockeye.sessions"), m => (string?)m.Tags["sockeye.command"] == "udp_associate"
                && (string?)m.Tags["sockeye.reply"] == "general_failure" && (string?)m.Tags["sockeye.close_reason"] == "limit_reached");
        }
        finally
        {
            foreach (UdpAssociateClient client in open)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Meter_IsNamedSockeyeServer_AndGoesWithTheServer()
    {
        TestServer server = await TestServer.StartAsync();
        Meter meter = server.Server.Meter;
        Assert.Equal("Sockeye.Server", meter.Name);

        using var metrics = new RecordedMetrics(meter);
        Assert.NotEmpty(metrics.Instruments);
        await server.DisposeAsync();

        Assert.Empty(metrics.Instruments);
    }

    /// <summary>Listens to one meter's instruments and keeps every measurement.</summary>
    private sealed class RecordedMetrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<Measurement> _measurements = new();
        private readonly ConcurrentDictionary<Instrument, bool> _instruments = new();

        public RecordedMetrics(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, meter))
                {
                    _instruments[instrument] = true;
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out bool _);
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.Start();
        }

        public ICollection<Instrument> Instruments => _instruments.Keys;

        public void Collect() => _listener.RecordObservableInstruments();

        public IEnumerable<Measurement> Of(string name) => _measurements.Where(m => m.Name == name);

        public double Sum(string name, string? tag = null, string? value = null) =>
            Of(name).Where(m => tag is null || (string?)m.Tags.GetValueOrDefault(tag) == value).Sum(m => m.Value);

        public double Last(string name, string? tag = null, string? value = null) =>
            Of(name).Last(m => tag is null || (string?)m.Tags.GetValueOrDefault(tag) == value).Value;

        public void Dispose() => _listener.Dispose();

        private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            _measurements.Enqueue(new Measurement(instrument.Name, value, copy));
        }

        public sealed record Measurement(string Name, double Value, Dictionary<string, object?> Tags);
    }
}
