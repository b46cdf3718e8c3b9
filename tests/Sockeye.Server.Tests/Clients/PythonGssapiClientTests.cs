using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Server.Tests.Clients;

/// <summary>
/// GSSAPI authentication (RFC 1961) with a third-party Kerberos initiator: Debian's python3-gssapi on MIT Kerberos,
/// driving Clients/rfc1961_client.py against a real KDC, at protection level none (what the server grants today).
/// Levels 1-3 are in <see cref="PythonGssapiProtectionTests"/>.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class PythonGssapiClientTests
{
    [PythonGssapiTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LevelNone_HttpGet_ReturnsTheBody(bool mutual)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var http = new HttpTestServer("hello through sockeye, by GSSAPI");

        string[] arguments = ["--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/", .. mutual ? Array.Empty<string>() : ["--no-mutual"]];
        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(realm, server.EndPoint, arguments);

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(http.Body, output);
        Assert.Contains("protection level 0 (none) granted", error, StringComparison.Ordinal);
    }

    [PythonGssapiFact]
    public async Task NecVariant_HttpGetByName_ReturnsTheBody()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var http = new HttpTestServer("NEC's variant: the level unwrapped");

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--nec", "--connect", $"localhost:{http.Port}", "--get", "/");

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(http.Body, output);
    }

    [PythonGssapiFact]
    public async Task LevelNone_SentBytes_ReachTheTarget_AndItsAnswerComesBack()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var target = new TcpTarget();
        Task<byte[]> received = AnswerOnceAsync(target, "pong");

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--connect", PythonGssapiClient.Endpoint(target.EndPoint), "--send", "ping");

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal("ping"u8.ToArray(), await received.DefaultTimeout());
        Assert.Equal("pong", output);
    }

    [PythonGssapiFact]
    public async Task LevelNone_UdpAssociate_EchoesDatagrams()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var echo = new UdpEcho();

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--udp", PythonGssapiClient.Endpoint(echo.EndPoint), "--datagram", "one", "--datagram", "two");

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal($"one 127.0.0.1 {echo.EndPoint.Port}\ntwo 127.0.0.1 {echo.EndPoint.Port}\n", output);
    }

    [PythonGssapiFact]
    public async Task Principal_IsTheSessionsUser_ForRulesAndTheLog()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm, o =>
        {
            // Only alice@SOCKEYE.TEST may connect: a CONNECT that succeeds proves who the session is.
            var rule = new AccessRule { Action = AccessAction.Allow };
            rule.Users.Add(KerberosRealm.UserPrincipalName);
            o.Rules.Add(rule);
        });
        using var http = new HttpTestServer("only for alice");

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/");

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(http.Body, output);
        Assert.Contains($"authenticated as {KerberosRealm.UserPrincipalName} to rcmd/localhost@{KerberosRealm.Realm}", error, StringComparison.Ordinal);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2022]", StringComparison.Ordinal) && line.Contains(KerberosRealm.UserPrincipalName, StringComparison.Ordinal));
    }

    [PythonGssapiFact]
    public async Task Principal_OtherThanTheRuleNames_GetsRulesetRefusal()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm, o =>
        {
            var rule = new AccessRule { Action = AccessAction.Allow };
            rule.Users.Add("bob@" + KerberosRealm.Realm);
            o.Rules.Add(rule);
        });
        using var http = new HttpTestServer("not for alice");

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/");

        Assert.True(exitCode == PythonGssapiClient.ReplyFailed, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Contains("REP X'02' (connection not allowed by ruleset)", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    [PythonGssapiFact]
    public async Task ServiceNotInTheServersKeytab_ServerAborts_AndServesOn()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        // The KDC knows other/localhost and gives the client a ticket for it, but the server's keytab lacks its key.
        await realm.AddServicePrincipalAsync("other/localhost");
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var http = new HttpTestServer("served on");
        string[] get = ["--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/"];

        foreach (string mutual in (string[])["--no-mutual", "--nec"])
        {
            (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(realm, server.EndPoint, ["--service", "other", mutual, .. get]);

            Assert.True(exitCode == PythonGssapiClient.ServerAborted, PythonGssapiClient.Explain(realm, exitCode, error));
            Assert.Contains("the server aborted (X'01 FF')", error, StringComparison.Ordinal);
            Assert.Empty(output);
        }

        Assert.Contains(server.Logs.Lines, line => line.Contains("[2024]", StringComparison.Ordinal));
        await AssertServesOnAsync(realm, server, http);
    }

    [PythonGssapiFact]
    public async Task ServicePrincipalUnknownToTheKdc_FailsInTheClient_AndServerServesOn()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var http = new HttpTestServer("served on");

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--service-host", "somethingelse", "--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/");

        // The KDC has no rcmd/somethingelse: gss_init_sec_context fails, and the client aborts the exchange itself.
        Assert.True(exitCode == PythonGssapiClient.GssapiFailed, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Contains("GSSAPI failed for rcmd@somethingelse", error, StringComparison.Ordinal);
        Assert.Contains("not found in Kerberos database", error, StringComparison.Ordinal);
        Assert.Empty(output);
        await AssertServesOnAsync(realm, server, http);
    }

    [PythonGssapiFact]
    public async Task NoTicket_FailsClearly_AndServerServesOn()
    {
        await using var realm = await KerberosRealm.StartAsync();
        // No kinit: the credential cache KRB5CCNAME names does not exist.
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var http = new HttpTestServer("needs a ticket");

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/");

        Assert.True(exitCode == PythonGssapiClient.GssapiFailed, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Contains("No Kerberos credentials available", error, StringComparison.Ordinal);
        Assert.Empty(output);

        await realm.KinitUserAsync();
        await AssertServesOnAsync(realm, server, http);
    }

    [PythonGssapiFact]
    public async Task ServerWithoutGssapi_NoAcceptableMethod()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--connect", "127.0.0.1:9", "--get", "/");

        Assert.True(exitCode == PythonGssapiClient.NoAcceptableMethod, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Contains("X'05 FF'", error, StringComparison.Ordinal);
        Assert.Empty(output);
    }

    /// <summary>
    /// The client's own side of the protection-level rule: a peer (here a bare acceptor in the test, not Sockeye) that
    /// grants less than asked is refused with the abort X'01 FF', whatever Sockeye's policy becomes.
    /// </summary>
    [PythonGssapiTheory]
    [InlineData("integrity", false)]
    [InlineData("confidentiality", false)]
    [InlineData("selective", true)]
    public async Task GrantedLevelBelowTheAsked_ClientAborts(string level, bool nec)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        // The realm's own keytab, not exported again: KRB5_KTNAME of this process serves the acceptor.
        using IDisposable environment = realm.UseInThisProcess();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        Task<byte[]> peer = GrantNoneAsync(listener, nec);

        string[] arguments = ["--level", level, "--connect", "127.0.0.1:9", "--get", "/", .. nec ? ["--nec"] : Array.Empty<string>()];
        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(realm, (IPEndPoint)listener.LocalEndPoint!, arguments);

        Assert.True(exitCode == PythonGssapiClient.LevelUnacceptable, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Contains($"the server granted protection level 0 (none), less than {(level == "integrity" ? 1 : level == "confidentiality" ? 2 : 3)} ({level}) asked for", error, StringComparison.Ordinal);
        Assert.Empty(output);
        Assert.Equal([1, 0xFF], await peer.DefaultTimeout());
    }

    /// <summary>A GSSAPI SOCKS5 peer that grants level none to any request; returns what the client sent after that.</summary>
    private static async Task<byte[]> GrantNoneAsync(Socket listener, bool nec)
    {
        using Socket client = await listener.AcceptAsync().DefaultTimeout();
        Assert.Equal([5, 1, 1], await client.ReceiveExactlyAsync(3));
        await client.SendAsync(new byte[] { 5, 1 }, SocketFlags.None);
        using var acceptor = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
        {
            Package = "Kerberos",
            Credential = CredentialCache.DefaultNetworkCredentials,
        });

        (byte type, byte[] token) = await ReceiveMessageAsync(client);
        Assert.Equal(1, type);
        byte[]? reply = acceptor.GetOutgoingBlob(token, out NegotiateAuthenticationStatusCode status);
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, status);
        if (reply is { Length: > 0 })
        {
            await client.SendAsync(Message(1, reply), SocketFlags.None);
        }

        (type, token) = await ReceiveMessageAsync(client);
        Assert.Equal(2, type);
        if (nec)
        {
            await client.SendAsync(Message(2, [0]), SocketFlags.None);
        }
        else
        {
            var wrapped = new ArrayBufferWriter<byte>();
            Assert.Equal(NegotiateAuthenticationStatusCode.Completed, acceptor.Wrap([0], wrapped, requestEncryption: false, out _));
            await client.SendAsync(Message(2, wrapped.WrittenSpan.ToArray()), SocketFlags.None);
        }

        return await client.ReadToEndAsync();
    }

    /// <summary>Accepts one connection, reads four bytes, answers <paramref name="answer"/> and closes; returns what it read.</summary>
    private static async Task<byte[]> AnswerOnceAsync(TcpTarget target, string answer)
    {
        using Socket accepted = await target.AcceptAsync();
        byte[] received = await accepted.ReceiveExactlyAsync(4);
        await accepted.SendAsync(System.Text.Encoding.ASCII.GetBytes(answer), SocketFlags.None);
        accepted.Shutdown(SocketShutdown.Both);
        return received;
    }

    private static async Task<(byte Type, byte[] Token)> ReceiveMessageAsync(Socket socket)
    {
        byte[] header = await socket.ReceiveExactlyAsync(4);
        Assert.Equal(1, header[0]);
        return (header[1], await socket.ReceiveExactlyAsync(BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2))));
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

    /// <summary>After a failure, the same server still serves the script with the right service: the body arrives.</summary>
    private static async Task AssertServesOnAsync(KerberosRealm realm, TestServer server, HttpTestServer http)
    {
        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/");

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(http.Body, output);
    }
}
