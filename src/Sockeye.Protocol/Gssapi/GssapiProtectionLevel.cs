namespace Sockeye.Protocol.Gssapi;

/// <summary>The one-byte security context protection level of RFC 1961 §4.3, before it is wrapped.</summary>
public enum GssapiProtectionLevel : byte
{
    /// <summary>
    /// X'00': no per-message protection, authentication only. RFC 1961 defines levels 1 to 3; this is what curl sends
    /// (it asks for no protection), and what a server that settles for authentication answers.
    /// </summary>
    None = 0x00,

    /// <summary>X'01': required per-message integrity.</summary>
    Integrity = 0x01,

    /// <summary>X'02': required per-message integrity and confidentiality.</summary>
    Confidentiality = 0x02,

    /// <summary>X'03': selective per-message integrity or confidentiality, by local configuration.</summary>
    Selective = 0x03,
}
