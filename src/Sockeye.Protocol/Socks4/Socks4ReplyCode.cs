namespace Sockeye.Protocol.Socks4;

/// <summary>CD of a SOCKS4 reply: the protocol has four, and only one of them is a success.</summary>
public enum Socks4ReplyCode : byte
{
    /// <summary>90: request granted.</summary>
    Granted = 90,

    /// <summary>91: request rejected or failed, whatever the reason (SOCKS4 has no finer code for a refused or unreachable destination).</summary>
    RejectedOrFailed = 91,

    /// <summary>92: rejected because the server cannot reach the client's identd. Sockeye never asks identd, so never sends it.</summary>
    IdentdUnreachable = 92,

    /// <summary>93: rejected because the client's program and identd report different user ids.</summary>
    UserIdMismatch = 93,
}
