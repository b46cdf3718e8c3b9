using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Hosting;

/// <summary>
/// Reloads of the real executable: by SIGHUP, and by a change of the configuration file or the users file on disk with
/// no signal at all. Open tunnels keep relaying through every one of them.
/// </summary>
public sealed partial class ReloadProcessTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>A file change is seen within the polling period and read once quiet: well within this.</summary>
    private static readonly TimeSpan FileChangeSeen = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _directory = new();

    [Fact]
    public async Task ConfigFileEdited_WithoutASignal_ListenersRulesAndLogLevelChange_OpenTunnelKeepsRelaying()
    {
        using var target = new TargetServer();
        int second = Socks5Client.FreePort();
        string config = _directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """{ "listeners": ["127.0.0.1:0"] }""");
        await using SockeyeProcess sockeye = SockeyeProcess.Start(output, ["--config", config]);
        int first = await sockeye.WaitForListeningPortAsync();
        using Socket tunnel = await Socks5Client.ConnectAsync(first, null, target.Port);
        using Socket far = await target.AcceptAsync();

        // A second listener, a rule that denies the target's port, and the debug level: written, not signalled.
        await File.WriteAllTextAsync(config, $$"""
            {
              "listeners": ["127.0.0.1:0", "127.0.0.1:{{second}}"],
              "logLevel": "debug",
              "rules": [
                { "name": "no-target", "action": "deny", "ports": "{{target.Port}}" },
                { "action": "allow" }
              ]
            }
            """);
        await sockeye.WaitForOutputAsync(ConfigChangedLine(), FileChangeSeen);
        await sockeye.WaitForOutputAsync(new Regex($@"Listening on 127\.0\.0\.1:{second}"), TestTimeouts.Default);
        await sockeye.WaitForOutputAsync(ReloadedWithListeners(), TestTimeouts.Default);

        // Written once the debug level is in force: the requests below are logged at it.
        await sockeye.WaitForOutputAsync(new Regex(@"warn: Sockeye\[1110\] Log level Information is now Debug"), TestTimeouts.Default);

        Assert.Equal(0x02, await Socks5Client.RequestReplyAsync(second, target.Port));
        Assert.Equal(0x02, await Socks5Client.RequestReplyAsync(first, target.Port));
        await sockeye.WaitForOutputAsync(DebugLine(), TestTimeouts.Default);
        await Socks5Client.AssertRelaysBothWaysAsync(tunnel, far, "after the first reload");

        // The first listener removed: it stops accepting, its tunnel goes on.
        await File.WriteAllTextAsync(config, $$"""{ "listeners": ["127.0.0.1:{{second}}"], "logLevel": "debug" }""");
        await sockeye.WaitForOutputAsync(new Regex($@"Sockeye\.Server\[1017\] .*127\.0\.0\.1:{first}"), FileChangeSeen);
        await AssertRefusedAsync(first);
        using (Socket next = await Socks5Client.ConnectAsync(second, null, target.Port))
        using (Socket nextFar = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(next, nextFar, "through the second listener");
        }

        await Socks5Client.AssertRelaysBothWaysAsync(tunnel, far, "after the second reload");

        // A broken file changes nothing and says why.
        await File.WriteAllTextAsync(config, """{ "listeners": [ """);
        await sockeye.WaitForOutputAsync(ReloadFailedLine(), FileChangeSeen);
        Assert.False(sockeye.HasExited);
        using (Socket still = await Socks5Client.ConnectAsync(second, null, target.Port))
        using (Socket stillFar = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(still, stillFar, "after the broken file");
        }

        await Socks5Client.AssertRelaysBothWaysAsync(tunnel, far, "after the broken file");
    }

    [Fact]
    public async Task UsersFileEdited_WithoutASignal_NewUserLogsIn_RemovedUserIsRefused()
    {
        using var target = new TargetServer();
        string users = _directory.File("users");
        await AddUserAsync(users, "alice", "alice's password");
        await using SockeyeProcess sockeye = SockeyeProcess.Start(output, ["--listen", "127.0.0.1:0", "--users-file", users]);
        int port = await sockeye.WaitForListeningPortAsync();
        using Socket tunnel = await Socks5Client.ConnectAsync(port, ("alice", "alice's password"), target.Port);
        using Socket far = await target.AcceptAsync();

        // What an operator does: 'sockeye user add' and 'user remove' on the file the server reads, and nothing else.
        await AddUserAsync(users, "bob", "bob's password");
        await RunUserCommandAsync("", "user", "remove", "alice", "--file", users);
        await sockeye.WaitForOutputAsync(UsersReloadedLine(), FileChangeSeen);

        using (Socket bob = await Socks5Client.ConnectAsync(port, ("bob", "bob's password"), target.Port))
        using (Socket bobFar = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(bob, bobFar, "bob");
        }

        Assert.Equal(0x01, await Socks5Client.LoginStatusAsync(port, "alice", "alice's password"));

        // alice's tunnel was opened before: it keeps what it started with.
        await Socks5Client.AssertRelaysBothWaysAsync(tunnel, far, "alice's open tunnel");
    }

    [Fact]
    public async Task Sighup_LoweredSessionLimit_RefusesNewSessions_OpenTunnelKeepsRelaying()
    {
        using var target = new TargetServer();
        string config = _directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """{ "listeners": ["127.0.0.1:0"] }""");
        await using SockeyeProcess sockeye = SockeyeProcess.Start(output, ["--config", config]);
        int port = await sockeye.WaitForListeningPortAsync();
        using Socket tunnel = await Socks5Client.ConnectAsync(port, null, target.Port);
        using Socket far = await target.AcceptAsync();

        await File.WriteAllTextAsync(config, """{ "listeners": ["127.0.0.1:0"], "limits": { "maxSessions": 1 }, "logFormat": "json", "logLevel": "warning" }""");
        sockeye.Hangup();
        await sockeye.WaitForOutputAsync(ReloadedWithMaxSessions(), TestTimeouts.Default);

        // The log format is chosen at start: the reload says so, and the log stays text. The level follows at once.
        await sockeye.WaitForOutputAsync(new Regex(@"warn: Sockeye\[1108\] Changed in the configuration, but in force only from the next start: logFormat$"), TestTimeouts.Default);
        await sockeye.WaitForOutputAsync(new Regex(@"warn: Sockeye\[1110\] Log level Information is now Warning"), TestTimeouts.Default);

        // The open tunnel holds the one session allowed: a new request gets X'01'.
        Assert.Equal(0x01, await Socks5Client.RequestReplyAsync(port, target.Port));
        await Socks5Client.AssertRelaysBothWaysAsync(tunnel, far, "over the limit");
    }

    public void Dispose() => _directory.Dispose();

    private static async Task AddUserAsync(string users, string name, string password) =>
        await RunUserCommandAsync(password + "\n", "user", "add", name, "--file", users);

    private static async Task RunUserCommandAsync(string input, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int exitCode = await SockeyeCommandLine.RunAsync(args, new StringReader(input), stdout, stderr, CancellationToken.None).WaitAsync(TestTimeouts.ProcessStart);
        Assert.True(exitCode == 0, $"sockeye {string.Join(' ', args)} exited with {exitCode}: {stderr}");
    }

    /// <summary>A stopped listener's socket closes on its event loop just after the reload: a few tries, bounded.</summary>
    private static async Task AssertRefusedAsync(int port)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Caught in the backlog of the listener as it closed: reset with it. The next try finds it gone.
            }

            await Task.Delay(100);
        }

        Assert.Fail($"127.0.0.1:{port} still accepts connections");
    }

    [GeneratedRegex(@"Sockeye\[1109\] .*sockeye\.json changed: reading the configuration again")]
    private static partial Regex ConfigChangedLine();

    [GeneratedRegex(@"Sockeye\.Server\[1010\] Reloaded: .*changed settings: .*listeners")]
    private static partial Regex ReloadedWithListeners();

    [GeneratedRegex(@"Sockeye\.Server\[1010\] Reloaded: .*changed settings: .*limits\.maxSessions")]
    private static partial Regex ReloadedWithMaxSessions();

    [GeneratedRegex(@"Sockeye\.Server\[1010\] Reloaded: 1 user\(s\)")]
    private static partial Regex UsersReloadedLine();

    [GeneratedRegex(@"dbug: Sockeye\.Session")]
    private static partial Regex DebugLine();

    [GeneratedRegex(@"Sockeye\[1104\] Reload failed, the settings in force are unchanged: .*not valid JSON")]
    private static partial Regex ReloadFailedLine();
}
