namespace Sockeye.Server.Configuration;

/// <summary>
/// GSSAPI authentication (RFC 1961, SOCKS5 method X'01') with Kerberos V5: the client proves a principal with a ticket
/// for the server's service principal, whose keys are in <see cref="Keytab"/>. Only authentication for now: the
/// protection level negotiated is always none, so the tunnel is not wrapped (docs/gssapi.md).
/// </summary>
public sealed class GssapiOptions
{
    /// <summary>The service part of the server's principal (<c>rcmd</c> makes <c>rcmd/host@REALM</c>, what curl asks for by default).</summary>
    /// <remarks>
    /// Defaults to <c>rcmd</c>. The acceptor takes a ticket for any principal in the keytab, so keep the keytab to this
    /// service's keys; the name is what the operator told clients to ask for, and is logged at start.
    /// </remarks>
    public string ServiceName { get; set; } = "rcmd";

    /// <summary>
    /// The keytab with the service principal's keys. The server sets <c>KRB5_KTNAME</c> in its own process to it when it
    /// starts (Kerberos reads the keytab from there, there is no other way to hand it over); when null, a
    /// <c>KRB5_KTNAME</c> already in the environment is used, else Kerberos's default keytab (/etc/krb5.keytab).
    /// </summary>
    /// <remarks>Read when the server starts; a reload does not change it.</remarks>
    public string? Keytab { get; set; }

    /// <summary>Whether the session's user is the principal without its realm (<c>alice</c>, not <c>alice@EXAMPLE.ORG</c>).</summary>
    /// <remarks>Defaults to false: two realms may have an <c>alice</c> each, and rules would not tell them apart.</remarks>
    public bool StripRealm { get; set; }
}
