using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Garbage where each handshake stage expects a message, and every length field at zero and at its maximum: the client
/// gets the reply RFC 1928 or RFC 1929 has for it, then a FIN; after a CONNECT, garbage is payload like any other.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class HandshakeGarbageTests
{
    private static readonly byte[] AlicesCredentials = Socks5Bytes.Credentials("alice", "secret");

    public static TheoryData<byte[], byte, int> RequestGarbage => new()
    {
        // The garbage's first bytes, the reply code they earn (the server parses VER, CMD, then ATYP; RSV is not
        // checked), and the length of the random tail that follows: past the server's 2 KiB input area for some.
        { [0x47], 0x01, 600 },
        { [0x04, 0x01], 0x01, 3000 },
        { [5, 0x7F], 0x07, 1 },
        { [5, 0x00], 0x07, 5000 },
        { [5, 1, 0, 0x09], 0x08, 700 },
        { [5, 1, 0, 0x00], 0x08, 40 },
    };

    [Theory]
    [MemberData(nameof(RequestGarbage))]
    public async Task GarbageAfterGreeting_AnsweredWithItsReplyCode_ThenFin(byte[] head, byte code, int tail)
    {
        await using TestServer server = await TestServer.StartAsync();
        Assert.Equal([5, 0, .. FailureReply(code)], await SendAndReadToFinAsync(server, [.. Socks5Bytes.NoAuthGreeting, .. Garbage(head, tail)]));
    }

    [Theory]
    [MemberData(nameof(RequestGarbage))]
    public async Task GarbageAfterAuthentication_AnsweredWithItsReplyCode_ThenFin(byte[] head, byte code, int tail)
    {
        await using TestServer server = await StartWithAliceAsync();
        Assert.Equal([5, 2, 1, 0, .. FailureReply(code)],
            await SendAndReadToFinAsync(server, [.. Socks5Bytes.PasswordGreeting, .. AlicesCredentials, .. Garbage(head, tail)]));
    }

    [Theory]
    [InlineData(new byte[] { 5 }, 300)]
    [InlineData(new byte[] { 0 }, 3000)]
    [InlineData(new byte[] { 0xFF }, 1)]
    public async Task GarbageAfterMethodSelection_AnsweredWithRfc1929Failure_ThenFin(byte[] head, int tail)
    {
        await using TestServer server = await StartWithAliceAsync();
        Assert.Equal(new byte[] { 5, 2, 1, 1 }, await SendAndReadToFinAsync(server, [.. Socks5Bytes.PasswordGreeting, .. Garbage(head, tail)]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(600)]
    [InlineData(10_000)]
    public async Task GarbageInsteadOfGreeting_ClosedWithoutAReply_WithAFin(int length)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[new IPEndPoint(IPAddress.Loopback, 0)] = ListenerProtocols.Socks5);

        // Not a SOCKS5 greeting (version X'05'), nor SOCKS4's X'04', nor the start of an HTTP request.
        Assert.Empty(await SendAndReadToFinAsync(server, Garbage([0x99], length - 1)));
    }

    [Fact]
    public async Task GarbageAfterConnect_IsPayload_ReachesBothEndsByteExact()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using Socket client = await Hostile.ConnectAsync(server.EndPoint);

        // Pipelined right behind the request, then more of it: whatever the bytes look like, they are the tunnel's.
        byte[] up = Garbage([5, 1, 0, 9], 512 * 1024);
        byte[] down = Garbage([5, 0xFF], 512 * 1024);
        byte[] request = [.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint), .. up.AsSpan(0, 1500)];
        await client.SendAsync(request);
        using Socket accepted = await target.AcceptAsync();
        Task<byte[]> received = accepted.ReadToEndAsync(limit: up.Length + 1);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await client.ReceiveExactlyAsync(10))[1]);
        await client.SendAllThenShutdownAsync(up[1500..]);
        Assert.Equal(up, await received);

        Task<byte[]> back = Hostile.ReadToFinAsync(client, limit: down.Length + 1);
        await accepted.SendAllThenShutdownAsync(down);
        Assert.Equal(down, await back);
    }

    [Fact]
    public async Task Greeting_ZeroMethods_AnsweredNoAcceptableMethod_ThenFin()
    {
        await using TestServer server = await TestServer.StartAsync();
        Assert.Equal(new byte[] { 5, 0xFF }, await SendAndReadToFinAsync(server, [5, 0]));
    }

    [Fact]
    public async Task Greeting_255Methods_NoAuthenticationChosen_AndTheTunnelWorks()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using Socket client = await Hostile.ConnectAsync(server.EndPoint);
        byte[] methods = [.. Enumerable.Range(0, 255).Select(m => (byte)(254 - m))];
        byte[] request = [5, 255, .. methods, .. Socks5Bytes.Connect(target.EndPoint)];
        await client.SendAsync(request);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await client.ReceiveExactlyAsync(10))[1]);
        await AssertEchoAsync(client, await target.AcceptAsync());
    }

    [Fact]
    public async Task Greeting_255MethodsWithoutUsernamePassword_WhenRequired_AnsweredNoAcceptableMethod()
    {
        await using TestServer server = await StartWithAliceAsync();
        byte[] methods = [.. Enumerable.Range(0, 256).Where(m => m != 2).Select(m => (byte)m)];
        Assert.Equal(new byte[] { 5, 0xFF }, await SendAndReadToFinAsync(server, [5, 255, .. methods]));
    }

    [Theory]
    [InlineData("", "secret")]
    [InlineData("alice", "")]
    [InlineData("", "")]
    public async Task Credentials_ZeroLengthField_AnsweredRfc1929Failure_ThenFin(string user, string password)
    {
        await using TestServer server = await StartWithAliceAsync();
        Assert.Equal(new byte[] { 5, 2, 1, 1 }, await SendAndReadToFinAsync(server, [.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password)]));
    }

    [Fact]
    public async Task Credentials_255ByteNameAndPassword_Accepted_AndTheTunnelWorks()
    {
        string user = new('u', 255);
        string password = new('p', 255);
        await using TestServer server = await StartWithAliceAsync(new SockeyeUser(user, password));
        using var target = new TcpTarget();
        using Socket client = await Hostile.ConnectAsync(server.EndPoint);
        byte[] request = [.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password), .. Socks5Bytes.Connect(target.EndPoint)];
        await client.SendAsync(request);
        Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
        Assert.Equal(0, (await client.ReceiveExactlyAsync(10))[1]);
        await AssertEchoAsync(client, await target.AcceptAsync());
    }

    [Fact]
    public async Task Credentials_255ByteNameAndWrongPassword_AnsweredRfc1929Failure_ThenFin()
    {
        string user = new('u', 255);
        await using TestServer server = await StartWithAliceAsync(new SockeyeUser(user, new string('p', 255)));
        Assert.Equal(new byte[] { 5, 2, 1, 1 },
            await SendAndReadToFinAsync(server, [.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, new string('q', 255))]));
    }

    [Fact]
    public async Task Request_ZeroLengthDomain_AnsweredGeneralFailure_ThenFin()
    {
        await using TestServer server = await TestServer.StartAsync();
        Assert.Equal([5, 0, .. FailureReply(0x01)], await SendAndReadToFinAsync(server, [.. Socks5Bytes.NoAuthGreeting, 5, 1, 0, 3, 0, 0, 80]));
    }

    [Fact]
    public async Task Request_255ByteDomain_ResolvedAndConnected()
    {
        string name = LongName();
        await using TestServer server = await TestServer.StartAsync(resolver: new NameResolver(name));
        using var target = new TcpTarget();
        using Socket client = await Hostile.ConnectAsync(server.EndPoint);
        byte[] request = [.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain(name, target.Port)];
        await client.SendAsync(request);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await client.ReceiveExactlyAsync(10))[1]);
        await AssertEchoAsync(client, await target.AcceptAsync());
    }

    [Fact]
    public async Task Request_255ByteDomainThatDoesNotResolve_AnsweredHostUnreachable_ThenFin()
    {
        await using TestServer server = await TestServer.StartAsync(resolver: new NameResolver());
        Assert.Equal([5, 0, .. FailureReply(0x04)],
            await SendAndReadToFinAsync(server, [.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain(LongName(), 80)]));
    }

    [Fact]
    public async Task GarbageBatch_AtEveryStage_ResourcesReturn_AndConnectStillWorks()
    {
        await using TestServer server = await StartWithAliceAsync();
        ResourceBaseline baseline = ResourceBaseline.Capture();
        var random = new Random(22);
        var clients = new List<Task>();
        for (int i = 0; i < 300; i++)
        {
            byte[] noise = new byte[random.Next(1, 4000)];
            random.NextBytes(noise);
            byte[] message = (i % 3) switch
            {
                0 => [0x99, .. noise],
                1 => [.. Socks5Bytes.PasswordGreeting, 0x77, .. noise],
                _ => [.. Socks5Bytes.PasswordGreeting, .. AlicesCredentials, 5, 0x7F, .. noise],
            };
            clients.Add(Task.Run(() => SendAndReadToFinAsync(server, message)));
        }

        await Task.WhenAll(clients).DefaultTimeout();
        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server, "alice", "secret");
    }

    private static Task<TestServer> StartWithAliceAsync(SockeyeUser? user = null) => TestServer.StartAsync(o =>
    {
        o.Users.Add(user ?? new SockeyeUser("alice", "secret"));

        // Failed logins are part of these tests: neither their delay nor a ban of the address they share is.
        o.Authentication.FailureDelay = TimeSpan.Zero;
        o.Authentication.MaxFailures = 0;
    });

    /// <summary>Sends <paramref name="message"/> on a new connection, then reads until the server's FIN, failing on a reset.</summary>
    private static async Task<byte[]> SendAndReadToFinAsync(TestServer server, byte[] message)
    {
        using Socket client = await Hostile.ConnectAsync(server.EndPoint);
        await client.SendAsync(message).DefaultTimeout();
        return await Hostile.ReadToFinAsync(client);
    }

    /// <summary><paramref name="head"/> followed by <paramref name="tail"/> random bytes, the same every run for the same arguments.</summary>
    private static byte[] Garbage(byte[] head, int tail) => [.. head, .. TestData.RandomBytes(tail, seed: (head.Length * 31) + head[0] + tail)];

    private static byte[] FailureReply(byte code) => [5, code, 0, 1, 0, 0, 0, 0, 0, 0];

    /// <summary>A 255-byte name, the most a SOCKS5 request can carry, under the reserved .test domain.</summary>
    private static string LongName()
    {
        string name = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".test";
        name = name[(name.Length - 255)..];
        Assert.Equal(255, Encoding.ASCII.GetByteCount(name));
        return name;
    }

    private static async Task AssertEchoAsync(Socket client, Socket accepted)
    {
        using (accepted)
        {
            byte[] up = TestData.RandomBytes(10_000, seed: 1);
            await client.SendAllThenShutdownAsync(up);
            Assert.Equal(up, await accepted.ReadToEndAsync());
            await accepted.SendAllThenShutdownAsync(up);
            Assert.Equal(up, await Hostile.ReadToFinAsync(client));
        }
    }
}
