using System.Net.Sockets;

namespace Sockeye.Server.Transport;

/// <summary>How one direction of a tunnel ended.</summary>
internal enum RelayDirectionEnd
{
    /// <summary>The source sent FIN; the FIN was passed on.</summary>
    Eof,

    /// <summary>Reading from the source failed.</summary>
    ReadFailed,

    /// <summary>Writing to the sink failed.</summary>
    WriteFailed,

    /// <summary>The tunnel was aborted from outside (idle timeout, shutdown, the other direction failed).</summary>
    Canceled,
}

/// <summary>How a tunnel ended, direction by direction, and what it carried.</summary>
internal readonly record struct RelayOutcome(
    RelayDirectionEnd Upstream, RelayDirectionEnd Downstream, SocketError SocketError, long BytesUp, long BytesDown)
{
    /// <summary>Both sides closed cleanly with FIN, so every byte was delivered.</summary>
    public bool Completed => Upstream == RelayDirectionEnd.Eof && Downstream == RelayDirectionEnd.Eof;
}
