namespace Sockeye.Protocol.Socks5;

/// <summary>The METHOD values of RFC 1928 §3 that Sockeye knows by name. Any byte may appear on the wire.</summary>
public enum Socks5AuthMethod : byte
{
    /// <summary>X'00' NO AUTHENTICATION REQUIRED.</summary>
    NoAuthentication = 0x00,

    /// <summary>X'01' GSSAPI (RFC 1961). Sockeye never selects it.</summary>
    Gssapi = 0x01,

    /// <summary>X'02' USERNAME/PASSWORD (RFC 1929).</summary>
    UsernamePassword = 0x02,

    /// <summary>X'FF' NO ACCEPTABLE METHODS: the server's answer when nothing the client offered will do.</summary>
    NoAcceptableMethods = 0xFF,
}
