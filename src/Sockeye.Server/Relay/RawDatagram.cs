using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Sockeye.Server.Relay;

/// <summary>
/// Non-blocking recvfrom(2) and sendto(2) on a UDP socket that the runtime's socket engine never waits on (one served
/// by an <see cref="EpollLoop"/>), with addresses kept in <see cref="SocketAddress"/>es, which hold the native sockaddr.
/// </summary>
[SupportedOSPlatform("linux")]
internal static partial class RawDatagram
{
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int Eagain = 11;
    private const int Eintr = 4;

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
                    received = recvfrom((int)handle.DangerousGetHandle(), data, (nuint)buffer.Length, MsgDontWait, from, &addressLength);
                }

                if (received >= 0)
                {
                    source.Size = Math.Min(addressLength, address.Length);
                    error = SocketError.Success;
                    return (int)received;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == Eintr)
                {
                    continue;
                }

                error = errno == Eagain ? SocketError.WouldBlock : SocketError.SocketError;
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
                    sent = sendto((int)handle.DangerousGetHandle(), data, (nuint)datagram.Length, MsgDontWait | MsgNoSignal, to, address.Length);
                }

                if (sent >= 0)
                {
                    return true;
                }

                if (Marshal.GetLastPInvokeError() != Eintr)
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

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recvfrom(int descriptor, byte* buffer, nuint length, int flags, byte* address, int* addressLength);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint sendto(int descriptor, byte* buffer, nuint length, int flags, byte* address, int addressLength);
}
