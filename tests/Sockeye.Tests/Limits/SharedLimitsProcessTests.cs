using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;
using RedisServer = Sockeye.Testing.RedisServer;

namespace Sockeye.Tests.Limits;

/// <summary>
/// Two <c>sockeye</c> processes sharing per-user limits through a real redis-server (limits.shared): what only a real
/// process can show, an instance killed with SIGKILL, which never gives its sessions back itself.
/// </summary>
public sealed partial class SharedLimitsProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new();

    [ProgramFact(RedisServer.Path, "redis-server")]
    public async Task InstanceKilled_ItsSessionsStopCountingWhenItsLeaseRunsOut()
    {
        using RedisServer redis = await RedisServer.StartAsync();
        using var target = new TargetServer();
        string config = _directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "listeners": [ "127.0.0.1:0" ],
              "users": [ "alice:secret" ],
              "limits": {
                "maxSessionsPerUser": 2,
                "shared": { "redis": "{{redis.Configuration}}", "keyPrefix": "test-{{Guid.NewGuid():N}}", "lease": "2s" }
              }
            }
            """);
        await using SockeyeProcess first = SockeyeProcess.Start(output, ["--config", config]);
        await using SockeyeProcess second = SockeyeProcess.Start(output, ["--config", config]);
        int firstPort = await first.WaitForListeningPortAsync();
        int secondPort = await second.WaitForListeningPortAsync();
        await first.WaitForOutputAsync(SharedLine(), TestTimeouts.Default);
        await second.WaitForOutputAsync(SharedLine(), TestTimeouts.Default);

        using Socket one = await Socks5Client.ConnectAsync(firstPort, ("alice", "secret"), target.Port);
        using Socket oneFar = await target.AcceptAsync();
        using Socket two = await Socks5Client.ConnectAsync(firstPort, ("alice", "secret"), target.Port);
        using Socket twoFar = await target.AcceptAsync();
        Assert.Equal(0x01, await RequestAsync(secondPort, target.Port));

        // Killed with both sessions open: nothing tells Redis, only the lease (2 s) running out frees them.
        first.Kill();
        Assert.Equal(137, await first.WaitForExitAsync(TestTimeouts.ProcessExit));
        byte reply = 0x01;
        for (int attempt = 0; attempt < 100 && reply != 0x00; attempt++)
        {
            await Task.Delay(100);
            reply = await RequestAsync(secondPort, target.Port);
        }

        Assert.Equal(0x00, reply);
    }

    [Fact]
    public async Task RedisUnreachable_StillReady_ReadyzStatusAndMetricsSayLocalFallback()
    {
        // Nothing listens on port 1. Set through the environment, as a container would.
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--user", "alice:secret"],
            environment: new Dictionary<string, string> { ["SOCKEYE_LIMITS__SHARED__REDIS"] = "127.0.0.1:1" });
        await sockeye.Process.WaitForOutputAsync(UnavailableLine(), TestTimeouts.Default);

        using (HttpResponseMessage ready = await sockeye.Http.GetAsync("readyz"))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
            Assert.StartsWith("ready (shared limits: local fallback: Redis ", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        string status = await sockeye.Http.GetStringAsync("status.json");
        Assert.Contains("\"sharedLimits\":\"local fallback: Redis ", status, StringComparison.Ordinal);
        string metrics = await sockeye.Http.GetStringAsync("metrics");
        Assert.Matches(@"(?m)^sockeye_shared_limits_state(\{[^}]*\})? 0( |$)", metrics);
    }

    public void Dispose() => _directory.Dispose();

    /// <summary>The reply code of a CONNECT as alice; the connection (and a tunnel it opened) is dropped right after.</summary>
    private static async Task<byte> RequestAsync(int proxyPort, int targetPort)
    {
        using Socket socket = await Socks5Client.ConnectToProxyAsync(proxyPort);
        await Socks5Client.SendAsync(socket, [5, 1, 2]);
        Assert.Equal(new byte[] { 5, 2 }, await Socks5Client.ReceiveExactlyAsync(socket, 2));
        Assert.Equal(new byte[] { 1, 0 }, await Socks5Client.AuthenticateAsync(socket, "alice", "secret"));
        await Socks5Client.SendAsync(socket, [5, 1, 0, 1, 127, 0, 0, 1, (byte)(targetPort >> 8), (byte)targetPort]);
        return (await Socks5Client.ReceiveExactlyAsync(socket, 10))[1];
    }

    [GeneratedRegex(@"\[1021\] Shared per-user limits in force")]
    private static partial Regex SharedLine();

    [GeneratedRegex(@"\[1020\] Shared limits unavailable")]
    private static partial Regex UnavailableLine();
}
