namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>Which form of the PROXY protocol header carried the addresses.</summary>
public enum ProxyProtocolVersion : byte
{
    /// <summary>The text line: <c>PROXY TCP4 …\r\n</c>.</summary>
    V1 = 1,

    /// <summary>The binary header that starts with the 12-byte signature.</summary>
    V2 = 2,
}
