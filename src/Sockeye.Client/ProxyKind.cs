namespace Sockeye.Client;

/// <summary>The protocol an upstream proxy speaks: what the client sends it to have it CONNECT onward.</summary>
public enum ProxyKind
{
    /// <summary>SOCKS5 (RFC 1928), with RFC 1929 username/password when a credential is given. Every command works.</summary>
    Socks5 = 0,

    /// <summary>
    /// SOCKS4, with SOCKS4a's extension for names: a name is always sent for the proxy to resolve, an IPv4 address as
    /// plain SOCKS4. SOCKS4 cannot carry an IPv6 address, and it has no password: the credential's user name goes as
    /// USERID, in the clear, and its password is not sent. CONNECT only.
    /// </summary>
    Socks4a = 1,

    /// <summary>
    /// An HTTP/1.1 proxy, used through CONNECT tunnels (RFC 9110 §9.3.6), with <c>Proxy-Authorization: Basic</c>
    /// (RFC 7617) when a credential is given. Basic sends the password merely base64-encoded. CONNECT only.
    /// </summary>
    Http = 2,
}
