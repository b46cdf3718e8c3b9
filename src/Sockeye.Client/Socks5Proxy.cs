using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// One upstream proxy of any <see cref="ProxyKind"/> (SOCKS5, SOCKS4a or an HTTP CONNECT proxy): what it speaks, where
/// it listens and, if it wants them, the credentials to give it. Immutable; one instance can serve any number of
/// clients and chains.
/// </summary>
/// <remarks>
/// The name is SOCKS5's for history: the type started with SOCKS5 alone, and <see cref="Kind"/> defaults to
/// <see cref="ProxyKind.Socks5"/>.
/// </remarks>
public sealed class Socks5Proxy
{
    private readonly GssapiClientOptions? _gssapi;

    /// <summary>A SOCKS5 proxy at <paramref name="host"/>:<paramref name="port"/>.</summary>
    /// <param name="host">A name, an IPv4 address, or an IPv6 address (with or without brackets).</param>
    /// <param name="port">The proxy's TCP port, 1–65535.</param>
    /// <param name="credential">
    /// The username and password to offer, or <see langword="null"/> for none. Each must be 1–255 bytes of UTF-8.
    /// </param>
    /// <exception cref="ArgumentException">The host is empty or longer than 255 bytes, or a credential field is out of range.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 1–65535.</exception>
    public Socks5Proxy(string host, int port, NetworkCredential? credential = null)
        : this(ProxyKind.Socks5, host, port, credential)
    {
    }

    /// <summary>A SOCKS5 proxy that wants a username and password.</summary>
    /// <inheritdoc cref="Socks5Proxy(string, int, NetworkCredential?)" path="/exception"/>
    public Socks5Proxy(string host, int port, string userName, string password)
        : this(host, port, new NetworkCredential(userName, password))
    {
    }

    /// <summary>A SOCKS5 proxy at an IP endpoint.</summary>
    /// <inheritdoc cref="Socks5Proxy(string, int, NetworkCredential?)" path="/exception"/>
    public Socks5Proxy(IPEndPoint endPoint, NetworkCredential? credential = null)
        : this(ProxyKind.Socks5, endPoint, credential)
    {
    }

    /// <summary>A proxy of <paramref name="kind"/> at <paramref name="host"/>:<paramref name="port"/>.</summary>
    /// <param name="kind">The protocol it speaks.</param>
    /// <param name="host">A name, an IPv4 address, or an IPv6 address (with or without brackets).</param>
    /// <param name="port">The proxy's TCP port, 1–65535.</param>
    /// <param name="credential">
    /// The credentials to give, or <see langword="null"/> for none. SOCKS5: a username and a password, each 1–255 bytes
    /// of UTF-8 (RFC 1929). SOCKS4a: the username, 1–255 bytes without NUL, sent as USERID; the password is ignored, as
    /// SOCKS4 has none. HTTP: a username of 1–255 bytes without a colon and a password of 1–255 bytes, sent as
    /// <c>Proxy-Authorization: Basic</c>.
    /// </param>
    /// <exception cref="ArgumentException">The host is empty or longer than 255 bytes, a credential field is out of range, or <paramref name="kind"/> is not a <see cref="ProxyKind"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 1–65535.</exception>
    public Socks5Proxy(ProxyKind kind, string host, int port, NetworkCredential? credential = null)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentException($"{kind} is not a proxy kind.", nameof(kind));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        Kind = kind;
        Address = Destinations.FromHost(host, nameof(host));
        Host = Address.ToString();
        Port = port;
        if (credential is not null)
        {
            CheckCredential(kind, credential);
        }

        Credential = credential;
    }

    /// <summary>A proxy of <paramref name="kind"/> at an IP endpoint.</summary>
    /// <param name="kind">The protocol it speaks.</param>
    /// <param name="endPoint">The proxy's address and port.</param>
    /// <param name="credential">The credentials to give, or <see langword="null"/> for none; as for <see cref="Socks5Proxy(ProxyKind, string, int, NetworkCredential?)"/>.</param>
    /// <inheritdoc cref="Socks5Proxy(ProxyKind, string, int, NetworkCredential?)" path="/exception"/>
    public Socks5Proxy(ProxyKind kind, IPEndPoint endPoint, NetworkCredential? credential = null)
        : this(kind, endPoint?.Address.ToString() ?? throw new ArgumentNullException(nameof(endPoint)), endPoint.Port, credential)
    {
    }

    /// <summary>The protocol the proxy speaks.</summary>
    /// <remarks>Defaults to <see cref="ProxyKind.Socks5"/>.</remarks>
    public ProxyKind Kind { get; }

    /// <summary>The proxy's host: a name, or an IP address without brackets.</summary>
    public string Host { get; }

    /// <summary>The proxy's TCP port.</summary>
    public int Port { get; }

    /// <summary>The username and password to offer, or <see langword="null"/> to offer only "no authentication".</summary>
    public NetworkCredential? Credential { get; }

    /// <summary>
    /// GSSAPI authentication (RFC 1961, Kerberos) with this proxy, or <see langword="null"/> (the default) for none.
    /// SOCKS5 proxies only.
    /// </summary>
    /// <remarks>
    /// <para>
    /// With it, the greeting offers GSSAPI (X'01') and not "no authentication": a proxy that will not authenticate the
    /// client is refused rather than used silently without. <see cref="Credential"/>, if also given, is offered too
    /// (X'02', RFC 1929) when <see cref="GssapiClientOptions.EffectiveMinimumProtectionLevel"/> is
    /// <see cref="GssapiProtectionLevel.None"/>; with a minimum above none it is not, since a password login protects
    /// nothing that follows it.
    /// </para>
    /// <para>
    /// In a chain, a hop with protection above none carries the following hops' handshakes, and everything after, inside
    /// its wrapped messages. UDP datagrams are encapsulated with the last hop's context only, since they go straight to
    /// its relay. <see cref="ProxyChain"/>, which returns no stream, takes GSSAPI at level none only.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// The proxy is not a SOCKS5 proxy, or the options' minimum protection level is above the level they ask for.
    /// </exception>
    public GssapiClientOptions? Gssapi
    {
        get => _gssapi;
        init
        {
            if (value is not null)
            {
                if (Kind != ProxyKind.Socks5)
                {
                    throw new ArgumentException($"GSSAPI (RFC 1961) is a SOCKS5 method; {this} is a {Kind} proxy.", nameof(Gssapi));
                }

                value.Validate(nameof(Gssapi));
            }

            _gssapi = value;
        }
    }

    /// <summary>The host as the previous hop of a chain is asked to CONNECT to it: an IP address, or a name it resolves.</summary>
    internal Socks5Address Address { get; }

    /// <summary>
    /// Reads a proxy URI as curl and <c>ALL_PROXY</c> write it: <c>scheme://user:password@host:port</c>. The schemes are
    /// <c>socks5</c> and <c>socks5h</c> (<see cref="ProxyKind.Socks5"/>), <c>socks4</c> and <c>socks4a</c>
    /// (<see cref="ProxyKind.Socks4a"/>), and <c>http</c> (<see cref="ProxyKind.Http"/>, a CONNECT proxy). The user and
    /// password are percent-decoded. A missing port is 1080 for every scheme, <c>http</c> included, as curl reads it.
    /// </summary>
    /// <remarks>
    /// Sockeye.Client always sends destination names to the proxy unresolved, so <c>socks5</c> behaves as <c>socks5h</c>
    /// and <c>socks4</c> as <c>socks4a</c>. For <c>socks4</c>/<c>socks4a</c> only the user is used (as USERID, in the
    /// clear); a password in the URI is ignored.
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// The URI is not absolute, has another scheme (such as <c>https</c>: TLS to the proxy is not supported), names no
    /// host, or its credentials are out of range for its kind.
    /// </exception>
    public static Socks5Proxy FromUri(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ProxyKind? kind = uri.IsAbsoluteUri ? KindOfScheme(uri.Scheme) : null;
        if (kind is null)
        {
            throw new ArgumentException(
                $"'{uri}' is not a proxy URI; write socks5h://, socks5://, socks4a://, socks4:// or http://, then host:port or user:password@host:port.", nameof(uri));
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"'{uri}' names no host.", nameof(uri));
        }

        NetworkCredential? credential = null;
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            credential = new NetworkCredential(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
        }

        // curl's rule: a proxy URI without a port means 1080, whatever the scheme. System.Uri knows http and reports its
        // port 80 whether or not the URI wrote it, so for http the port is taken only when it is really there.
        int port = kind == ProxyKind.Http
            ? (HasExplicitPort(uri) ? uri.Port : DefaultPort)
            : (uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port);
        return new Socks5Proxy(kind.Value, uri.Host, port, credential);
    }

    /// <summary>host:port, with brackets around an IPv6 address. Never the password.</summary>
    public override string ToString() =>
        Address.Type == Socks5AddressType.IPv6 ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The addresses to try for the first hop: the literal itself, or what the name resolves to.</summary>
    internal async Task<IPAddress[]> ResolveAsync(CancellationToken cancellationToken) =>
        Address.TryGetIPAddress(out IPAddress? address)
            ? [address]
            : await Dns.GetHostAddressesAsync(Host, AddressFamily.Unspecified, cancellationToken).ConfigureAwait(false);

    /// <summary>The port of a proxy URI that names none: 1080, curl's default for every proxy scheme.</summary>
    private const int DefaultPort = 1080;

    private static ProxyKind? KindOfScheme(string scheme) => scheme switch
    {
        "socks5" or "socks5h" => ProxyKind.Socks5,
        "socks4" or "socks4a" => ProxyKind.Socks4a,
        "http" => ProxyKind.Http,
        _ => null,
    };

    private static bool HasExplicitPort(Uri uri)
    {
        ReadOnlySpan<char> text = uri.OriginalString.AsSpan().Trim();
        int start = text.IndexOf("://", StringComparison.Ordinal);
        ReadOnlySpan<char> authority = start < 0 ? [] : text[(start + 3)..];
        int end = authority.IndexOfAny('/', '?', '#');
        authority = end < 0 ? authority : authority[..end];
        authority = authority[(authority.LastIndexOf('@') + 1)..];

        // An IPv6 literal's colons are inside its brackets; the port's colon follows them.
        return authority[(authority.LastIndexOf(']') + 1)..].Contains(':');
    }

    private static void CheckCredential(ProxyKind kind, NetworkCredential credential)
    {
        switch (kind)
        {
            case ProxyKind.Socks5:
                // RFC 1929: ULEN and PLEN are one byte each, and zero is not a valid length.
                CheckCredentialField(credential.UserName, nameof(credential), "SOCKS5 username or password (RFC 1929)");
                CheckCredentialField(credential.Password, nameof(credential), "SOCKS5 username or password (RFC 1929)");
                break;
            case ProxyKind.Socks4a:
                // USERID is NUL-terminated; Sockeye's server and the codec take up to 255 bytes, RFC 1929's bound.
                CheckCredentialField(credential.UserName, nameof(credential), "SOCKS4 USERID");
                if (credential.UserName.Contains('\0', StringComparison.Ordinal))
                {
                    throw new ArgumentException("A SOCKS4 USERID cannot contain NUL.", nameof(credential));
                }

                break;
            default:
                // RFC 7617 §2: the user-id cannot contain a colon. The lengths are the codec's (RFC 1929's), so one user
                // directory serves both protocols on a Sockeye server.
                CheckCredentialField(credential.UserName, nameof(credential), "HTTP Basic user or password");
                CheckCredentialField(credential.Password, nameof(credential), "HTTP Basic user or password");
                if (credential.UserName.Contains(':', StringComparison.Ordinal))
                {
                    throw new ArgumentException("An HTTP Basic user cannot contain a colon (RFC 7617 §2).", nameof(credential));
                }

                break;
        }
    }

    private static void CheckCredentialField(string? value, string parameterName, string what)
    {
        int length = value is null ? 0 : Encoding.UTF8.GetByteCount(value);
        if (length is 0 or > 255)
        {
            throw new ArgumentException($"A {what} must be 1 to 255 bytes of UTF-8; this one is {length}.", parameterName);
        }
    }
}
