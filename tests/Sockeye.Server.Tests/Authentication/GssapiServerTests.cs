using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Server.Tests.Authentication;

/// <summary>
/// GSSAPI authentication (RFC 1961) against a real KDC: raw RFC 1961 bytes from a .NET Kerberos initiator in the test,
/// the server's keys in a keytab of its own that only the server's <c>gssapi.keytab</c> points at.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiServerTests
{
    private static readonly byte[] GssapiGreeting = [5, 1, 1];

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Gssapi_WrappedLevel_TunnelCarriesBytes_AsThePrincipal(bool mutual, bool stripRealm)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        string user = stripRealm ? KerberosRealm.UserName : KerberosRealm.UserPrincipalName;
        await using TestServer server = await StartServerAsync(realm, o =>
        {
            o.Gssapi!.StripRealm = stripRealm;
            // Only this user may connect: a CONNECT that succeeds proves the session's user.
            var rule = new AccessRule { Action = AccessAction.Allow };
            rule.Users.Add(user);
            o.Rules.Add(rule);
        });
        using var target = new TcpTarget();

        using RawClient client = await AuthenticateAsync(server, mutual, nec: false);
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        byte[] reply = await client.ReceiveReplyAsync();
        Assert.Equal(0, reply[1]);
        using var accepted = await target.AcceptAsync();
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await accepted.ReceiveExactlyAsync(4));
        await accepted.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2022]", StringComparison.Ordinal) && line.Contains(KerberosRealm.UserPrincipalName, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Gssapi_NoKeytabConfigured_UsesKrb5KtnameFromTheEnvironment()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        // KRB5_KTNAME is the realm's own keytab, not exported again: the server must take it from the environment.
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await TestServer.StartAsync(o => o.Gssapi = new GssapiOptions());
        using var target = new TcpTarget();

        using RawClient client = await AuthenticateAsync(server, mutual: false, nec: false);
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Gssapi_OtherUserThanTheRuleNames_IsDenied()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm, o =>
        {
            var rule = new AccessRule { Action = AccessAction.Allow };
            rule.Users.Add("bob@" + KerberosRealm.Realm);
            o.Rules.Add(rule);
        });
        using var target = new TcpTarget();

        using RawClient client = await AuthenticateAsync(server, mutual: false, nec: false);
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(2, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Gssapi_NecVariant_PlainLevelAnsweredPlain()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);
        using var target = new TcpTarget();

        using RawClient client = await AuthenticateAsync(server, mutual: true, nec: true);
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Gssapi_ClientOfferingOnlyNoAuth_GetsNoAcceptableMethod()
    {
        await using var realm = await KerberosRealm.StartAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);

        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync(Socks5Bytes.NoAuthGreeting);
        Assert.Equal([5, 0xFF], await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Gssapi_Socks4AndHttpWithoutUsers_AreRefused()
    {
        await using var realm = await KerberosRealm.StartAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);
        using var target = new TcpTarget();

        using (RawClient socks4 = await RawClient.ConnectAsync(server.EndPoint))
        {
            byte[] request = [4, 1, (byte)(target.Port >> 8), (byte)target.Port, 127, 0, 0, 1, (byte)'a', 0];
            await socks4.SendAsync(request);
            byte[] answer = await socks4.ReadToEndAsync();
            // Refused (X'5B') or closed unanswered; never granted (X'5A').
            Assert.True(answer.Length == 0 || answer[1] == 91, Convert.ToHexString(answer));
        }

        using RawClient http = await RawClient.ConnectAsync(server.EndPoint);
        await http.SendAsync(System.Text.Encoding.ASCII.GetBytes($"CONNECT 127.0.0.1:{target.Port} HTTP/1.1\r\nHost: 127.0.0.1:{target.Port}\r\n\r\n"));
        string head = System.Text.Encoding.ASCII.GetString(await http.ReadToEndAsync());
        Assert.StartsWith("HTTP/1.1 407", head, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 1, 1, 0, 4, 0xDE, 0xAD, 0xBE, 0xEF }, "garbage context token")]
    [InlineData(new byte[] { 1, 1, 0xFF, 0xFF }, "LEN beyond the server's bound")]
    [InlineData(new byte[] { 1, 2, 0, 1, 0 }, "a protection level before any context")]
    [InlineData(new byte[] { 5, 1, 0, 1 }, "a SOCKS request instead of a GSSAPI message")]
    public async Task Gssapi_BadContextMessage_AbortedAndClosed_ServerServesOn(byte[] message, string what)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);

        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(GssapiGreeting);
            Assert.Equal([5, 1], await client.ReceiveExactlyAsync(2));
            await client.SendAsync(message);
            byte[] answer = await client.ReadToEndAsync();
            Assert.True(answer.AsSpan().SequenceEqual((byte[])[1, 0xFF]), $"{what}: {Convert.ToHexString(answer)}");
        }

        Assert.Contains(server.Logs.Lines, line => line.Contains("[2024]", StringComparison.Ordinal));
        await AssertServesOnAsync(server);
    }

    [Fact]
    public async Task Gssapi_ClientAborts_ClosedWithoutAnswer()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);

        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(GssapiGreeting);
            Assert.Equal([5, 1], await client.ReceiveExactlyAsync(2));
            await client.SendAsync([1, 0xFF]);
            Assert.Empty(await client.ReadToEndAsync());
        }

        await AssertServesOnAsync(server);
    }

    [Fact]
    public async Task Gssapi_TicketForAServiceNotInTheKeytab_Aborted()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        await realm.AddServicePrincipalAsync("other/localhost");
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);

        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        using (NegotiateAuthentication initiator = NewInitiator("other/localhost", mutual: false))
        {
            byte[]? token = initiator.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out NegotiateAuthenticationStatusCode status);
            Assert.True(token is { Length: > 0 }, $"{status}\nKDC:\n{realm.KdcOutput}");
            await client.SendAsync(GssapiGreeting);
            Assert.Equal([5, 1], await client.ReceiveExactlyAsync(2));
            await client.SendAsync(Message(1, token));
            Assert.Equal([1, 0xFF], await client.ReadToEndAsync());
        }

        await AssertServesOnAsync(server);
    }

    [Fact]
    public async Task Gssapi_TicketExpiredWhenItArrives_Aborted_ServerServesOn()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.AddPrincipalAsync("brief", "brief-password", maxTicketLifetime: TimeSpan.FromSeconds(2));
        await realm.KinitAsync("brief", "brief-password", realm.DefaultCredentialCachePath);
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await StartServerAsync(realm);

        // The AP-REQ is made while the ticket is valid, and reaches the server after the ticket and the clock skew ended:
        // a client that held its token too long, or a replay of an old one.
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        using (NegotiateAuthentication initiator = NewInitiator(KerberosRealm.ServicePrincipal, mutual: true))
        {
            byte[]? token = initiator.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out NegotiateAuthenticationStatusCode status);
            Assert.True(token is { Length: > 0 }, $"{status}\nKDC:\n{realm.KdcOutput}");
            await client.SendAsync(GssapiGreeting);
            Assert.Equal([5, 1], await client.ReceiveExactlyAsync(2));
            await Task.Delay(TimeSpan.FromSeconds(2) + KerberosRealm.ClockSkew + TimeSpan.FromSeconds(1));
            await client.SendAsync(Message(1, token));
            Assert.Equal([1, 0xFF], await client.ReadToEndAsync());
        }

        Assert.Contains(server.Logs.Lines, line => line.Contains("[2024]", StringComparison.Ordinal) && line.Contains("context token was refused", StringComparison.Ordinal));
        await realm.KinitUserAsync();
        await AssertServesOnAsync(server);
    }

    [Fact]
    public void Validator_UnreadableKeytab_IsAStartupError()
    {
        var options = new SockeyeServerOptions { Gssapi = new GssapiOptions { Keytab = "/nonexistent/sockeye.keytab" } };
        options.Listeners.Add(new IPEndPoint(IPAddress.Loopback, 0));

        var result = new SockeyeServerOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, failure => failure.StartsWith("gssapi.keytab:", StringComparison.Ordinal));
    }

    private static Task<TestServer> StartServerAsync(KerberosRealm realm, Action<SockeyeServerOptions>? configure = null) => GssapiServers.StartAsync(realm, configure);

    /// <summary>Greeting, context establishment and protection level (RFC 1961 §3 and §4); returns the client ready for its request.</summary>
    private static async Task<RawClient> AuthenticateAsync(TestServer server, bool mutual, bool nec)
    {
        RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        using NegotiateAuthentication initiator = NewInitiator(KerberosRealm.ServicePrincipal, mutual);
        await client.SendAsync(GssapiGreeting);
        Assert.Equal([5, 1], await client.ReceiveExactlyAsync(2));

        byte[]? fromServer = null;
        for (int round = 0; ; round++)
        {
            Assert.True(round < 3, "no context after three rounds");
            byte[]? token = initiator.GetOutgoingBlob(fromServer, out NegotiateAuthenticationStatusCode status);
            Assert.True(status is NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded, status.ToString());
            if (token is { Length: > 0 })
            {
                await client.SendAsync(Message(1, token));
            }

            if (status == NegotiateAuthenticationStatusCode.Completed)
            {
                break;
            }

            (byte type, fromServer) = await ReceiveMessageAsync(client);
            Assert.Equal(1, type);
        }

        Assert.Equal(mutual, initiator.IsMutuallyAuthenticated);

        // Level none asked, as curl asks: none is granted (GssapiProtectionTests has the other levels).
        byte[] level = [(byte)0];
        if (nec)
        {
            await client.SendAsync(Message(2, level));
            Assert.Equal([1, 2, 0, 1, 0], await client.ReceiveExactlyAsync(5));
            return client;
        }

        var wrapped = new ArrayBufferWriter<byte>();
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, initiator.Wrap(level, wrapped, requestEncryption: false, out _));
        await client.SendAsync(Message(2, wrapped.WrittenSpan.ToArray()));
        (byte answerType, byte[] answer) = await ReceiveMessageAsync(client);
        Assert.Equal(2, answerType);
        var unwrapped = new ArrayBufferWriter<byte>();
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, initiator.Unwrap(answer, unwrapped, out _));
        Assert.Equal([0], unwrapped.WrittenSpan.ToArray());
        return client;
    }

    private static async Task AssertServesOnAsync(TestServer server)
    {
        using var target = new TcpTarget();
        using (RawClient client = await AuthenticateAsync(server, mutual: false, nec: false))
        {
            await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);

            // Both ends closed: the tunnel ends, and with it the session.
            (await target.AcceptAsync()).Dispose();
        }

        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (server.Server.ActiveSessionCount > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, server.Server.ActiveSessionCount);
    }

    private static NegotiateAuthentication NewInitiator(string targetName, bool mutual)
    {
        var options = new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = targetName,
            Credential = CredentialCache.DefaultNetworkCredentials,

            // What curl asks for (GSS_C_MUTUAL_FLAG), so the acceptor answers with an AP-REP token.
            RequireMutualAuthentication = mutual,
        };
        return new NegotiateAuthentication(options);
    }

    private static byte[] Message(byte type, byte[] token)
    {
        byte[] message = new byte[4 + token.Length];
        message[0] = 1;
        message[1] = type;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)token.Length);
        token.CopyTo(message, 4);
        return message;
    }

    private static async Task<(byte Type, byte[] Token)> ReceiveMessageAsync(RawClient client)
    {
        byte[] header = await client.ReceiveExactlyAsync(4);
        Assert.Equal(1, header[0]);
        return (header[1], await client.ReceiveExactlyAsync(BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2))));
    }
}
