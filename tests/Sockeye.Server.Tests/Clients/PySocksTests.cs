using System.Diagnostics;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Clients;

/// <summary>
/// Debian's python3-socks (PySocks), a UDP ASSOCIATE client nobody here wrote. <c>.ci/run</c> installs it; locally the
/// tests skip with a reason when it is missing, but in CI (CI=true) they run and fail instead, so CI can never skip them.
/// </summary>
public sealed class PySocksTests
{
    private const string Python = "/usr/bin/python3";

    // Associates through the proxy, sends each argument as a datagram to the echo server, prints what comes back and from where.
    private const string Script = """
        import socket, sys, socks
        proxy_port, echo_port = int(sys.argv[1]), int(sys.argv[2])
        user = sys.argv[3] if len(sys.argv) > 3 else None
        password = sys.argv[4] if len(sys.argv) > 4 else None
        s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
        s.set_proxy(socks.SOCKS5, "127.0.0.1", proxy_port, username=user, password=password)
        s.settimeout(10)
        s.bind(("127.0.0.1", 0))
        for message in ("one", "two", "three"):
            s.sendto(message.encode(), ("127.0.0.1", echo_port))
            data, source = s.recvfrom(4096)
            print(data.decode(), source[0], source[1])
        s.close()
        """;

    [PySocksFact]
    public async Task PySocks_UdpAssociate_EchoesThroughRelay()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var echo = new UdpEcho();

        (int exitCode, string output, string error) = await RunAsync(server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), echo.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(exitCode == 0, error);
        Assert.Equal(
            $"one 127.0.0.1 {echo.EndPoint.Port}\ntwo 127.0.0.1 {echo.EndPoint.Port}\nthree 127.0.0.1 {echo.EndPoint.Port}\n",
            output);
    }

    [PySocksFact]
    public async Task PySocks_UdpAssociateWithUser_EchoesThroughRelay()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using var echo = new UdpEcho();

        (int exitCode, string output, string error) = await RunAsync(server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), echo.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "alice", "secret");

        Assert.True(exitCode == 0, error);
        Assert.Equal(3, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().DefaultTimeout();
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>Skips when PySocks is not installed, except in CI, where a missing package must fail the run.</summary>
    private sealed class PySocksFactAttribute : FactAttribute
    {
        public PySocksFactAttribute()
        {
            bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
            if (!inCi && !IsInstalled())
            {
                Skip = "python3-socks (PySocks) is not installed: apt-get install python3-socks, as .ci/run does";
            }
        }

        private static bool IsInstalled() =>
            File.Exists(Python) && (File.Exists("/usr/lib/python3/dist-packages/socks.py") || Directory.Exists("/usr/lib/python3/dist-packages/socks"));
    }
}
