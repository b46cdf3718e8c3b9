namespace Sockeye.Server.Configuration;

/// <summary>How a TCP tunnel moves bytes.</summary>
public enum RelayMode
{
    /// <summary>Splice on Linux, copy elsewhere.</summary>
    Auto = 0,

    /// <summary>
    /// Linux only: socket → pipe → socket with splice(2), so payload never enters user space. Each busy direction holds a
    /// pooled pipe (two descriptors); an idle one holds none.
    /// </summary>
    Splice,

    /// <summary>Portable: read into a pooled buffer, write it out.</summary>
    Copy,
}
