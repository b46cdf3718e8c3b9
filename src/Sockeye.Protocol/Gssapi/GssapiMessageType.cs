namespace Sockeye.Protocol.Gssapi;

/// <summary>MTYP of an RFC 1961 message: which stage of the GSSAPI subnegotiation it belongs to.</summary>
public enum GssapiMessageType : byte
{
    /// <summary>X'01': a context establishment token (RFC 1961 §3.3).</summary>
    Context = 0x01,

    /// <summary>X'02': the protection level, wrapped (or plain, in NEC's variant) (RFC 1961 §4.3).</summary>
    ProtectionNegotiation = 0x02,

    /// <summary>X'03': a wrapped request, reply or relayed data once protection is on (RFC 1961 §5).</summary>
    Encapsulation = 0x03,

    /// <summary>X'FF': the peer gives up; no LEN and no TOKEN follow (RFC 1961 §3.4).</summary>
    Abort = 0xFF,
}
