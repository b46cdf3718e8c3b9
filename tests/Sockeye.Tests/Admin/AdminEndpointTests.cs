using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Admin;

/// <summary>The admin endpoint of the real executable, after real traffic through its SOCKS listener.</summary>
public sealed partial class AdminEndpointTests(ITestOutputHelper output)
{
    private const string Password = "correct horse battery";
    private const int Payload = 100_000;

    [Fact]
    public async Task StatusJson_AfterRealTraffic_ShowsTheOpenTunnelTheUsersBytesAndTheRefusal()
    {
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--user", $"alice:{Password}"]);
        using Socket tunnel = await OpenTunnelAndSendAsync(sockeye.SocksPort, target);
        await FailLoginAsync(sockeye.SocksPort);

        JsonElement status = JsonDocument.Parse(await PollAsync(sockeye, "status.json", json =>
        {
            JsonElement root = JsonDocument.Parse(json).RootElement;
            return root.GetProperty("users").GetArrayLength() == 1 && root.GetProperty("users")[0].GetProperty("bytesUp").GetInt64() >= Payload
                && root.GetProperty("refusalCount").GetInt64() >= 1;
        })).RootElement;

        Assert.True(status.GetProperty("ready").GetBoolean());
        Assert.False(status.GetProperty("draining").GetBoolean());
        JsonElement listener = Assert.Single(status.GetProperty("listeners").EnumerateArray());
        Assert.Equal($"127.0.0.1:{sockeye.SocksPort}", listener.GetProperty("endPoint").GetString());
        Assert.True(listener.GetProperty("accepting").GetBoolean());
        Assert.True(status.GetProperty("activeSessions").GetInt32() >= 1);
        Assert.Contains(status.GetProperty("sessions").EnumerateArray(), group =>
            group.GetProperty("command").GetString() == "connect" && group.GetProperty("phase").GetString() == "relaying" && group.GetProperty("count").GetInt32() == 1);

        // The tunnel is still open: its bytes are in the user's, the client's and the server's totals already.
        JsonElement alice = status.GetProperty("users")[0];
        Assert.Equal("alice", alice.GetProperty("name").GetString());
        Assert.Equal(1, alice.GetProperty("active").GetInt64());
        Assert.True(status.GetProperty("bytesUp").GetInt64() >= Payload);
        JsonElement client = status.GetProperty("topClients")[0];
        Assert.Equal("127.0.0.1", client.GetProperty("address").GetString());
        Assert.True(client.GetProperty("bytesUp").GetInt64() >= Payload);

        JsonElement refusal = status.GetProperty("recentRefusals")[0];
        Assert.Equal("Authentication", refusal.GetProperty("kind").GetString());
        Assert.Equal("127.0.0.1", refusal.GetProperty("client").GetString());
        Assert.Equal("mallory", refusal.GetProperty("user").GetString());
        Assert.Contains("wrong user name or password", refusal.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [ProgramFact("/usr/bin/promtool", "prometheus")]
    public async Task Metrics_AfterRealTraffic_ShowLiveBytesOfAnOpenTunnel_AndPassPromtool()
    {
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--user", $"alice:{Password}"]);
        using Socket tunnel = await OpenTunnelAndSendAsync(sockeye.SocksPort, target);
        await FailLoginAsync(sockeye.SocksPort);

        string metrics = await PollAsync(sockeye, "metrics", text =>
            Sample(text, "sockeye_relay_bytes_total", "sockeye_command=\"connect\"", "sockeye_direction=\"upload\"") >= Payload
            && Sample(text, "sockeye_authentications_total", "sockeye_outcome=\"failed\"") >= 1);

        // The login that succeeded, the handshakes and the connect were counted too; the tunnel itself has not ended.
        Assert.Equal(1, Sample(metrics, "sockeye_authentications_total", "sockeye_outcome=\"succeeded\""));
        Assert.True(Sample(metrics, "sockeye_handshake_duration_seconds_count") >= 1);
        Assert.Equal(1, Sample(metrics, "sockeye_connect_duration_seconds_count", "sockeye_reply=\"succeeded\""));
        Assert.True(Sample(metrics, "sockeye_sessions_active") >= 1);

        // Per-user series only when metrics.perUser says so.
        Assert.DoesNotContain("sockeye_user_", metrics, StringComparison.Ordinal);

        (int exitCode, string promtoolOutput) = await RunAsync("/usr/bin/promtool", ["check", "metrics"], metrics);
        Assert.True(exitCode == 0, $"promtool check metrics exited with {exitCode}:\n{promtoolOutput}");
    }

    [Fact]
    public async Task Metrics_PerUser_WhenConfigured_LabelEachUsersBytesAndSessions()
    {
        using var directory = new TempDirectory();
        string config = directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """{ "metrics": { "perUser": true } }""");
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--config", config, "--user", $"alice:{Password}"]);
        using Socket tunnel = await OpenTunnelAndSendAsync(sockeye.SocksPort, target);

        string metrics = await PollAsync(sockeye, "metrics", text =>
            Sample(text, "sockeye_user_bytes_total", "sockeye_user=\"alice\"", "sockeye_direction=\"upload\"") >= Payload);
        Assert.Equal(1, Sample(metrics, "sockeye_user_sessions_total", "sockeye_user=\"alice\""));
    }

    [Fact]
    public async Task Token_IsRequiredForMetricsAndStatus_NotForHealthChecksOrThePage()
    {
        const string Token = "0123456789abcdef0123456789abcdef";
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, [], environment: new Dictionary<string, string> { ["SOCKEYE_ADMIN__TOKEN"] = Token });
        using var anonymous = new HttpClient { BaseAddress = sockeye.Http.BaseAddress, Timeout = TestTimeouts.Default };

        foreach (string path in new[] { "metrics", "status.json" })
        {
            using HttpResponseMessage refused = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", Assert.Single(refused.Headers.WwwAuthenticate).Scheme);

            using var wrong = new HttpRequestMessage(HttpMethod.Get, path);
            wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token[..^1] + "0");
            using HttpResponseMessage wrongAnswer = await anonymous.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, wrongAnswer.StatusCode);

            using var right = new HttpRequestMessage(HttpMethod.Get, path);
            right.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
            using HttpResponseMessage answered = await anonymous.SendAsync(right);
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }

        foreach (string path in new[] { "healthz", "readyz", "" })
        {
            using HttpResponseMessage open = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        }

        using HttpResponseMessage page = await anonymous.GetAsync("");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'none'", string.Join(" ", page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        using HttpResponseMessage missing = await anonymous.GetAsync("nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using HttpResponseMessage posted = await anonymous.PostAsync("healthz", new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, posted.StatusCode);
    }

    [Fact]
    public async Task Readyz_AnswersReady_ThenServiceUnavailableWhileDraining()
    {
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--shutdown-timeout", "30s"]);
        using (HttpResponseMessage ready = await sockeye.Http.GetAsync("readyz"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());
        }

        // An open tunnel holds the drain open while /readyz is asked.
        using Socket tunnel = await Socks5Client.ConnectAsync(sockeye.SocksPort, null, target.Port);
        using Socket far = await target.AcceptAsync();
        sockeye.Process.TerminateNow();
        await sockeye.Process.WaitForOutputAsync(DrainingLine(), TestTimeouts.Default);

        using (HttpResponseMessage draining = await sockeye.Http.GetAsync("readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
            Assert.Equal("not ready: draining\n", await draining.Content.ReadAsStringAsync());
        }

        using (HttpResponseMessage alive = await sockeye.Http.GetAsync("healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }

        tunnel.Shutdown(SocketShutdown.Send);
        far.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await sockeye.Process.WaitForExitAsync(TestTimeouts.ProcessExit));
    }

    [Fact]
    public async Task AdminPortInUse_ExitsWithOnePlainLine()
    {
        using var occupied = new TcpListener(IPAddress.Loopback, 0);
        occupied.Start();
        int port = ((IPEndPoint)occupied.LocalEndpoint).Port;
        await using SockeyeProcess sockeye = SockeyeProcess.Start(output, ["--listen", "127.0.0.1:0", "--admin-listen", $"127.0.0.1:{port}"]);
        Assert.Equal(1, await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit));
        Assert.Matches($@"sockeye: admin\.listen: .*127\.0\.0\.1:{port}.*address already in use", sockeye.Transcript);
        Assert.DoesNotContain("   at ", sockeye.Transcript, StringComparison.Ordinal);
    }

    [ProgramFact("/usr/bin/chromium", "chromium")]
    public async Task StatusPage_InHeadlessChromium_ShowsTheLiveNumbers()
    {
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--user", $"alice:{Password}"]);
        using Socket tunnel = await OpenTunnelAndSendAsync(sockeye.SocksPort, target);
        await FailLoginAsync(sockeye.SocksPort);

        // Wait for the first throughput sample (every 10 s), so the chart has a point to draw.
        await PollAsync(sockeye, "status.json", json =>
            JsonDocument.Parse(json).RootElement.GetProperty("throughput").GetArrayLength() >= 1, TimeSpan.FromSeconds(30));

        using var profile = new TempDirectory();
        string url = $"http://127.0.0.1:{sockeye.AdminPort}/";
        (int exitCode, string dom) = await RunAsync("/usr/bin/chromium", [.. ChromiumArguments(profile.Path), "--dump-dom", url], null);
        Assert.True(exitCode == 0, $"chromium exited with {exitCode}:\n{dom}");

        Assert.Contains("data-loaded=\"true\"", dom, StringComparison.Ordinal);
        Assert.Matches(@"id=""active-sessions""[^>]*data-value=""1""", dom);
        Match up = BytesUpFigure().Match(dom);
        Assert.True(up.Success, dom);
        Assert.True(long.Parse(up.Groups["bytes"].Value, CultureInfo.InvariantCulture) >= Payload);
        Assert.Matches(@"id=""refusal-count""[^>]*data-value=""[1-9]", dom);
        Assert.Matches(@"<td>alice</td>", dom);
        Assert.Matches(@"<td>authentication</td><td>127\.0\.0\.1</td><td>mallory</td><td>wrong user name or password</td>", dom);
        Assert.Matches($@"<td>127\.0\.0\.1:{sockeye.SocksPort}</td><td class=""good"">accepting</td>", dom);
        Assert.Matches(@"<svg id=""throughput""[^>]*data-samples=""[1-9]", dom);
        Assert.Contains("<rect", dom, StringComparison.Ordinal);

        // The page as a person sees it, kept as a test artifact.
        string screenshot = Path.Combine(AppContext.BaseDirectory, "TestResults", "status-page.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        File.Delete(screenshot);
        (exitCode, string shotOutput) = await RunAsync("/usr/bin/chromium",
            [.. ChromiumArguments(profile.Path), "--window-size=1280,1100", $"--screenshot={screenshot}", url], null);
        Assert.True(exitCode == 0 && File.Exists(screenshot), $"chromium exited with {exitCode}:\n{shotOutput}");
        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot is suspiciously small");
        output.WriteLine($"Screenshot of the status page: {screenshot}");
    }

    /// <summary>
    /// Headless, no network but loopback: no proxy resolution, no background requests, no first-run work, and time that
    /// runs ahead until the page's fetch of /status.json has been shown.
    /// </summary>
    private static string[] ChromiumArguments(string profile) =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--no-proxy-server", "--proxy-bypass-list=<-loopback>", $"--user-data-dir={profile}", "--virtual-time-budget=5000",
    ];

    private static async Task<Socket> OpenTunnelAndSendAsync(int socksPort, TargetServer target)
    {
        Socket tunnel = await Socks5Client.ConnectAsync(socksPort, ("alice", Password), target.Port);
        using Socket far = await target.AcceptAsync();
        byte[] payload = Sockeye.Testing.TestData.RandomBytes(Payload, seed: 19);
        await Socks5Client.SendAsync(tunnel, payload);
        Assert.Equal(payload, await Socks5Client.ReceiveExactlyAsync(far, Payload));
        return tunnel;
    }

    private static async Task FailLoginAsync(int socksPort)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, socksPort)).DefaultTimeout();
        await Socks5Client.SendAsync(socket, [0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await Socks5Client.ReceiveExactlyAsync(socket, 2));
        Assert.Equal(new byte[] { 0x01, 0x01 }, await Socks5Client.AuthenticateAsync(socket, "mallory", "guess"));
    }

    /// <summary>GETs <paramref name="path"/> until <paramref name="accept"/> takes the answer: at most 100 times, and within the time given.</summary>
    private static async Task<string> PollAsync(AdminProcess sockeye, string path, Func<string, bool> accept, TimeSpan? within = null)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan limit = within ?? TestTimeouts.Default;
        string last = "";
        for (int attempt = 0; attempt < 100 && clock.Elapsed < limit; attempt++)
        {
            using HttpResponseMessage response = await sockeye.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            last = await response.Content.ReadAsStringAsync();
            if (accept(last))
            {
                return last;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, limit.TotalMilliseconds / 100)));
        }

        throw new Xunit.Sdk.XunitException($"/{path} never showed what the test waited for; last answer:\n{last}");
    }

    /// <summary>The value of the sample of <paramref name="metric"/> whose labels include all of <paramref name="labels"/>; -1 when none.</summary>
    private static double Sample(string text, string metric, params string[] labels)
    {
        foreach (string line in text.Split('\n'))
        {
            if (!line.StartsWith(metric, StringComparison.Ordinal) || line.Length <= metric.Length || (line[metric.Length] != '{' && line[metric.Length] != ' '))
            {
                continue;
            }

            if (Array.TrueForAll(labels, label => line.Contains(label, StringComparison.Ordinal)))
            {
                string value = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0];
                return double.Parse(value, CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, string[] args, string? input)
    {
        (int exitCode, string stdout, string stderr) = await ExternalProgram.RunWithInputAsync(program, input, args);
        return (exitCode, stdout + stderr);
    }

    [GeneratedRegex(@"Sockeye\.Server\[1003\] Stopped accepting; draining 1 session")]
    private static partial Regex DrainingLine();

    [GeneratedRegex(@"id=""bytes-up""[^>]*data-value=""(?<bytes>\d+)""")]
    private static partial Regex BytesUpFigure();
}
