namespace Sockeye.Protocol.Socks5;

/// <summary>The CMD field of a request (RFC 1928 §4).</summary>
public enum Socks5Command : byte
{
    /// <summary>X'01' CONNECT: open a TCP connection to the destination.</summary>
    Connect = 0x01,

    /// <summary>X'02' BIND: accept one inbound TCP connection for the client (RFC 1928 §6, "BIND").</summary>
    Bind = 0x02,

    /// <summary>X'03' UDP ASSOCIATE: relay UDP datagrams for the client (RFC 1928 §7).</summary>
    UdpAssociate = 0x03,
}
