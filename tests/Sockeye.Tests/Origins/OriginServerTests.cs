using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Sockeye.Testing.Origins;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests.Origins;

/// <summary>
/// The origin fixture on its own, no proxy in between: each thing a proxy test will rely on, seen by a real client
/// (curl, git, HttpClient, or a raw socket when the bytes on the wire are the point).
/// </summary>
public sealed class OriginServerTests
{
    private const string Curl = "/usr/bin/curl";

    [ProgramFact(Curl, "curl")]
    public async Task Curl_PlainHttp_FetchesHelloAndBytes()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var temp = new TempDirectory();

        Assert.Equal($"http://127.0.0.1:{origin.Port}/", origin.BaseUri.ToString());
        Assert.Equal(OriginServer.HelloBody, await CurlTextAsync(origin.Url("hello")));
        Assert.Equal(OriginContent.Bytes(300_000), await CurlBytesAsync(origin.Url("bytes/300000"), temp.File("body")));
    }

    [ProgramFact(Curl, "curl")]
    public async Task Curl_HttpsWithCacert_FetchesHelloAndBytes()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        using var temp = new TempDirectory();

        Assert.Equal($"https://localhost:{origin.Port}/", origin.BaseUri.ToString());
        Assert.Equal(OriginServer.HelloBody, await CurlTextAsync(origin.Url("hello"), "--cacert", origin.CertificatePemPath!));
        Assert.Equal(OriginContent.Bytes(300_000), await CurlBytesAsync(origin.Url("bytes/300000"), temp.File("body"), "--cacert", origin.CertificatePemPath!));
    }

    [ProgramFact(Curl, "curl")]
    public async Task Curl_HttpsWithoutCacert_RefusesTheCertificate()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);

        (int exitCode, string output, _) = await RunCurlAsync(origin.Url("hello"));

        Assert.Equal(60, exitCode); // CURLE_PEER_FAILED_VERIFICATION: the certificate is trusted only when named.
        Assert.Empty(output);
    }

    [Fact]
    public async Task HttpClient_HttpsThreeRequests_ShareOneConnection()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(OriginServer.HelloBody, await client.GetStringAsync(origin.Url("hello")));
        }

        Assert.Equal(1, origin.ConnectionsAccepted);
        Assert.Equal([IPAddress.Loopback], origin.RemoteAddresses);
    }

    [Fact]
    public async Task HttpClient_AnotherOriginsCertificate_IsNotTrusted()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        await using OriginServer other = await OriginServer.StartAsync(tls: true);
        using var client = new HttpClient(other.CreateHandler()) { Timeout = TestTimeouts.Default };

        // The other origin's handler trusts only its own certificate.
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(origin.Url("hello")));
        Assert.False(other.Trusts(origin.Certificate));
        Assert.True(origin.Trusts(origin.Certificate));
    }

    [Fact]
    public async Task Chunked_RawRequest_ArrivesInChunksWithThePattern()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);

        byte[] response = await RawRequestAsync(origin.EndPoint, $"GET /chunked/100000 HTTP/1.1\r\nHost: 127.0.0.1:{origin.Port}\r\nConnection: close\r\n\r\n");

        int headEnd = response.AsSpan().IndexOf("\r\n\r\n"u8);
        string head = Encoding.ASCII.GetString(response, 0, headEnd);
        Assert.StartsWith("HTTP/1.1 200 ", head, StringComparison.Ordinal);
        Assert.Contains("\r\nTransfer-Encoding: chunked", head, StringComparison.Ordinal);
        Assert.DoesNotContain("Content-Length", head, StringComparison.OrdinalIgnoreCase);
        (byte[] body, int chunks) = Dechunk(response.AsSpan(headEnd + 4));
        Assert.Equal(OriginContent.Bytes(100_000), body);
        Assert.True(chunks >= 4, $"{chunks} chunks");
    }

    [Fact]
    public async Task Bytes_LargeBody_MatchesThePatternThroughout()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        using HttpResponseMessage response = await client.GetAsync(origin.Url("bytes/5000000"), HttpCompletionOption.ResponseHeadersRead);
        await using Stream body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[81_920];
        long offset = 0;
        int read;
        while ((read = await body.ReadAsync(buffer).AsTask().WaitAsync(TestTimeouts.Default)) > 0)
        {
            Assert.Equal(-1, OriginContent.FirstMismatch(buffer.AsSpan(0, read), offset));
            offset += read;
        }

        Assert.Equal(5_000_000, response.Content.Headers.ContentLength);
        Assert.Equal(5_000_000, offset);
    }

    [Theory]
    [InlineData("bytes/1000", 1000L)]
    [InlineData("chunked/1000", null)]
    public async Task Head_ByteEndpoints_AnswerHeadersWithoutBody(string path, long? contentLength)
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        using HttpResponseMessage response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, origin.Url(path)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentLength, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Echo_LargePost_ComesBackUnchanged(bool chunked)
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };
        byte[] sent = new byte[3 * 1024 * 1024];
        new Random(21).NextBytes(sent);

        using var request = new HttpRequestMessage(HttpMethod.Post, origin.Url("echo")) { Content = new ByteArrayContent(sent) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-test");

        // A chunked request has no Content-Length; then the echo has none either.
        request.Headers.TransferEncodingChunked = chunked;
        using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-test", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(chunked ? null : sent.Length, response.Content.Headers.ContentLength);
        Assert.Equal(chunked, response.Headers.TransferEncodingChunked ?? false);
        Assert.Equal(sent, await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(204)]
    [InlineData(304)]
    [InlineData(404)]
    [InlineData(500)]
    public async Task Status_Code_IsAnsweredWithAnEmptyBody(int code)
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        using HttpResponseMessage response = await client.GetAsync(origin.Url($"status/{code}"));

        Assert.Equal(code, (int)response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Headers_CustomHeader_IsListed()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };
        using var request = new HttpRequestMessage(HttpMethod.Get, origin.Url("headers"));
        request.Headers.Add("X-Sockeye-Test", "origin check");

        string[] lines = (await (await client.SendAsync(request)).Content.ReadAsStringAsync()).Split('\n');

        Assert.Contains("X-Sockeye-Test: origin check", lines);
        Assert.Contains($"Host: 127.0.0.1:{origin.Port}", lines);
        Assert.DoesNotContain(lines, line => line.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Source_Loopback_Is127001()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        Assert.Equal("127.0.0.1", await client.GetStringAsync(origin.Url("source")));
    }

    [Fact]
    public async Task Source_ClientBoundTo127002_Sees127002()
    {
        IPAddress second = IPAddress.Parse("127.0.0.2");
        await using OriginServer origin = await OriginServer.StartAsync(tls: false, second);

        byte[] response = await RawRequestAsync(origin.EndPoint, "GET /source HTTP/1.1\r\nHost: 127.0.0.2\r\nConnection: close\r\n\r\n", bindTo: second);

        Assert.Equal($"http://127.0.0.2:{origin.Port}/", origin.BaseUri.ToString());
        Assert.EndsWith("\r\n\r\n127.0.0.2", Encoding.ASCII.GetString(response), StringComparison.Ordinal);
        Assert.Equal([second], origin.RemoteAddresses);
    }

    [Fact]
    public async Task Source_IPv6Loopback_IsIPv6Loopback()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true, IPAddress.IPv6Loopback);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        Assert.Equal($"https://[::1]:{origin.Port}/", origin.BaseUri.ToString());
        Assert.Equal("::1", await client.GetStringAsync(origin.Url("source")));
    }

    [ProgramFact(OriginServer.GitPath, "git")]
    public async Task GitClone_OverHttps_ChecksOutTheCreatedHead()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: true);
        string head = await origin.CreateRepositoryAsync("fixture");

        Assert.Equal(head, await CloneAsync(origin, "fixture"));
    }

    [ProgramFact(OriginServer.GitPath, "git")]
    public async Task GitClone_OverPlainHttp_ChecksOutTheCreatedHead()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        string head = await origin.CreateRepositoryAsync("plain-fixture");

        Assert.Equal(head, await CloneAsync(origin, "plain-fixture"));
    }

    [ProgramFact(OriginServer.GitPath, "git")]
    public async Task GitBackend_UnknownRepository_AnswersNotFound()
    {
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);
        using var client = new HttpClient(origin.CreateHandler()) { Timeout = TestTimeouts.Default };

        using HttpResponseMessage response = await client.GetAsync(origin.Url("git/missing.git/info/refs?service=git-upload-pack"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Dispose_DeletesEverythingItWrote()
    {
        OriginServer origin = await OriginServer.StartAsync(tls: true);
        string folder = Path.GetDirectoryName(origin.CertificatePemPath)!;
        Assert.True(File.Exists(origin.CertificatePemPath));

        await origin.DisposeAsync();

        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public async Task StartAsync_NonLoopbackAddress_Throws()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => OriginServer.StartAsync(tls: false, IPAddress.Any));
    }

    /// <summary>Clones the repository into a new folder and returns the clone's HEAD.</summary>
    private static async Task<string> CloneAsync(OriginServer origin, string name)
    {
        using var temp = new TempDirectory();
        IReadOnlyDictionary<string, string?> environment = origin.GitClientEnvironment(temp.Path);
        string clone = temp.File("clone");

        (int exitCode, _, string error) = await ExternalProgram.RunAsync("git", environment, "clone", "--quiet", origin.RepositoryUrl(name).ToString(), clone);
        Assert.True(exitCode == 0, error);
        Assert.True(File.Exists(Path.Combine(clone, "file3.txt")));

        (exitCode, string head, error) = await ExternalProgram.RunAsync("git", environment, "-C", clone, "rev-parse", "HEAD");
        Assert.True(exitCode == 0, error);
        return head.Trim();
    }

    private static async Task<string> CurlTextAsync(Uri url, params string[] extra)
    {
        (int exitCode, string output, string error) = await RunCurlAsync(url, extra);
        Assert.True(exitCode == 0, error);
        return output;
    }

    private static async Task<byte[]> CurlBytesAsync(Uri url, string file, params string[] extra)
    {
        (int exitCode, _, string error) = await RunCurlAsync(url, ["--output", file, .. extra]);
        Assert.True(exitCode == 0, error);
        return await File.ReadAllBytesAsync(file);
    }

    /// <summary>curl with no configuration file (<c>-q</c>), no proxy from its environment or the command line.</summary>
    private static Task<(int ExitCode, string Output, string Error)> RunCurlAsync(Uri url, params string[] extra) =>
        ExternalProgram.RunAsync("curl", OriginServer.ClientEnvironment(),
            ["-q", "--silent", "--show-error", "--fail", "--max-time", "20", "--noproxy", "*", .. extra, url.ToString()]);

    /// <summary>Sends <paramref name="request"/> as it is and reads the whole response, to the server's close.</summary>
    private static async Task<byte[]> RawRequestAsync(IPEndPoint server, string request, IPAddress? bindTo = null)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (bindTo is not null)
        {
            socket.Bind(new IPEndPoint(bindTo, 0));
        }

        await socket.ConnectAsync(server).DefaultTimeout();
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None).DefaultTimeout();
        using var response = new MemoryStream();
        byte[] buffer = new byte[65_536];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout()) > 0)
        {
            response.Write(buffer, 0, read);
            Assert.True(response.Length <= 16 * 1024 * 1024, "the response did not end");
        }

        return response.ToArray();
    }

    /// <summary>Decodes an HTTP/1.1 chunked body (RFC 9112 §7.1), no extensions or trailers expected.</summary>
    private static (byte[] Body, int Chunks) Dechunk(ReadOnlySpan<byte> data)
    {
        using var body = new MemoryStream();
        int chunks = 0;
        while (true)
        {
            int lineEnd = data.IndexOf("\r\n"u8);
            Assert.True(lineEnd > 0, "a chunk size line");
            int size = int.Parse(Encoding.ASCII.GetString(data[..lineEnd]), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
            data = data[(lineEnd + 2)..];
            if (size == 0)
            {
                Assert.True(data.SequenceEqual("\r\n"u8), "the last chunk ends the body");
                return (body.ToArray(), chunks);
            }

            body.Write(data[..size]);
            Assert.True(data[size..].StartsWith("\r\n"u8), "CRLF after the chunk data");
            data = data[(size + 2)..];
            chunks++;
        }
    }
}
