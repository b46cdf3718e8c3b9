using System.Diagnostics;
using System.Net;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Clients;

/// <summary>Real clients nobody here wrote: curl (SOCKS5, SOCKS4, SOCKS4a) and .NET's own SOCKS5 support in SocketsHttpHandler.</summary>
public sealed class RealClientTests
{
    [Theory]
    [InlineData("--socks5", "127.0.0.1")]
    [InlineData("--socks5-hostname", "127.0.0.1")]
    [InlineData("--socks5-hostname", "localhost")]
    [InlineData("--socks4", "127.0.0.1")]
    [InlineData("--socks4a", "localhost")]
    public async Task Curl_NoAuth_FetchesThroughProxy(string mode, string host)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpTestServer("hello through sockeye");

        (int exitCode, string output, string error) = await CurlAsync(mode, $"127.0.0.1:{server.EndPoint.Port}", $"http://{host}:{http.Port}/");

        Assert.True(exitCode == 0, error);
        Assert.Equal(http.Body, output);
    }

    [Fact]
    public async Task Curl_WithProxyUser_FetchesThroughProxy()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using var http = new HttpTestServer("authenticated");

        (int exitCode, string output, string error) = await CurlAsync(
            "--socks5-hostname", $"127.0.0.1:{server.EndPoint.Port}", $"http://localhost:{http.Port}/", "--proxy-user", "alice:secret");

        Assert.True(exitCode == 0, error);
        Assert.Equal(http.Body, output);
    }

    [Theory]
    [InlineData("alice", 0)]
    [InlineData("bob", 97)] // CURLE_PROXY: the proxy answered 91.
    public async Task Curl_Socks4a_UserIdIsTheAccountNamed(string user, int expectedExitCode)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Users.Add(new SockeyeUser("bob", "secret"));
            o.Socks4.AllowWithUsers.Add("alice");
        });
        using var http = new HttpTestServer("socks4 as alice");

        (int exitCode, string output, string error) = await CurlAsync(
            "--socks4a", $"127.0.0.1:{server.EndPoint.Port}", $"http://localhost:{http.Port}/", "--proxy-user", $"{user}:");

        Assert.True(exitCode == expectedExitCode, error);
        Assert.Equal(expectedExitCode == 0 ? http.Body : "", output);
    }

    [Fact]
    public async Task Curl_WrongProxyPassword_FailsWithoutReachingTarget()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using var http = new HttpTestServer("must not be seen");

        (int exitCode, string output, _) = await CurlAsync(
            "--socks5", $"127.0.0.1:{server.EndPoint.Port}", $"http://127.0.0.1:{http.Port}/", "--proxy-user", "alice:wrong");

        Assert.Equal(97, exitCode); // CURLE_PROXY: the proxy handshake failed.
        Assert.Empty(output);
    }

    [Fact]
    public async Task Curl_ThroughIPv6Listener_FetchesFromIPv6Target()
    {
        await using TestServer server = await TestServer.StartAsync(listenAddress: IPAddress.IPv6Loopback);
        using var http = new HttpTestServer("over ipv6", IPAddress.IPv6Loopback);

        (int exitCode, string output, string error) = await CurlAsync("--socks5", $"[::1]:{server.EndPoint.Port}", $"http://[::1]:{http.Port}/");

        Assert.True(exitCode == 0, error);
        Assert.Equal(http.Body, output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HttpClient_Socks5Proxy_FetchesThroughProxy(bool withUser)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            if (withUser)
            {
                o.Users.Add(new SockeyeUser("alice", "secret"));
            }
        });
        using var http = new HttpTestServer("hello, HttpClient");
        var proxy = new WebProxy($"socks5://127.0.0.1:{server.EndPoint.Port}");
        if (withUser)
        {
            proxy.Credentials = new NetworkCredential("alice", "secret");
        }

        using var handler = new SocketsHttpHandler { Proxy = proxy, UseProxy = true };
        using var client = new HttpClient(handler) { Timeout = TestTimeouts.Default };

        string body = await client.GetStringAsync(new Uri($"http://localhost:{http.Port}/"));

        Assert.Equal(http.Body, body);
    }

    internal static async Task<(int ExitCode, string Output, string Error)> CurlAsync(string mode, string proxy, string url, params string[] extra)
    {
        var start = new ProcessStartInfo("curl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["--silent", "--show-error", "--max-time", "20", "--noproxy", "", mode, proxy, .. extra, url])
        {
            start.ArgumentList.Add(argument);
        }

        // The environment must not route curl elsewhere: only the proxy named on its command line.
        foreach (string variable in (string[])["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"])
        {
            start.Environment.Remove(variable);
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
}
