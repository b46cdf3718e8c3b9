using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Hosting;

/// <summary>
/// The sd_notify(3) protocol as systemd sees it with <c>Type=notify</c>: the test owns the <c>NOTIFY_SOCKET</c>
/// datagram socket, runs the real executable with it, and reads what the executable says and when.
/// </summary>
public sealed class ServiceManagerNotifierTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public async Task NotifySocket_GetsReadyOnceTheListenersAccept_ReloadingAroundAReload_StoppingOnSigterm()
    {
        string socketPath = _directory.File("notify");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        int socksPort = Socks5Client.FreePort();
        int adminPort = Socks5Client.FreePort();

        await using SockeyeProcess sockeye = SockeyeProcess.Start(output,
            ["--listen", $"127.0.0.1:{socksPort}", "--admin-listen", $"127.0.0.1:{adminPort}"],
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath });

        string ready = await ReceiveAsync(notify, TestTimeouts.ProcessStart);
        Assert.Equal("READY=1\nSTATUS=Accepting clients", ready);

        // READY=1 came once both listeners accept: a client and a health check are served right away.
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, socksPort)).DefaultTimeout();
            await Socks5Client.SendAsync(client, [5, 1, 0]);
            Assert.Equal(new byte[] { 5, 0 }, await Socks5Client.ReceiveExactlyAsync(client, 2));
        }

        using (var http = new HttpClient { Timeout = TestTimeouts.Default })
        {
            Assert.Equal("ready\n", await http.GetStringAsync(new Uri($"http://127.0.0.1:{adminPort}/readyz")));
        }

        sockeye.Hangup();
        string reloading = await ReceiveAsync(notify, TestTimeouts.Default);
        Assert.Matches(@"^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*\nSTATUS=Reloading$", reloading);
        Assert.Equal("READY=1\nSTATUS=Accepting clients", await ReceiveAsync(notify, TestTimeouts.Default));

        sockeye.TerminateNow();
        Assert.Equal("STOPPING=1\nSTATUS=Draining", await ReceiveAsync(notify, TestTimeouts.Default));
        Assert.Equal(0, await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit));
    }

    [Fact]
    public async Task NotifySocket_ReloadOfAnInvalidFile_IsStillFollowedByReady()
    {
        string socketPath = _directory.File("notify");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        string config = _directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """{ "listeners": ["127.0.0.1:0"] }""");

        await using SockeyeProcess sockeye = SockeyeProcess.Start(output, ["--config", config],
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath });
        Assert.StartsWith("READY=1", await ReceiveAsync(notify, TestTimeouts.ProcessStart), StringComparison.Ordinal);

        // systemd waits for READY=1 after RELOADING=1 whatever the outcome: a failed reload must not leave it waiting.
        await File.WriteAllTextAsync(config, "{ not json");
        sockeye.Hangup();
        Assert.StartsWith("RELOADING=1", await ReceiveAsync(notify, TestTimeouts.Default), StringComparison.Ordinal);
        Assert.Equal("READY=1\nSTATUS=Reload failed; the settings in force are unchanged", await ReceiveAsync(notify, TestTimeouts.Default));
    }

    public void Dispose() => _directory.Dispose();

    private static async Task<string> ReceiveAsync(Socket notify, TimeSpan timeout)
    {
        byte[] buffer = new byte[4096];
        int received = await notify.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(timeout);
        return Encoding.UTF8.GetString(buffer, 0, received);
    }

}
