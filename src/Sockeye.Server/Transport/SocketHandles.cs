using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sockeye.Server.Transport;

/// <summary>A socket's descriptor for a system call of our own, held so that a concurrent close cannot recycle it.</summary>
internal static class SocketHandles
{
    /// <summary>
    /// The socket's handle with a reference taken (release it with <see cref="SafeHandle.DangerousRelease"/>), or
    /// <see langword="null"/> once the socket is closed.
    /// </summary>
    public static SafeHandle? TryAddRef(Socket socket)
    {
        try
        {
            SafeHandle handle = socket.SafeHandle;
            bool added = false;
            handle.DangerousAddRef(ref added);
            return added ? handle : null;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
    }
}
