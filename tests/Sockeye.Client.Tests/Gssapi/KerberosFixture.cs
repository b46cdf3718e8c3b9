using System.Net;
using System.Net.Security;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;
using Sockeye.Server.Configuration;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// One real MIT KDC per test class (starting one takes a while) with alice's ticket in the realm's cache; the acceptor's
/// keys are in the realm's own keytab (KRB5_KTNAME), for in-process contexts. Tests still call
/// <see cref="KerberosRealm.UseInThisProcess"/> themselves, inside the non-parallel collection.
/// </summary>
public class KerberosFixture : IAsyncLifetime
{
    private KerberosRealm? _realm;

    public KerberosRealm Realm => _realm ?? throw new InvalidOperationException("The realm has not started.");

    public virtual async Task InitializeAsync()
    {
        _realm = await KerberosRealm.StartAsync();
        await _realm.KinitUserAsync();
    }

    public async Task DisposeAsync()
    {
        if (_realm is not null)
        {
            await _realm.DisposeAsync();
        }
    }
}

/// <summary>
/// A realm whose service key is exported for a Sockeye server's gssapi.keytab (the export changes the key, so only that
/// keytab works afterwards, not the realm's own).
/// </summary>
public sealed class KerberosServerFixture : KerberosFixture
{
    /// <summary>The service key for <see cref="KerberosRealm.ServicePrincipal"/>, as a Sockeye server's gssapi.keytab.</summary>
    public string ServerKeytab => Path.Combine(Realm.Directory, "sockeye.keytab");

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Realm.ExportKeytabAsync(KerberosRealm.ServicePrincipal, ServerKeytab);
    }

    /// <summary>A Sockeye server with GSSAPI, its keys in <see cref="ServerKeytab"/>.</summary>
    internal Task<TestServer> StartServerAsync(Action<SockeyeServerOptions>? configure = null) =>
        TestServer.StartAsync(o =>
        {
            o.Gssapi = new GssapiOptions { Keytab = ServerKeytab };
            configure?.Invoke(o);
        });

    /// <summary>The server as a proxy asking for GSSAPI: principal rcmd/localhost, the level and options given.</summary>
    internal static Socks5Proxy Proxy(TestServer server, GssapiProtectionLevel level = GssapiProtectionLevel.None, bool mutual = true, bool nec = false) =>
        new(server.EndPoint)
        {
            Gssapi = new GssapiClientOptions
            {
                TargetHost = "localhost",
                ProtectionLevel = level,
                RequireMutualAuthentication = mutual,
                UseNecProtectionNegotiation = nec,
            },
        };
}

/// <summary>A pair of established in-process Kerberos contexts, initiator and acceptor, as RFC 1961's two ends hold them.</summary>
internal static class KerberosContexts
{
    /// <summary>
    /// alice's initiator for rcmd/localhost and an acceptor on the realm's own keytab (KRB5_KTNAME), exchanged until both
    /// are done. The realm must be in use in this process and its keytab not re-exported.
    /// </summary>
    public static (NegotiateAuthentication Client, NegotiateAuthentication Server) Establish(KerberosRealm realm)
    {
        var client = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = KerberosRealm.ServicePrincipal,
            Credential = CredentialCache.DefaultNetworkCredentials,
            RequiredProtectionLevel = ProtectionLevel.EncryptAndSign,
            RequireMutualAuthentication = true,
        });
        var server = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
        {
            Package = "Kerberos",
            Credential = CredentialCache.DefaultNetworkCredentials,
        });

        byte[]? fromServer = null;
        for (int round = 0; round < 4; round++)
        {
            byte[]? fromClient = client.GetOutgoingBlob(fromServer, out NegotiateAuthenticationStatusCode clientStatus);
            Assert.True(clientStatus is NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded,
                $"client: {clientStatus}\nKDC:\n{realm.KdcOutput}");
            if (clientStatus == NegotiateAuthenticationStatusCode.Completed && fromClient is not { Length: > 0 })
            {
                Assert.True(server.IsAuthenticated);
                return (client, server);
            }

            fromServer = server.GetOutgoingBlob(fromClient, out NegotiateAuthenticationStatusCode serverStatus);
            Assert.True(serverStatus is NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded,
                $"server: {serverStatus}\nKDC:\n{realm.KdcOutput}");
            if (clientStatus == NegotiateAuthenticationStatusCode.Completed)
            {
                return (client, server);
            }
        }

        throw new InvalidOperationException("No context after four rounds.");
    }
}
