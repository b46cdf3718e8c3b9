using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Clients;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing.Origins;

namespace Sockeye.Server.Tests.Sessions;

/// <summary>
/// The HTTP proxy on the SOCKS port: CONNECT tunnels and forwarded absolute-URI requests, driven by raw sockets, .NET's
/// HttpClient and curl, against a real origin (Kestrel, plain and TLS).
/// </summary>
public sealed class HttpProxyTests
{
    [Fact]
    public async Task Connect_AnswersConnectionEstablished_ThenRelaysBothWays_WithPipelinedBytes()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Ascii($"CONNECT 127.0.0.1:{target.Port} HTTP/1.1\r\nHost: 127.0.0.1:{target.Port}\r\n\r\nearly"));
        using Socket peer = await target.AcceptAsync();

        Assert.Equal("HTTP/1.1 200 Connection established\r\n\r\n", await ReadHeadAsync(client.Socket));
        Assert.Equal("early"u8.ToArray(), await peer.ReceiveExactlyAsync(5));
        await peer.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
    }

    [Fact]
    public async Task Connect_RefusedPort_Answers502_AndCloses()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = RouteTestSupport.ClosedPort();

        string response = await ExchangeAsync(server, $"CONNECT 127.0.0.1:{closedPort} HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 502 Bad Gateway\r\n", response, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_DeniedByRule_Answers403()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Rules.Add(new AccessRule { Action = AccessAction.Deny }));

        string response = await ExchangeAsync(server, "CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403 Forbidden\r\n", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_Timeout_Answers504()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300), resolver: new NeverResolves());

        string response = await ExchangeAsync(server, "CONNECT never.test:443 HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GXX\r\n\r\n", 400)]                                  // Garbage after an ASCII letter.
    [InlineData("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 400)]   // Origin-form: not a proxy request.
    [InlineData("GET http:///path HTTP/1.1\r\n\r\n", 400)]           // A target without a host.
    [InlineData("CONNECT localhost HTTP/1.1\r\n\r\n", 400)]          // CONNECT without a port.
    [InlineData("GET https://localhost/ HTTP/1.1\r\n\r\n", 400)]     // Absolute https: the client should CONNECT.
    [InlineData("GET http://localhost/ HTTP/2.0\r\n\r\n", 505)]
    public async Task BadRequest_AnsweredWithItsStatus_AndClosed(string request, int status)
    {
        await using TestServer server = await TestServer.StartAsync();

        string response = await ExchangeAsync(server, request);

        Assert.StartsWith($"HTTP/1.1 {status} ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LongRequestLine_Answers414()
    {
        await using TestServer server = await TestServer.StartAsync();

        string response = await ExchangeAsync(server, "GET http://localhost/" + new string('a', 9000));

        Assert.StartsWith("HTTP/1.1 414 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedHead_Answers431()
    {
        await using TestServer server = await TestServer.StartAsync();
        var head = new StringBuilder("GET http://localhost/ HTTP/1.1\r\n");
        for (int i = 0; i < 40; i++)
        {
            head.Append(CultureInfo(i)).Append(new string('v', 500)).Append("\r\n");
        }

        string response = await ExchangeAsync(server, head.Append("\r\n").ToString());

        Assert.StartsWith("HTTP/1.1 431 ", response, StringComparison.Ordinal);

        static string CultureInfo(int i) => "X-Filler-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ": ";
    }

    [Fact]
    public async Task SlowHead_ClosedAtTheHandshakeTimeout()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(500));
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Ascii("GET http://localhost/ HTTP/1.1\r\nHost: loc"));

        Assert.Empty(await client.ReadToEndAsync());
    }

    [Fact]
    public async Task HttpSwitchedOff_Answers403_AndSocksStillWorks()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks5 | ListenerProtocols.Socks4);

        string response = await ExchangeAsync(server, "GET http://localhost/ HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403 Forbidden\r\n", response, StringComparison.Ordinal);
        Assert.Contains("does not serve HTTP proxy requests", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpClient_ForwardsGet_KeepsOneOriginConnection_AndAddsVia()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using HttpClient client = ThroughProxy(server);

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(OriginServer.HelloBody, await client.GetStringAsync(origin.Url("hello")));
        }

        string headers = await client.GetStringAsync(origin.Url("headers"));

        Assert.Equal(1, origin.ConnectionsAccepted);
        Assert.Contains("Via: 1.1 sockeye", headers, StringComparison.Ordinal);
        Assert.DoesNotContain("Proxy-Connection", headers, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HttpClient_ChunkedAndLengthBodies_BothWays_ByteExact()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using HttpClient client = ThroughProxy(server);
        const int Length = 3 * 1024 * 1024 + 17;

        byte[] fixedLength = await client.GetByteArrayAsync(origin.Url($"bytes/{Length}"));
        byte[] chunked = await client.GetByteArrayAsync(origin.Url($"chunked/{Length}"));
        byte[] upload = OriginContent.Bytes(Length);
        using HttpResponseMessage echoed = await client.PostAsync(origin.Url("echo"), new ByteArrayContent(upload));
        byte[] echoedBody = await echoed.Content.ReadAsByteArrayAsync();
        using var chunkedUpload = new StreamContent(new MemoryStream(upload));
        chunkedUpload.Headers.ContentLength = null;
        using var request = new HttpRequestMessage(HttpMethod.Post, origin.Url("echo")) { Content = chunkedUpload };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage chunkedEcho = await client.SendAsync(request);
        byte[] chunkedEchoBody = await chunkedEcho.Content.ReadAsByteArrayAsync();

        Assert.Equal(-1, OriginContent.FirstMismatch(fixedLength));
        Assert.Equal(Length, fixedLength.Length);
        Assert.Equal(-1, OriginContent.FirstMismatch(chunked));
        Assert.Equal(Length, chunked.Length);
        Assert.Equal(upload, echoedBody);
        Assert.Equal(upload, chunkedEchoBody);
        Assert.Equal(1, origin.ConnectionsAccepted);
    }

    [Theory]
    [InlineData("HEAD", "bytes/1000")]
    [InlineData("GET", "status/204")]
    [InlineData("GET", "status/304")]
    public async Task ResponsesWithoutBody_TheConnectionServesTheNextRequest(string method, string path)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using HttpClient client = ThroughProxy(server);

        using HttpResponseMessage first = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), origin.Url(path)));
        string second = await client.GetStringAsync(origin.Url("hello"));

        Assert.Equal(OriginServer.HelloBody, second);
        Assert.Equal(1, origin.ConnectionsAccepted);
    }

    [Fact]
    public async Task RawPipelinedRequests_AnsweredInOrder_OnOneConnection()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        string get = $"GET http://127.0.0.1:{origin.Port}/hello HTTP/1.1\r\nHost: 127.0.0.1:{origin.Port}\r\n\r\n";

        await client.SendAsync(Ascii(get + get + get.Replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n", StringComparison.Ordinal)));
        string responses = Encoding.ASCII.GetString(await client.ReadToEndAsync());

        Assert.Equal(3, CountOf(responses, "HTTP/1.1 200 OK"));
        Assert.Equal(3, CountOf(responses, OriginServer.HelloBody));
        Assert.Equal(1, origin.ConnectionsAccepted);
    }

    [Fact]
    public async Task ConnectAfterAForwardedRequest_OnOneConnection_BecomesTheTunnel()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Ascii($"GET http://127.0.0.1:{origin.Port}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        string first = await ReadHeadAsync(client.Socket);
        Assert.StartsWith("HTTP/1.1 200 OK", first, StringComparison.Ordinal);
        Assert.Equal(OriginServer.HelloBody, Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(OriginServer.HelloBody.Length)));

        await client.SendAsync(Ascii($"CONNECT 127.0.0.1:{target.Port} HTTP/1.1\r\n\r\n"));
        Assert.Equal("HTTP/1.1 200 Connection established\r\n\r\n", await ReadHeadAsync(client.Socket));
        using Socket peer = await target.AcceptAsync();
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await peer.ReceiveExactlyAsync(4));
        await peer.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
    }

    [Fact]
    public async Task Http10Client_ChunkedOrigin_GetsTheDataAlone_EndedByTheClose()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        const int Length = 100_000;

        string response = await ExchangeAsync(server, $"GET http://127.0.0.1:{origin.Port}/chunked/{Length} HTTP/1.0\r\n\r\n", latin1: true);
        int bodyStart = response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        string head = response[..bodyStart];
        byte[] body = Encoding.Latin1.GetBytes(response[bodyStart..]);

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", head, StringComparison.Ordinal);
        Assert.DoesNotContain("Transfer-Encoding", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Connection: close\r\n", head, StringComparison.Ordinal);
        Assert.Equal(Length, body.Length);
        Assert.Equal(-1, OriginContent.FirstMismatch(body));
    }

    [Fact]
    public async Task OriginDown_Answers502()
    {
        await using TestServer server = await TestServer.StartAsync();

        string response = await ExchangeAsync(server, $"GET http://127.0.0.1:{RouteTestSupport.ClosedPort()}/ HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 502 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithUsers_NoCredentials_Answers407WithBasicChallenge()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));

        string response = await ExchangeAsync(server, "GET http://localhost/ HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 407 Proxy Authentication Required\r\n", response, StringComparison.Ordinal);
        Assert.Contains("Proxy-Authenticate: Basic realm=\"sockeye\"\r\n", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alice", "wrong")]
    [InlineData("mallory", "secret")]
    public async Task WithUsers_WrongCredentials_Answers407_AndCountsAFailedLogin(string user, string password)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        string credentials = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

        string response = await ExchangeAsync(server, $"CONNECT localhost:443 HTTP/1.1\r\nProxy-Authorization: Basic {credentials}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 407 ", response, StringComparison.Ordinal);
        Assert.Contains(server.Logs.Lines, line => line.Contains("Sockeye.Session[2003]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HttpClient_WithProxyCredentials_AnswersTheChallenge_AndIsServed()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using HttpClient client = ThroughProxy(server, new NetworkCredential("alice", "secret"));

        string body = await client.GetStringAsync(origin.Url("headers"));

        Assert.DoesNotContain("Proxy-Authorization", body, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HttpClient_HttpsThroughConnect_ToTlsOrigin()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        SocketsHttpHandler handler = origin.CreateHandler();
        handler.Proxy = new WebProxy($"http://127.0.0.1:{server.EndPoint.Port}");
        handler.UseProxy = true;
        using var client = new HttpClient(handler) { Timeout = TestTimeouts.Default };

        Assert.Equal(OriginServer.HelloBody, await client.GetStringAsync(origin.Url("hello")));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]  // CONNECT to the TLS origin.
    [InlineData(false, true)]  // --proxytunnel: CONNECT even for http://.
    public async Task Curl_HttpProxy_Fetches(bool tls, bool tunnel)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        await using OriginServer origin = await OriginServer.StartAsync(tls);
        string[] extra = ["--proxy-user", "alice:secret", .. tls ? new[] { "--cacert", origin.CertificatePemPath! } : [], .. tunnel ? new[] { "--proxytunnel" } : []];

        (int exitCode, string output, string error) = await RealClientTests.CurlAsync("--proxy", $"http://127.0.0.1:{server.EndPoint.Port}", origin.Url("hello").ToString(), extra);

        Assert.True(exitCode == 0, error);
        Assert.Equal(OriginServer.HelloBody, output);
    }

    [Fact]
    public async Task GitClone_OverHttpsThroughTheHttpProxy()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        string head = await origin.CreateRepositoryAsync("project");
        string home = Directory.CreateTempSubdirectory("sockeye-git-").FullName;
        try
        {
            string clone = Path.Combine(home, "clone");
            var start = new System.Diagnostics.ProcessStartInfo(OriginServer.GitPath)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (string argument in (string[])["-c", $"http.proxy=http://127.0.0.1:{server.EndPoint.Port}", "clone", "--quiet", origin.RepositoryUrl("project").ToString(), clone])
            {
                start.ArgumentList.Add(argument);
            }

            foreach ((string name, string? value) in origin.GitClientEnvironment(home))
            {
                if (value is null)
                {
                    start.Environment.Remove(name);
                }
                else
                {
                    start.Environment[name] = value;
                }
            }

            using var git = System.Diagnostics.Process.Start(start)!;
            Task<string> error = git.StandardError.ReadToEndAsync();
            await git.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(git.ExitCode == 0, await error);
            string cloned = (await File.ReadAllTextAsync(Path.Combine(clone, ".git", "refs", "heads", "main"))).Trim();
            Assert.Equal(head, cloned);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    private static HttpClient ThroughProxy(TestServer server, NetworkCredential? credentials = null)
    {
        var proxy = new WebProxy($"http://127.0.0.1:{server.EndPoint.Port}") { Credentials = credentials };
        var handler = new SocketsHttpHandler { Proxy = proxy, UseProxy = true };
        return new HttpClient(handler) { Timeout = TestTimeouts.Default };
    }

    /// <summary>Sends <paramref name="request"/> on a new connection and reads everything the server sends until it closes.</summary>
    private static async Task<string> ExchangeAsync(TestServer server, string request, bool latin1 = false)
    {
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync(Ascii(request));
        byte[] received = await client.ReadToEndAsync();
        return latin1 ? Encoding.Latin1.GetString(received) : Encoding.ASCII.GetString(received);
    }

    private static async Task<string> ReadHeadAsync(Socket socket)
    {
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 4096)
        {
            head.Append((char)(await socket.ReceiveExactlyAsync(1))[0]);
        }

        return head.ToString();
    }

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private sealed class NeverResolves : IHostResolver
    {
        public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return [];
        }
    }
}
