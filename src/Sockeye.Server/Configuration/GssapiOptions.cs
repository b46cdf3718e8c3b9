using Sockeye.Protocol.Gssapi;

namespace Sockeye.Server.Configuration;

/// <summary>
/// GSSAPI authentication (RFC 1961, SOCKS5 method X'01') with Kerberos V5: the client proves a principal with a ticket
/// for the server's service principal, whose keys are in <see cref="Keytab"/>. The protection level (none, integrity or
/// confidentiality) is the client's choice, raised to <see cref="MinimumProtection"/> (docs/gssapi.md).
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

    /// <summary>
    /// The least per-message protection (RFC 1961 §4, §5) the server grants: a client that asks for less is answered
    /// with this level, and one that cannot accept it closes. <see cref="GssapiProtectionLevel.None"/> (the default)
    /// grants whatever the client asks for; <see cref="GssapiProtectionLevel.Integrity"/> or
    /// <see cref="GssapiProtectionLevel.Confidentiality"/> make it the floor.
    /// </summary>
    /// <remarks>
    /// At integrity or confidentiality every byte of the tunnel passes through the server's hands to be wrapped or
    /// unwrapped, so it cannot take the zero-copy relay; docs/gssapi.md has what each level costs. Selective is not a
    /// floor the server can hold clients to, and is refused here.
    /// </remarks>
    public GssapiProtectionLevel MinimumProtection { get; set; } = GssapiProtectionLevel.None;
}
