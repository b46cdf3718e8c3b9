namespace Sockeye.Protocol.Socks4;

/// <summary>CD of a SOCKS4 request.</summary>
public enum Socks4Command : byte
{
    /// <summary>Connect to DSTIP:DSTPORT (or, in SOCKS4a, to the name that follows USERID).</summary>
    Connect = 0x01,

    /// <summary>Listen for one inbound connection from DSTIP, the host the client expects to connect.</summary>
    Bind = 0x02,
}
