using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Every kind of bad datagram a UDP relay can be sent, in batches on one association: each is dropped and counted under
/// its own outcome (in <see cref="UdpStatistics"/> and the <c>sockeye.udp.datagrams</c> metric), none reaches a
/// destination, the association carries a good datagram after each batch, and it all costs no socket or heap once the
/// association is closed. The portable test assembly runs it on the portable engine.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class MalformedDatagramTests
{
    [Fact]
    public async Task Associate_EveryKindOfBadDatagram_DroppedAndCountedUnderItsOutcome_AssociationKeepsWorking_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var echo = new UdpEcho();
        using var otherPort = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        otherPort.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var otherAddress = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        otherAddress.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        using var metrics = new UdpDatagramMetrics(server.Server.Meter);

        // An association first, so that what the server makes once (the UDP loops) is in the baseline.
        using (UdpAssociateClient warmUp = await UdpAssociateClient.OpenAsync(server.EndPoint))
        {
            await AssertRoundTripAsync(warmUp, echo, "warm-up");
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        ResourceBaseline baseline = ResourceBaseline.Capture();
        UdpStatistics statistics = server.Server.UdpStatistics;
        long forwardedBefore = statistics.ForwardedFromClients;
        int echoedBefore = echo.Received;

        using (UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint))
        {
            byte[][] malformed = [.. MalformedDatagrams(echo.EndPoint)];
            foreach (byte[] datagram in malformed)
            {
                await client.SendAsync(datagram);
            }

            // The relay reads one socket in order: once this echo is back, everything sent before it was judged.
            await AssertRoundTripAsync(client, echo, "after the malformed ones");
            Assert.Equal(malformed.Length, statistics.DroppedMalformed);

            byte[][] fragments = [.. Fragments(echo.EndPoint)];
            foreach (byte[] datagram in fragments)
            {
                await client.SendAsync(datagram);
            }

            await AssertRoundTripAsync(client, echo, "after the fragments");
            Assert.Equal(fragments.Length, statistics.DroppedFragmented);

            // Strangers, with good headers and bad ones alike: the source is judged first, so none counts as malformed.
            byte[][] fromStrangers = [[.. UdpAssociateClient.Header(echo.EndPoint), .. "stranger"u8], [0, 0], [0, 0, 0, 9, 1, 2, 3, 4, 5, 6]];
            foreach (byte[] datagram in fromStrangers)
            {
                await otherPort.SendToAsync(datagram, SocketFlags.None, client.Relay).DefaultTimeout();
                await otherAddress.SendToAsync(datagram, SocketFlags.None, client.Relay).DefaultTimeout();
            }

            await AssertRoundTripAsync(client, echo, "after the strangers");
            Assert.Equal(2 * fromStrangers.Length, statistics.DroppedForeignSource);

            // Nothing but the good datagrams went anywhere, and nothing else was counted.
            Assert.Equal(forwardedBefore + 3, statistics.ForwardedFromClients);
            Assert.Equal(echoedBefore + 3, echo.Received);
            Assert.Equal(malformed.Length, statistics.DroppedMalformed);
            Assert.Equal(fragments.Length, statistics.DroppedFragmented);
            Assert.Equal(0, statistics.DroppedUnroutable);
            Assert.Equal(0, statistics.DroppedDenied);

            Assert.Equal(malformed.Length, metrics.Read("dropped_malformed"));
            Assert.Equal(fragments.Length, metrics.Read("dropped_fragmented"));
            Assert.Equal(2 * fromStrangers.Length, metrics.Read("dropped_foreign_source"));
            Assert.Equal(statistics.ForwardedFromClients, metrics.Read("forwarded_to_destination"));
        }

        await baseline.AssertReturnedAsync(server.Server);
        using UdpAssociateClient after = await UdpAssociateClient.OpenAsync(server.EndPoint);
        await AssertRoundTripAsync(after, echo, "on a new association");
    }

    /// <summary>
    /// Headers cut short at every length (of each address type), address types RFC 1928 does not have, and domain names
    /// whose length byte runs past the datagram's end or is zero.
    /// </summary>
    private static IEnumerable<byte[]> MalformedDatagrams(IPEndPoint destination)
    {
        byte[] ipv4 = UdpAssociateClient.Header(destination);
        for (int length = 0; length < ipv4.Length; length++)
        {
            yield return ipv4[..length];
        }

        byte[] ipv6 = UdpAssociateClient.Header(new IPEndPoint(IPAddress.IPv6Loopback, destination.Port));
        for (int length = 4; length < ipv6.Length; length++)
        {
            yield return ipv6[..length];
        }

        byte[] domain = UdpAssociateClient.Header("localhost", destination.Port);
        for (int length = 4; length < domain.Length; length++)
        {
            yield return domain[..length];
        }

        foreach (byte addressType in new byte[] { 0, 2, 5, 0x7F, 0xFF })
        {
            yield return [0, 0, 0, addressType, 127, 0, 0, 1, 0, 7, .. "payload"u8];
        }

        yield return [0, 0, 0, 3, 10, .. "short"u8, 0, 7];
        yield return [0, 0, 0, 3, 255, .. "localhost"u8, 0, 7, .. "payload"u8];
        yield return [0, 0, 0, 3, 0, 0, 7, .. "payload"u8];
    }

    /// <summary>Good headers with FRAG other than zero: Sockeye does not reassemble (RFC 1928 §7 allows this).</summary>
    private static IEnumerable<byte[]> Fragments(IPEndPoint destination)
    {
        foreach (byte fragment in new byte[] { 1, 2, 0x7F, 0x80, 0x81, 0xFF })
        {
            yield return [.. UdpAssociateClient.Header(destination, fragment), .. "part"u8];
        }
    }

    private static async Task AssertRoundTripAsync(UdpAssociateClient client, UdpEcho echo, string when)
    {
        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. System.Text.Encoding.ASCII.GetBytes(when)];
        await client.SendAsync(datagram);
        byte[]? answer = await client.ReceiveAsync(TestTimeouts.Default);
        Assert.True(answer is not null, $"no echo {when}");
        Assert.Equal(datagram, answer);
    }

    /// <summary>The server's <c>sockeye.udp.datagrams</c> counter, by outcome.</summary>
    private sealed class UdpDatagramMetrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _last = new(StringComparer.Ordinal);

        public UdpDatagramMetrics(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "sockeye.udp.datagrams")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (KeyValuePair<string, object?> tag in tags)
                {
                    if (tag.Key == "sockeye.outcome" && tag.Value is string outcome)
                    {
                        _last[outcome] = value;
                    }
                }
            });
            _listener.Start();
        }

        public long Read(string outcome)
        {
            _listener.RecordObservableInstruments();
            return _last[outcome];
        }

        public void Dispose() => _listener.Dispose();
    }
}
