using Sockeye.Server.Configuration;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>The in-process server the GSSAPI tests talk to.</summary>
internal static class GssapiServers
{
    /// <summary>
    /// A server with <c>gssapi</c> whose keytab is its own export of the service key: the export changes the key, so the
    /// realm's own keytab (KRB5_KTNAME of the test process until the server starts) no longer works and only
    /// <c>gssapi.keytab</c> can make the acceptor work.
    /// </summary>
    public static async Task<TestServer> StartAsync(KerberosRealm realm, Action<SockeyeServerOptions>? configure = null)
    {
        string keytab = Path.Combine(realm.Directory, "sockeye.keytab");
        if (!File.Exists(keytab))
        {
            await realm.ExportKeytabAsync(KerberosRealm.ServicePrincipal, keytab);
        }

        return await TestServer.StartAsync(o =>
        {
            o.Gssapi = new GssapiOptions { Keytab = keytab };
            configure?.Invoke(o);
        });
    }
}
