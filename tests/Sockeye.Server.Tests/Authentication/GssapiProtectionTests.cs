using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Server.Tests.Robustness;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Server.Tests.Authentication;

/// <summary>
/// Per-message protection (RFC 1961 §4, §5) against a real KDC, on both engines: the level granted, every request, reply
/// and relayed byte wrapped, and every way a wrapped message can be wrong.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiProtectionTests
{
    private const byte None = 0;
    private const byte Integrity = 1;
    private const byte Confidentiality = 2;
    private const byte Selective = 3;

    public static TheoryData<RelayEngine, byte> EnginesAndLevels => new()
    {
        { RelayEngine.Linux, Integrity },
        { RelayEngine.Linux, Confidentiality },
        { RelayEngine.Portable, Integrity },
        { RelayEngine.Portable, Confidentiality },
    };

    [Theory]
    [MemberData(nameof(EnginesAndLevels))]
    public async Task Connect_AtLevel_RequestReplyAndAMebibyteEachWay_AreWrapped_AndHalfCloseWorks(RelayEngine engine, byte level)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm, o => o.RelayEngine = engine);
        using var target = new TcpTarget();

        using GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, level);
        Assert.Equal(level, client.Granted);
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        using Socket accepted = await target.AcceptAsync();

        byte[] up = Pattern(1 << 20, seed: 1);
        byte[] down = Pattern(1 << 20, seed: 2);
        // Both ways at once, up in messages of odd sizes that match no buffer of the server's.
        Task sendUp = client.SendAsync(up, perMessage: 7_001);
        Task sendDown = accepted.SendAsync(down, SocketFlags.None);
        Assert.Equal(up, await accepted.ReceiveExactlyAsync(up.Length));
        Assert.Equal(down, await client.ReceiveExactlyAsync(down.Length));
        await Task.WhenAll(sendUp, sendDown);

        // Half-close: the client's FIN reaches the target, and the other direction still carries bytes.
        client.Raw.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await accepted.ReadToEndAsync());
        await accepted.SendAsync("after"u8.ToArray(), SocketFlags.None);
        Assert.Equal("after"u8.ToArray(), await client.ReceiveExactlyAsync(5));
        accepted.Shutdown(SocketShutdown.Send);
        Assert.Empty(await Hostile.ReadToFinAsync(client.Raw.Socket));

        Assert.Contains(server.Logs.Lines, line => line.Contains("[2022]", StringComparison.Ordinal)
            && line.Contains(level == Integrity ? "integrity given" : "confidentiality given", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(None, None, None)]
    [InlineData(None, Integrity, Integrity)]
    [InlineData(Integrity, Confidentiality, Confidentiality)]
    [InlineData(Confidentiality, Integrity, Confidentiality)]
    [InlineData(Selective, None, Confidentiality)]
    public async Task Level_IsTheAskedOneRaisedToTheMinimum_SelectiveAsConfidentiality(byte asked, byte minimum, byte expected)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm, o => o.Gssapi!.MinimumProtection = (Protocol.Gssapi.GssapiProtectionLevel)minimum);
        using var target = new TcpTarget();

        using GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, asked);
        Assert.Equal(expected, client.Granted);
        if (expected == None)
        {
            await client.Raw.SendAsync(Socks5Bytes.Connect(target.EndPoint));
            Assert.Equal(0, (await client.Raw.ReceiveReplyAsync())[1]);
        }
        else
        {
            await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        }

        using Socket accepted = await target.AcceptAsync();
        await accepted.SendAsync("hello"u8.ToArray(), SocketFlags.None);
        Assert.Equal("hello"u8.ToArray(), expected == None ? await client.Raw.ReceiveExactlyAsync(5) : await client.ReceiveExactlyAsync(5));
    }

    [Fact]
    public async Task NecVariant_AtConfidentiality_PlainLevelThenWrappedTunnel()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);
        using var target = new TcpTarget();

        using GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, Confidentiality, nec: true);
        Assert.Equal(Confidentiality, client.Granted);
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        using Socket accepted = await target.AcceptAsync();
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await accepted.ReceiveExactlyAsync(4));
    }

    [Fact]
    public async Task RequestSplitOverMessages_AndDataInTheRequestsMessage_ReachTheTarget()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);
        using var target = new TcpTarget();

        using GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, Integrity);
        byte[] request = Socks5Bytes.Connect(target.EndPoint);
        // The request's first three bytes alone, then the rest with the first bytes for the target in the same message.
        await client.SendAsync(request[..3]);
        await client.SendAsync([.. request[3..], .. "early"u8.ToArray()]);
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        using Socket accepted = await target.AcceptAsync();
        Assert.Equal("early"u8.ToArray(), await accepted.ReceiveExactlyAsync(5));
    }

    [Theory]
    [InlineData(RelayEngine.Linux)]
    [InlineData(RelayEngine.Portable)]
    public async Task Bind_AtConfidentiality_BothRepliesWrapped_BytesBothWays(RelayEngine engine)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm, o => o.RelayEngine = engine);

        using GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, Confidentiality);
        await client.SendAsync(Socks5Bytes.Connect(new IPEndPoint(IPAddress.Loopback, 0), command: 2));
        byte[] first = await client.ReceiveReplyAsync();
        Assert.Equal(0, first[1]);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(first);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(new IPEndPoint(IPAddress.Loopback, announced.Port));
        byte[] second = await client.ReceiveReplyAsync();
        Assert.Equal(0, second[1]);
        Assert.Equal(((IPEndPoint)peer.LocalEndPoint!).Port, Socks5Bytes.BoundEndPoint(second).Port);

        await peer.SendAsync("from the peer"u8.ToArray(), SocketFlags.None);
        Assert.Equal("from the peer"u8.ToArray(), await client.ReceiveExactlyAsync(13));
        await client.SendAsync("to the peer"u8.ToArray());
        Assert.Equal("to the peer"u8.ToArray(), await peer.ReceiveExactlyAsync(11));
    }

    [Theory]
    [MemberData(nameof(EnginesAndLevels))]
    public async Task UdpAssociate_AtLevel_EveryDatagramWrappedBothWays_BadOnesDropped(RelayEngine engine, byte level)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm, o => o.RelayEngine = engine);
        using var echo = new UdpEcho(IPAddress.Loopback);
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        using GssapiRawClient control = await GssapiRawClient.ConnectAsync(server.EndPoint, level);
        await control.SendAsync(Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, ((IPEndPoint)udp.LocalEndPoint!).Port), command: 3));
        byte[] reply = await control.ReceiveReplyAsync();
        Assert.Equal(0, reply[1]);
        IPEndPoint relay = Socks5Bytes.BoundEndPoint(reply);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        long malformedBefore = server.Server.UdpStatistics.DroppedMalformed;

        // Not wrapped, then tampered with: both dropped and counted, and the association goes on.
        await udp.SendToAsync((byte[])[.. header, .. "plain"u8.ToArray()], SocketFlags.None, relay);
        byte[] tampered = control.Wrap([.. header, .. "tampered"u8.ToArray()]);
        tampered[^1] ^= 0x55;
        await udp.SendToAsync(tampered, SocketFlags.None, relay);

        for (int i = 0; i < 3; i++)
        {
            byte[] payload = Pattern(1200 + i, seed: i);
            await udp.SendToAsync(control.Wrap([.. header, .. payload]), SocketFlags.None, relay);
            byte[] datagram = await ReceiveDatagramAsync(udp);
            Assert.Equal([1, 3], datagram[..2]);
            Assert.Equal(datagram.Length - 4, (datagram[2] << 8) | datagram[3]);
            byte[] plaintext = control.Unwrap(datagram.AsSpan(4), out bool encrypted);
            Assert.Equal(level == Confidentiality, encrypted);
            Assert.Equal(header, plaintext[..header.Length]);
            Assert.Equal(payload, plaintext[header.Length..]);
        }

        Assert.Equal(3, echo.Received);
        Assert.Equal(2, server.Server.UdpStatistics.DroppedMalformed - malformedBefore);
    }

    private static async Task<byte[]> ReceiveDatagramAsync(Socket udp)
    {
        byte[] buffer = new byte[65536];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        SocketReceiveFromResult result = await udp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
        return buffer[..result.ReceivedBytes];
    }

    public static TheoryData<string> BadMessages => new()
    {
        "tampered",
        "not encrypted at confidentiality",
        "another type",
        "FIN in the middle of a message",
        "malformed",
    };

    [Theory]
    [MemberData(nameof(BadMessages))]
    public async Task BadMessageAfterTheTunnelIsUp_EndsThatConnectionAlone_Logged(string what)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);
        using var target = new TcpTarget();

        using (GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, Confidentiality))
        {
            await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket accepted = await target.AcceptAsync();
            await client.SendAsync("good"u8.ToArray());
            Assert.Equal("good"u8.ToArray(), await accepted.ReceiveExactlyAsync(4));

            byte[] message = client.Wrap("bad"u8);
            switch (what)
            {
                case "tampered":
                    message[^1] ^= 0x55;
                    break;
                case "not encrypted at confidentiality":
                    client.Encrypt = false;
                    message = client.Wrap("bad"u8);
                    break;
                case "another type":
                    message[1] = 2;
                    break;
                case "FIN in the middle of a message":
                    message = message[..^3];
                    break;
                default:
                    message[0] = 5;
                    break;
            }

            await client.Raw.SendAsync(message);
            if (what == "FIN in the middle of a message")
            {
                client.Raw.Socket.Shutdown(SocketShutdown.Send);
            }

            // Nothing of the bad message reaches the target, and both connections end.
            Assert.Empty(await accepted.ReadToEndAsync());
            await client.Raw.ReadToEndAsync();
        }

        await WaitForAsync(() => server.Logs.Lines.Any(line => line.Contains("[2025]", StringComparison.Ordinal)));
        using GssapiRawClient next = await GssapiRawClient.ConnectAsync(server.EndPoint, Integrity);
        await next.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await next.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task UndefinedLevel_IsAborted()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);

        using var raw = await RawClient.ConnectAsync(server.EndPoint);
        using var initiator = GssapiRawClient.NewInitiator(KerberosRealm.ServicePrincipal);
        await raw.SendAsync([5, 1, 1]);
        Assert.Equal([5, 1], await raw.ReceiveExactlyAsync(2));
        byte[]? token = initiator.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out _);
        await raw.SendAsync(GssapiRawClient.Message(1, token));
        (byte type, byte[] reply) = await GssapiRawClient.ReceiveMessageAsync(raw);
        Assert.Equal(1, type);
        initiator.GetOutgoingBlob(reply, out _);
        // NEC's plain form, so the test needs no wrap: level X'07' is none of RFC 1961's.
        await raw.SendAsync(GssapiRawClient.Message(2, [7]));
        Assert.Equal([1, 0xFF], await raw.ReadToEndAsync());
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2023]", StringComparison.Ordinal) && line.Contains("X'07'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProtectedSessions_LeaveNoDescriptorOrContextBehind()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);
        using var target = new TcpTarget();
        var baseline = ResourceBaseline.Capture();

        for (int i = 0; i < 20; i++)
        {
            using GssapiRawClient client = await GssapiRawClient.ConnectAsync(server.EndPoint, (byte)(1 + (i % 2)));
            await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket accepted = await target.AcceptAsync();
            await client.SendAsync(Pattern(100_000, i));
            Assert.Equal(100_000, (await accepted.ReceiveExactlyAsync(100_000)).Length);
            if (i % 3 == 0)
            {
                // Every third one ends badly.
                await client.Raw.SendAsync([1, 3, 0, 4, 1, 2, 3, 4]);
            }
        }

        await WaitForAsync(() => server.Server.ActiveSessionCount == 0);
        await baseline.AssertReturnedAsync(server.Server);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(condition(), "not within 10 s");
    }

    private static byte[] Pattern(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static Task<TestServer> StartServerAsync(KerberosRealm realm, Action<SockeyeServerOptions>? configure = null) => GssapiServers.StartAsync(realm, configure);
}
