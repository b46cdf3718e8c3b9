using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client;

/// <summary>
/// GSSAPI authentication (RFC 1961, SOCKS5 method X'01') with Kerberos V5, as <see cref="Socks5Proxy.Gssapi"/> asks for
/// it: which service principal to ask a ticket for (<see cref="TargetNameFor"/>), and which per-message protection to want and to accept. Immutable.
/// </summary>
/// <remarks>
/// <para>
/// The client's identity is the default Kerberos credential of the process (<c>CredentialCache.DefaultNetworkCredentials</c>):
/// the ticket cache <c>kinit</c> filled (<c>KRB5CCNAME</c>), from which a ticket for the proxy's principal is obtained.
/// There is no password here. Tokens are the Kerberos mechanism's own (<c>NegotiateAuthentication</c> with package
/// <c>Kerberos</c>), not SPNEGO, as RFC 1961 and the servers that speak it (Sockeye, Dante) expect.
/// </para>
/// <para>
/// Getting the ticket may ask the KDC, synchronously (the platform's GSSAPI call blocks): <see cref="Socks5Client.ConnectTimeout"/>
/// and cancellation take effect around it, not within it; the KDC timeouts of krb5.conf bound it.
/// </para>
/// <para>
/// At <see cref="GssapiProtectionLevel.None"/> GSSAPI only authenticates: after the exchange the connection is plain
/// SOCKS5. At <see cref="GssapiProtectionLevel.Integrity"/> or <see cref="GssapiProtectionLevel.Confidentiality"/> every
/// later byte of the connection (the request, the replies, the tunnel's data) and every UDP datagram of an association
/// travels wrapped (RFC 1961 §5); <see cref="Socks5Connection.Stream"/> does it transparently.
/// </para>
/// </remarks>
public sealed class GssapiClientOptions
{
    /// <summary>The service name curl and Dante ask for by default, and Sockeye's server's default.</summary>
    public const string DefaultServiceName = "rcmd";

    private readonly string _serviceName = DefaultServiceName;
    private readonly string? _targetHost;
    private readonly GssapiProtectionLevel _protectionLevel;
    private readonly GssapiProtectionLevel? _minimumProtectionLevel;

    /// <summary>
    /// The service part of the proxy's principal: <c>rcmd</c> (<see cref="DefaultServiceName"/>) unless the proxy's
    /// keytab holds another, as curl's <c>--socks5-gssapi-service</c> sets it.
    /// </summary>
    /// <exception cref="ArgumentException">The value is empty, or holds <c>/</c>, <c>@</c> or a control character.</exception>
    public string ServiceName
    {
        get => _serviceName;
        init => _serviceName = CheckNamePart(value, nameof(ServiceName));
    }

    /// <summary>
    /// The host part of the proxy's principal, or <see langword="null"/> (the default) for the proxy's
    /// <see cref="Socks5Proxy.Host"/> as written. Set it when the proxy is reached by an address, or by a name other than
    /// the one its principal carries (e.g. <c>rcmd/proxy.example.org</c> reached as <c>10.0.0.5</c>): nothing here
    /// resolves or canonicalizes the host.
    /// </summary>
    /// <exception cref="ArgumentException">The value is empty, or holds <c>/</c>, <c>@</c> or a control character.</exception>
    public string? TargetHost
    {
        get => _targetHost;
        init => _targetHost = value is null ? null : CheckNamePart(value, nameof(TargetHost));
    }

    /// <summary>
    /// The protection level asked of the proxy (RFC 1961 §4.3): <see cref="GssapiProtectionLevel.None"/> (the default:
    /// authentication only, what curl asks), <see cref="GssapiProtectionLevel.Integrity"/> or
    /// <see cref="GssapiProtectionLevel.Confidentiality"/>. The proxy decides; <see cref="MinimumProtectionLevel"/> is
    /// what the client then accepts.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The value is <see cref="GssapiProtectionLevel.Selective"/> (whose meaning is each peer's local configuration; ask
    /// for <see cref="GssapiProtectionLevel.Confidentiality"/>) or not a level.
    /// </exception>
    public GssapiProtectionLevel ProtectionLevel
    {
        get => _protectionLevel;
        init => _protectionLevel = CheckLevel(value, nameof(ProtectionLevel));
    }

    /// <summary>
    /// The lowest protection level the client accepts from the proxy; <see langword="null"/> (the default) for
    /// <see cref="ProtectionLevel"/>. A proxy that grants less gets the abort X'01 FF' and the connection is closed
    /// (<see cref="SocksError.ProtectionLevelRefused"/>). A proxy that grants more than asked is accepted: its level is
    /// the one used. Cannot be above <see cref="ProtectionLevel"/> (checked when the options are given to
    /// <see cref="Socks5Proxy.Gssapi"/>).
    /// </summary>
    /// <remarks>
    /// A grant of <see cref="GssapiProtectionLevel.Selective"/> (X'03') counts as integrity: it promises integrity for
    /// every message but encryption for none in particular. Messages the client sends are then encrypted.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is <see cref="GssapiProtectionLevel.Selective"/> or not a level.</exception>
    public GssapiProtectionLevel? MinimumProtectionLevel
    {
        get => _minimumProtectionLevel;
        init => _minimumProtectionLevel = value is { } level ? CheckLevel(level, nameof(MinimumProtectionLevel)) : null;
    }

    /// <summary>
    /// NEC's variant of the protection-level message, as curl's <c>--socks5-gssapi-nec</c> sends it: the level byte
    /// unwrapped (<c>01 02 00 01 level</c>), and the proxy's answer read unwrapped too. Off by default (RFC 1961: wrapped).
    /// </summary>
    public bool UseNecProtectionNegotiation { get; init; }

    /// <summary>
    /// Whether the proxy must prove its identity too (GSS_C_MUTUAL_FLAG, what curl and Dante ask for): the proxy answers
    /// the client's AP-REQ with an AP-REP token, which the client verifies before going on. On by default; a proxy that
    /// cannot prove it fails the handshake with <see cref="SocksError.AuthenticationFailed"/>. Off, the proxy sends no
    /// context token back, and the client knows only that whoever answers could decrypt its ticket's session key, which
    /// every later wrapped message (at a protection level above none) still proves.
    /// </summary>
    public bool RequireMutualAuthentication { get; init; } = true;

    /// <summary>The least level accepted: <see cref="MinimumProtectionLevel"/>, or <see cref="ProtectionLevel"/> without it.</summary>
    public GssapiProtectionLevel EffectiveMinimumProtectionLevel => _minimumProtectionLevel ?? _protectionLevel;

    /// <summary>The target name for <paramref name="proxy"/>: <c>service/host</c>, e.g. <c>rcmd/proxy.example.org</c>.</summary>
    public string TargetNameFor(Socks5Proxy proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        return $"{_serviceName}/{_targetHost ?? proxy.Host}";
    }

    /// <summary>Whether a granted level is at least <see cref="EffectiveMinimumProtectionLevel"/>; Selective counts as integrity.</summary>
    internal bool Accepts(GssapiProtectionLevel granted) => Rank(granted) >= Rank(EffectiveMinimumProtectionLevel);

    /// <summary>Checks what one property cannot: the minimum is not above the level asked.</summary>
    /// <exception cref="ArgumentException">It is.</exception>
    internal void Validate(string parameterName)
    {
        if (Rank(EffectiveMinimumProtectionLevel) > Rank(_protectionLevel))
        {
            throw new ArgumentException(
                $"GSSAPI MinimumProtectionLevel {EffectiveMinimumProtectionLevel} is above the ProtectionLevel asked, {_protectionLevel}: "
                + "a proxy granting what was asked would be refused. Ask for at least the minimum.", parameterName);
        }
    }

    private static int Rank(GssapiProtectionLevel level) => level switch
    {
        GssapiProtectionLevel.None => 0,
        GssapiProtectionLevel.Integrity or GssapiProtectionLevel.Selective => 1,
        _ => 2,
    };

    private static GssapiProtectionLevel CheckLevel(GssapiProtectionLevel value, string name)
    {
        if (value is not (GssapiProtectionLevel.None or GssapiProtectionLevel.Integrity or GssapiProtectionLevel.Confidentiality))
        {
            throw new ArgumentOutOfRangeException(name, value,
                "A GSSAPI protection level to ask for is None, Integrity or Confidentiality (Selective means each peer's local configuration).");
        }

        return value;
    }

    private static string CheckNamePart(string value, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value, name);
        foreach (char c in value)
        {
            if (c is '/' or '@' || char.IsControl(c) || char.IsWhiteSpace(c))
            {
                throw new ArgumentException($"'{value}' cannot be part of a service principal name (no '/', '@', spaces or controls).", name);
            }
        }

        return value;
    }
}
