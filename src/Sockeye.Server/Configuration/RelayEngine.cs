namespace Sockeye.Server.Configuration;

/// <summary>The engine under the sessions: what accepts, connects, relays and pumps datagrams (docs/architecture.md).</summary>
public enum RelayEngine
{
    /// <summary><see cref="Linux"/> on Linux, <see cref="Portable"/> elsewhere.</summary>
    Auto = 0,

    /// <summary>
    /// Linux only: Sockeye's own epoll loops (one thread per core for TCP, one per core for UDP, each started on first
    /// use). Every socket of a session is a raw descriptor on its client's loop from accept to close: the handshake,
    /// CONNECT, BIND's accept, the relay (socket → pipe → socket with splice(2), so payload never enters user space; a
    /// copy through a pooled buffer when no pipe can be had) and its bandwidth pacing run where each socket's events land,
    /// with no hand-off to the thread pool. UDP datagrams are handled on the thread that saw them arrive.
    /// </summary>
    Linux,

    /// <summary>
    /// Every OS: the runtime's sockets and thread pool; a tunnel waits with a zero-byte read, then copies through a
    /// pooled buffer; UDP associations await their receives.
    /// </summary>
    Portable,
}
