using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// One SOCKS5 proxy: where it listens and, if it wants them, the username and password to give it (RFC 1929).
/// Immutable; one instance can serve any number of clients and chains.
/// </summary>
public sealed class Socks5Proxy
{
    /// <summary>A proxy at <paramref name="host"/>:<paramref name="port"/>.</summary>
    /// <param name="host">A name, an IPv4 address, or an IPv6 address (with or without brackets).</param>
    /// <param name="port">The proxy's TCP port, 1–65535.</param>
    /// <param name="credential">
    /// The username and password to offer, or <see langword="null"/> for none. Each must be 1–255 bytes of UTF-8.
    /// </param>
    /// <exception cref="ArgumentException">The host is empty or longer than 255 bytes, or a credential field is out of range.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 1–65535.</exception>
    public Socks5Proxy(string host, int port, NetworkCredential? credential = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        Address = Destinations.FromHost(host, nameof(host));
        Host = Address.ToString();
        Port = port;
        if (credential is not null)
        {
            CheckCredentialField(credential.UserName, nameof(credential));
            CheckCredentialField(credential.Password, nameof(credential));
        }

        Credential = credential;
    }

    /// <summary>A proxy that wants a username and password.</summary>
    /// <inheritdoc cref="Socks5Proxy(string, int, NetworkCredential?)" path="/exception"/>
    public Socks5Proxy(string host, int port, string userName, string password)
        : this(host, port, new NetworkCredential(userName, password))
    {
    }

    /// <summary>A proxy at an IP endpoint.</summary>
    /// <inheritdoc cref="Socks5Proxy(string, int, NetworkCredential?)" path="/exception"/>
    public Socks5Proxy(IPEndPoint endPoint, NetworkCredential? credential = null)
        : this(endPoint?.Address.ToString() ?? throw new ArgumentNullException(nameof(endPoint)), endPoint.Port, credential)
    {
    }

    /// <summary>The proxy's host: a name, or an IP address without brackets.</summary>
    public string Host { get; }

    /// <summary>The proxy's TCP port.</summary>
    public int Port { get; }

    /// <summary>The username and password to offer, or <see langword="null"/> to offer only "no authentication".</summary>
    public NetworkCredential? Credential { get; }

    /// <summary>The host as the previous hop of a chain is asked to CONNECT to it: an IP address, or a name it resolves.</summary>
    internal Socks5Address Address { get; }

    /// <summary>
    /// Reads a proxy URI as curl and <c>ALL_PROXY</c> write it: <c>socks5h://user:password@host:port</c> (or
    /// <c>socks5://</c>). The user and password are percent-decoded; the port defaults to 1080.
    /// </summary>
    /// <remarks>Sockeye.Client always sends domain names to the proxy unresolved, so both schemes behave as <c>socks5h</c>.</remarks>
    /// <exception cref="ArgumentException">The URI is not absolute, has another scheme, or names no host.</exception>
    public static Socks5Proxy FromUri(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || (uri.Scheme != "socks5" && uri.Scheme != "socks5h"))
        {
            throw new ArgumentException($"'{uri}' is not a SOCKS5 proxy URI; write socks5h://host:port or socks5h://user:password@host:port.", nameof(uri));
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

        return new Socks5Proxy(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 1080 : uri.Port, credential);
    }

    /// <summary>host:port, with brackets around an IPv6 address. Never the password.</summary>
    public override string ToString() =>
        Address.Type == Socks5AddressType.IPv6 ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The addresses to try for the first hop: the literal itself, or what the name resolves to.</summary>
    internal async Task<IPAddress[]> ResolveAsync(CancellationToken cancellationToken) =>
        Address.TryGetIPAddress(out IPAddress? address)
            ? [address]
            : await Dns.GetHostAddressesAsync(Host, AddressFamily.Unspecified, cancellationToken).ConfigureAwait(false);

    private static void CheckCredentialField(string? value, string parameterName)
    {
        // RFC 1929: ULEN and PLEN are one byte each, and zero is not a valid length.
        int length = value is null ? 0 : Encoding.UTF8.GetByteCount(value);
        if (length is 0 or > 255)
        {
            throw new ArgumentException($"A SOCKS5 username or password must be 1 to 255 bytes of UTF-8 (RFC 1929); this one is {length}.", parameterName);
        }
    }
}
