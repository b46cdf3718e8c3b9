using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Balancing;

/// <summary>
/// A real HAProxy (Debian's) in TCP mode in front of two Sockeye instances, sending PROXY protocol version 2 headers and
/// health-checking them with LOCAL headers. The client comes from 127.0.0.2 or 127.0.0.3, the balancer from 127.0.0.1:
/// the instances must see the client, not the balancer.
/// </summary>
public sealed partial class HaproxyTests(ITestOutputHelper output) : IDisposable
{
    private static readonly IPAddress Client = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress BlockedClient = IPAddress.Parse("127.0.0.3");

    private readonly TempDirectory _directory = new();

    [ProgramFact("/usr/sbin/haproxy", "haproxy")]
    public async Task BehindHaproxy_ConnectAndUdpWork_LogsAndRulesSeeTheRealClient_HealthChecksLeaveNoNoise()
    {
        using var target = new TargetServer();
        using var echo = new Sockeye.Testing.UdpEcho(IPAddress.Loopback);
        string config = _directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """
            {
              "listeners": [ { "endpoint": "127.0.0.1:0", "proxyProtocol": true, "trustedProxies": [ "127.0.0.1" ] } ],
              "logLevel": "debug",
              "rules": [
                { "name": "blocked client", "action": "deny", "clients": [ "127.0.0.3" ] },
                { "action": "allow" }
              ]
            }
            """);
        await using SockeyeProcess first = SockeyeProcess.Start(output, ["--config", config]);
        await using SockeyeProcess second = SockeyeProcess.Start(output, ["--config", config]);
        int firstPort = await first.WaitForListeningPortAsync();
        int secondPort = await second.WaitForListeningPortAsync();

        int front = Socks5Client.FreePort();
        string haproxyConfig = _directory.File("haproxy.cfg");
        await File.WriteAllTextAsync(haproxyConfig, $"""
            global
              log stderr format raw local0 info
            defaults
              mode tcp
              log global
              timeout connect 5s
              timeout client 30s
              timeout server 30s
            frontend socks
              bind 127.0.0.1:{front}
              default_backend sockeye
            backend sockeye
              balance roundrobin
              server first 127.0.0.1:{firstPort} send-proxy-v2 check check-send-proxy inter 200ms
              server second 127.0.0.1:{secondPort} send-proxy-v2 check check-send-proxy inter 200ms

            """);
        using BackgroundProgram haproxy = BackgroundProgram.Start("/usr/sbin/haproxy", "-db", "-f", haproxyConfig);
        await WaitUntilAcceptingAsync(front, haproxy);

        // Round robin spreads tunnels over both instances (in an order the health checks can shift): tunnels until each
        // instance has served one, at most ten, each from the real client's address.
        var served = new Regex($@"Sockeye\.Access\[2900\] 127\.0\.0\.2:\d+ user=- Connect 127\.0\.0\.1:{target.Port} reply=Succeeded");
        for (int i = 0; i < 10 && !(served.IsMatch(first.Transcript) && served.IsMatch(second.Transcript)); i++)
        {
            using (Socket tunnel = await ConnectFromAsync(Client, front, target.Port))
            using (Socket far = await target.AcceptAsync())
            {
                await Socks5Client.AssertRelaysBothWaysAsync(tunnel, far, $"tunnel {i}");
            }

            // Its access line is written as the session closes, just after the tunnel did: wait for it, bounded.
            for (int wait = 0; wait < 100 && served.Count(first.Transcript) + served.Count(second.Transcript) <= i; wait++)
            {
                await Task.Delay(50);
            }
        }

        foreach (SockeyeProcess instance in new[] { first, second })
        {
            await instance.WaitForOutputAsync(served, TestTimeouts.Default);
            Assert.DoesNotMatch(@"Sockeye\.Access\[2900\] 127\.0\.0\.1:", instance.Transcript);
        }

        // A rule on the client's address holds behind the balancer.
        using (Socket blocked = await ConnectClientAsync(BlockedClient, front))
        {
            Assert.Equal(0x02, await RequestAsync(blocked, [5, 1, 0, 1, 127, 0, 0, 1, (byte)(target.Port >> 8), (byte)target.Port]));
        }

        // UDP: the control connection through the balancer, the datagrams straight to the instance, from the client.
        using (Socket control = await ConnectClientAsync(Client, front))
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(Client, 0));
            int udpPort = ((IPEndPoint)udp.LocalEndPoint!).Port;
            byte[] reply = await RequestReplyAsync(control, [5, 3, 0, 1, 127, 0, 0, 2, (byte)(udpPort >> 8), (byte)udpPort]);
            Assert.Equal(0x00, reply[1]);
            var relay = new IPEndPoint(new IPAddress(reply.AsSpan(4, 4)), (reply[8] << 8) | reply[9]);
            byte[] payload = "through the balancer"u8.ToArray();
            byte[] datagram = [0, 0, 0, 1, 127, 0, 0, 1, (byte)(echo.EndPoint.Port >> 8), (byte)echo.EndPoint.Port, .. payload];
            await udp.SendToAsync(datagram.AsMemory(), SocketFlags.None, relay).AsTask().DefaultTimeout();
            byte[] received = new byte[1024];
            int length = await udp.ReceiveAsync(received.AsMemory(), SocketFlags.None).AsTask().DefaultTimeout();
            Assert.Equal(payload, received.AsSpan(10, length - 10).ToArray());
        }

        // The health checks (a LOCAL header every 200 ms, on each instance) reach both instances and are told at Debug
        // only; HAProxy never saw a server down.
        foreach (SockeyeProcess instance in new[] { first, second })
        {
            await instance.WaitForOutputAsync(HealthCheckLine(), TestTimeouts.Default);
            Assert.DoesNotMatch(@"(info|warn|fail|crit): Sockeye\.Session", instance.Transcript);
        }

        Assert.DoesNotContain("DOWN", haproxy.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyListener_UntrustedSourceOrNoHeader_IsClosedUnheard()
    {
        string config = _directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """
            { "listeners": [ { "endpoint": "127.0.0.1:0", "proxyProtocol": true, "trustedProxies": [ "127.0.0.9" ] } ], "logLevel": "debug" }
            """);
        await using SockeyeProcess sockeye = SockeyeProcess.Start(output, ["--config", config]);
        int port = await sockeye.WaitForListeningPortAsync();

        // 127.0.0.1 is not a trusted balancer: even a well-formed header is not read.
        using (Socket untrusted = await Socks5Client.ConnectToProxyAsync(port))
        {
            await Socks5Client.SendAsync(untrusted, "PROXY TCP4 192.0.2.1 127.0.0.1 5000 1080\r\n\u0005\u0001\u0000"u8.ToArray());
            await Socks5Client.AssertClosedByPeerAsync(untrusted, TestTimeouts.Default);
        }

        await sockeye.WaitForOutputAsync(new Regex(@"dbug: Sockeye\.Session\[2013\] .*not from one of the listener's trustedProxies"), TestTimeouts.Default);
        Assert.DoesNotContain("user=- Connect", sockeye.Transcript, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Dispose();

    [GeneratedRegex(@"dbug: Sockeye\.Session\[2014\] .*a balancer's health check \(PROXY LOCAL\), closed")]
    private static partial Regex HealthCheckLine();

    /// <summary>A SOCKS5 CONNECT from <paramref name="source"/> through the proxy at <paramref name="proxyPort"/>.</summary>
    private static async Task<Socket> ConnectFromAsync(IPAddress source, int proxyPort, int targetPort)
    {
        Socket socket = await ConnectClientAsync(source, proxyPort);
        try
        {
            Assert.Equal(0x00, await RequestAsync(socket, [5, 1, 0, 1, 127, 0, 0, 1, (byte)(targetPort >> 8), (byte)targetPort]));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A connection from <paramref name="source"/> that has offered "no authentication" and had it chosen.</summary>
    private static async Task<Socket> ConnectClientAsync(IPAddress source, int proxyPort)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, proxyPort)).DefaultTimeout();
            await Socks5Client.SendAsync(socket, [5, 1, 0]);
            Assert.Equal(new byte[] { 5, 0 }, await Socks5Client.ReceiveExactlyAsync(socket, 2));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<byte> RequestAsync(Socket socket, byte[] request) => (await RequestReplyAsync(socket, request))[1];

    private static async Task<byte[]> RequestReplyAsync(Socket socket, byte[] request)
    {
        await Socks5Client.SendAsync(socket, request);
        return await Socks5Client.ReceiveExactlyAsync(socket, 10);
    }

    /// <summary>Waits, bounded, until HAProxy accepts on its front end, or fails with what it printed.</summary>
    private static async Task WaitUntilAcceptingAsync(int port, BackgroundProgram haproxy)
    {
        var clock = Stopwatch.StartNew();
        for (int attempt = 0; attempt < 200 && clock.Elapsed < TestTimeouts.ProcessStart; attempt++)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
                return;
            }
            catch (SocketException)
            {
                Assert.False(haproxy.HasExited, $"HAProxy exited:\n{haproxy.Output}");
                await Task.Delay(50);
            }
        }

        Assert.Fail($"HAProxy never accepted on 127.0.0.1:{port}:\n{haproxy.Output}");
    }
}
