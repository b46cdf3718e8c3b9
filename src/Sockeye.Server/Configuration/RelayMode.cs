namespace Sockeye.Server.Configuration;

/// <summary>How a TCP tunnel moves bytes, and how a UDP association waits for datagrams.</summary>
public enum RelayMode
{
    /// <summary>Splice on Linux, copy elsewhere.</summary>
    Auto = 0,

    /// <summary>
    /// Linux only: socket → pipe → socket with splice(2), so payload never enters user space. Each busy direction holds a
    /// pooled pipe (two descriptors); an idle one holds none. Sessions run on the server's own epoll loops (one thread
    /// per core, started on first use): accept, handshake, CONNECT and relay go on where each socket's readiness lands,
    /// with no hand-off to the thread pool. UDP associations have loops of their own, which read each datagram on the
    /// thread that saw it arrive.
    /// </summary>
    Splice,

    /// <summary>Portable: read into a pooled buffer, write it out; UDP associations await their receives.</summary>
    Copy,
}
