using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Sockeye.Server.Interop;
using static Sockeye.Server.Interop.Libc;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// Non-blocking recvfrom(2) and sendto(2) on a UDP socket that the runtime's socket engine never waits on (one served
/// by an <see cref="EpollLoop"/>), with addresses kept in <see cref="SocketAddress"/>es, which hold the native sockaddr.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class RawDatagram
{
    /// <summary>
    /// Receives one datagram into <paramref name="buffer"/> (truncated to fit) and its sender into
    /// <paramref name="source"/>. Returns its length, or -1 with <paramref name="error"/> set:
    /// <see cref="SocketError.WouldBlock"/> when nothing is queued, <see cref="SocketError.OperationAborted"/> once the
    /// socket is closed, <see cref="SocketError.SocketError"/> for an error queued by ICMP or any other failure.
    /// </summary>
    public static unsafe int ReceiveFrom(Socket socket, Span<byte> buffer, SocketAddress source, out SocketError error)
    {
        SafeHandle? handle = SocketHandles.TryAddRef(socket);
        if (handle is null)
        {
            error = SocketError.OperationAborted;
            return -1;
        }

        try
        {
            Span<byte> address = source.Buffer.Span;
            while (true)
            {
                int addressLength = address.Length;
                nint received;
                fixed (byte* data = buffer)
                fixed (byte* from = address)
                {
                    received = recvfrom((int)handle.DangerousGetHandle(), data, (nuint)buffer.Length, MsgDontwait, from, &addressLength);
                }

                if (received >= 0)
                {
                    source.Size = Math.Min(addressLength, address.Length);
                    error = SocketError.Success;
                    return (int)received;
                }

                int errno = Libc.LastError;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                error = errno == Errno.EAGAIN ? SocketError.WouldBlock : SocketError.SocketError;
                return -1;
            }
        }
        finally
        {
            handle.DangerousRelease();
        }
    }

    /// <summary>Sends one datagram without waiting; false when the kernel did not take it (full buffer, no route, closed socket).</summary>
    public static unsafe bool SendTo(Socket socket, ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        SafeHandle? handle = SocketHandles.TryAddRef(socket);
        if (handle is null)
        {
            return false;
        }

        try
        {
            ReadOnlySpan<byte> address = destination.Buffer.Span[..destination.Size];
            while (true)
            {
                nint sent;
                fixed (byte* data = datagram)
                fixed (byte* to = address)
                {
                    sent = sendto((int)handle.DangerousGetHandle(), data, (nuint)datagram.Length, MsgDontwait | MsgNosignal, to, address.Length);
                }

                if (sent >= 0)
                {
                    return true;
                }

                if (Libc.LastError != Errno.EINTR)
                {
                    return false;
                }
            }
        }
        finally
        {
            handle.DangerousRelease();
        }
    }
}
