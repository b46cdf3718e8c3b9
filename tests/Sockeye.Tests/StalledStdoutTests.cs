using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Testing;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests;

/// <summary>
/// The console log is written by the logger's own thread from a bounded queue, and the server's event loops log every
/// session's end (the access log, event 2900) on their way: when stdout stops being read, the queue fills, and a logger
/// that waited for room would stop every loop, and every tunnel, with it.
/// </summary>
public sealed class StalledStdoutTests(ITestOutputHelper output)
{
    [Fact]
    public async Task StdoutNoLongerRead_SessionsGoOn_TheirLinesAreDropped()
    {
        using var directory = new TempDirectory();
        string fifo = Path.Combine(directory.Path, "stdout");
        Assert.Equal(0, RunQuietly("mkfifo", fifo));

        using var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        target.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        target.Listen(512);
        int targetPort = ((IPEndPoint)target.LocalEndPoint!).Port;
        using var stop = new CancellationTokenSource();
        Task accepting = AcceptAndCloseAsync(target, stop.Token);

        // Sockeye's stdout is the pipe, which this test opens and never reads: its 64 KiB fill, then the logger's queue.
        int port = Socks5Client.FreePort();
        string assembly = Path.Combine(Path.GetDirectoryName(typeof(SockeyeCommandLine).Assembly.Location)!, "sockeye.dll");
        var startInfo = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string arg in new[] { "-c", "exec \"$0\" \"$@\" > \"$SOCKEYE_TEST_STDOUT\"", DotnetHost.Find(), assembly, "--listen", $"127.0.0.1:{port}" })
        {
            startInfo.ArgumentList.Add(arg);
        }

        startInfo.Environment["SOCKEYE_TEST_STDOUT"] = fifo;
        using Process server = Process.Start(startInfo)!;
        server.ErrorDataReceived += (_, e) => output.WriteLine($"stderr: {e.Data}");
        server.BeginErrorReadLine();
        try
        {
            // Opening the read end waits for the shell to open the write end.
            await using var unread = new FileStream(fifo, FileMode.Open, FileAccess.Read);
            await WaitUntilAcceptingAsync(port);

            // A line per session: the pipe and the logger's queue of 2 500 lines hold about 3 000 of them.
            const int Sessions = 6_000;
            for (int i = 0; i < Sessions; i++)
            {
                byte reply = await Socks5Client.RequestReplyAsync(port, targetPort).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(0, reply);
            }

            Assert.False(server.HasExited);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            await stop.CancelAsync();
            await accepting;
        }
    }

    private static int RunQuietly(string program, string argument)
    {
        using Process process = Process.Start(program, argument);
        process.WaitForExit();
        return process.ExitCode;
    }

    private static async Task WaitUntilAcceptingAsync(int port)
    {
        for (int attempt = 0; attempt < 300; attempt++)
        {
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        Assert.Fail($"Sockeye did not listen on port {port} within 30 s");
    }

    private static async Task AcceptAndCloseAsync(Socket listener, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                using Socket accepted = await listener.AcceptAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // The test is over.
        }
    }
}
