using System.Buffers;
using System.Net;
using System.Net.Security;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Server.Tests.Authentication;

/// <summary>
/// The KDC fixture, and that .NET's NegotiateAuthentication does in this process what RFC 1961 needs: raw Kerberos V5
/// GSS-API tokens (no SPNEGO) against a real MIT KDC, the acceptor's keys from a keytab, and RFC 4121 wrap tokens with
/// integrity only and with confidentiality.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class KerberosRealmTests
{
    // The DER encoding of 1.2.840.113554.1.2.2, the Kerberos V5 mechanism (RFC 1964 section 1.1).
    private static readonly byte[] KerberosMechanismOid = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02];

    [Fact]
    public void NativeEnvironment_Set_IsSeenByNativeCodeAndByDotnet()
    {
        const string name = "SOCKEYE_NATIVE_ENVIRONMENT_PROBE";
        using (NativeEnvironment.Set(new Dictionary<string, string> { [name] = "set" }))
        {
            Assert.Equal("set", NativeEnvironment.Get(name));
            Assert.Equal("set", Environment.GetEnvironmentVariable(name));
        }

        Assert.Null(NativeEnvironment.Get(name));
        Assert.Null(Environment.GetEnvironmentVariable(name));
    }

    [Theory]
    [InlineData("rcmd/localhost", false)]
    [InlineData("rcmd@localhost", false)]
    [InlineData("rcmd/localhost", true)]
    public async Task Realm_Kinit_ClientAndServerAuthenticate_AndWrapBothWays(string targetName, bool mutual)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();

        var options = new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = targetName,
            Credential = CredentialCache.DefaultNetworkCredentials,
            RequiredProtectionLevel = ProtectionLevel.EncryptAndSign,

            // What curl and Dante ask for (GSS_C_MUTUAL_FLAG), so the acceptor answers with an AP-REP token.
            RequireMutualAuthentication = mutual,
        };

        using var client = new NegotiateAuthentication(options);
        using var server = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
        {
            Package = "Kerberos",
            Credential = CredentialCache.DefaultNetworkCredentials,
        });

        (byte[] first, int acceptorTokens) = Exchange(client, server, realm);

        // An RFC 2743 initial context token carrying the Kerberos mechanism's own AP-REQ, not SPNEGO's NegTokenInit.
        Assert.Equal(0x60, first[0]);
        Assert.True(first.AsSpan().IndexOf(KerberosMechanismOid) is > 0 and < 8, Convert.ToHexString(first));
        int afterOid = first.AsSpan().IndexOf(KerberosMechanismOid) + KerberosMechanismOid.Length;
        Assert.Equal([0x01, 0x00], first[afterOid..(afterOid + 2)]); // TOK_ID KRB_AP_REQ

        Assert.True(server.IsAuthenticated);
        Assert.True(client.IsAuthenticated);
        Assert.Equal(KerberosRealm.UserPrincipalName, server.RemoteIdentity.Name);
        Assert.Equal("Kerberos", server.RemoteIdentity.AuthenticationType);
        // Without mutual authentication the exchange is one token (AP-REQ); with it the acceptor answers with AP-REP.
        Assert.Equal(mutual ? 1 : 0, acceptorTokens);
        Assert.Equal(mutual, client.IsMutuallyAuthenticated);
        Assert.True(client.IsEncrypted);

        foreach (bool encrypt in (bool[])[false, true])
        {
            AssertWrapsAndUnwraps(client, server, encrypt, sentByAcceptor: false);
            AssertWrapsAndUnwraps(server, client, encrypt, sentByAcceptor: true);
        }
    }

    [Fact]
    public async Task Realm_TargetWithoutPrincipal_ClientFailsAtOnce()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();

        using var client = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = "rcmd/nothere.localhost",
            Credential = CredentialCache.DefaultNetworkCredentials,
        });

        byte[]? token = client.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out NegotiateAuthenticationStatusCode status);

        Assert.Null(token);
        // The KDC's "server not found in Kerberos database" is a minor status .NET does not map.
        Assert.Equal(NegotiateAuthenticationStatusCode.GenericFailure, status);

        // Not client.IsAuthenticated: on .NET 10 it reads true after this failure. The status is what to trust.
    }

    [Fact]
    public async Task Realm_WithoutTicket_ClientFailsAtOnce()
    {
        await using var realm = await KerberosRealm.StartAsync();
        using IDisposable environment = realm.UseInThisProcess();

        using var client = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = KerberosRealm.ServicePrincipal,
            Credential = CredentialCache.DefaultNetworkCredentials,
        });

        byte[]? token = client.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out NegotiateAuthenticationStatusCode status);

        Assert.Null(token);
        Assert.Equal(NegotiateAuthenticationStatusCode.UnknownCredentials, status);
    }

    [Fact]
    public async Task Realm_ShortLivedPrincipal_WorksThenTicketExpires()
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.AddPrincipalAsync("brief", "brief-password", maxTicketLifetime: TimeSpan.FromSeconds(2));
        await realm.KinitAsync("brief", "brief-password", realm.DefaultCredentialCachePath);
        using IDisposable environment = realm.UseInThisProcess();

        using (var before = NewClient())
        {
            byte[]? token = before.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out NegotiateAuthenticationStatusCode status);
            Assert.True(token is { Length: > 0 }, $"{status}\nKDC:\n{realm.KdcOutput}");
        }

        // Past the ticket's end and the clock skew allowed.
        await Task.Delay(TimeSpan.FromSeconds(2) + KerberosRealm.ClockSkew + TimeSpan.FromSeconds(1));

        using var after = NewClient();
        byte[]? expired = after.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out NegotiateAuthenticationStatusCode expiredStatus);

        Assert.Null(expired);
        // MIT's "ticket expired" is a minor status: .NET reports GenericFailure, not CredentialsExpired.
        Assert.Equal(NegotiateAuthenticationStatusCode.GenericFailure, expiredStatus);

        static NegotiateAuthentication NewClient() => new(new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = KerberosRealm.ServicePrincipal,
            Credential = CredentialCache.DefaultNetworkCredentials,
        });
    }

    /// <summary>Passes tokens until both ends are done; returns the client's first token and how many the server sent.</summary>
    private static (byte[] First, int AcceptorTokens) Exchange(NegotiateAuthentication client, NegotiateAuthentication server, KerberosRealm realm)
    {
        byte[]? first = null;
        byte[]? fromServer = null;
        int acceptorTokens = 0;
        for (int round = 0; round < 5; round++)
        {
            byte[]? fromClient = client.GetOutgoingBlob(fromServer, out NegotiateAuthenticationStatusCode clientStatus);
            Assert.True(
                clientStatus is NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded,
                $"client: {clientStatus}\nKDC:\n{realm.KdcOutput}");
            first ??= fromClient;
            if (fromClient is null || fromClient.Length == 0)
            {
                Assert.Equal(NegotiateAuthenticationStatusCode.Completed, clientStatus);
                Assert.True(server.IsAuthenticated);
                return (first!, acceptorTokens);
            }

            fromServer = server.GetOutgoingBlob(fromClient, out NegotiateAuthenticationStatusCode serverStatus);
            Assert.True(
                serverStatus is NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded,
                $"server: {serverStatus}\nKDC:\n{realm.KdcOutput}");
            if (fromServer is { Length: > 0 })
            {
                acceptorTokens++;
            }
            else if (serverStatus == NegotiateAuthenticationStatusCode.Completed)
            {
                // The acceptor is done and has nothing to say: the initiator must be done too.
                Assert.Equal(NegotiateAuthenticationStatusCode.Completed, clientStatus);
                return (first!, acceptorTokens);
            }
        }

        Assert.Fail("No agreement in five rounds.");
        return default;
    }

    private static void AssertWrapsAndUnwraps(NegotiateAuthentication sender, NegotiateAuthentication receiver, bool encrypt, bool sentByAcceptor)
    {
        byte[] message = "\x01\x02 per-message protection"u8.ToArray();
        var wrapped = new ArrayBufferWriter<byte>();
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, sender.Wrap(message, wrapped, encrypt, out bool isEncrypted));
        Assert.Equal(encrypt, isEncrypted);

        // RFC 4121 section 4.2.6.2: TOK_ID 05 04, then flags (SentByAcceptor 1, Sealed 2, AcceptorSubkey 4), filler FF.
        ReadOnlySpan<byte> token = wrapped.WrittenSpan;
        Assert.Equal([0x05, 0x04], token[..2].ToArray());
        Assert.Equal(sentByAcceptor, (token[2] & 1) != 0);
        Assert.Equal(encrypt, (token[2] & 2) != 0);
        Assert.Equal(0xFF, token[3]);
        if (!encrypt)
        {
            Assert.True(token.IndexOf(message) >= 0, "Integrity only: the message travels in the clear.");
        }
        else
        {
            Assert.True(token.IndexOf(message) < 0, "Confidentiality: the message must not travel in the clear.");
        }

        var unwrapped = new ArrayBufferWriter<byte>();
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, receiver.Unwrap(token, unwrapped, out bool wasEncrypted));
        Assert.Equal(encrypt, wasEncrypted);
        Assert.Equal(message, unwrapped.WrittenSpan.ToArray());

        // A flipped bit fails the check.
        byte[] tampered = token.ToArray();
        tampered[^1] ^= 0x01;
        Assert.NotEqual(NegotiateAuthenticationStatusCode.Completed, receiver.Unwrap(tampered, new ArrayBufferWriter<byte>(), out _));
    }
}
