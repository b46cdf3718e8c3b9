using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Transport.Portable;

/// <summary>
/// Sends a short message (a SOCKS reply) with one non-blocking send(2) on Linux, awaiting an ordinary
/// <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/> only for what that did not take.
/// </summary>
/// <remarks>
/// A reply of a few bytes into a fresh connection's empty send buffer always goes at once. Going through the awaitable
/// send instead would make .NET create and keep a send event-args object (about 360 bytes with its callback) on every
/// client socket for its whole life, which is a tenth of an idle tunnel's memory; the splice relay never sends through
/// it again. Anything unusual (a full buffer, an error, another OS) takes the awaitable path, which waits or reports
/// the error exactly as before.
/// </remarks>
internal static class NonBlockingSend
{
    public static ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        int sent = OperatingSystem.IsLinux() ? TrySend(socket, data.Span) : 0;
        return sent == data.Length ? ValueTask.CompletedTask : SendRestAsync(socket, data[sent..], cancellationToken);
    }

    private static async ValueTask SendRestAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    /// <summary>The bytes one non-blocking send took; 0 on any error, left for the awaitable send to report.</summary>
    private static int TrySend(Socket socket, ReadOnlySpan<byte> data)
    {
        SafeHandle? handle = SocketHandles.TryAddRef(socket);
        if (handle is null)
        {
            return 0;
        }

        try
        {
            long result = RawSocket.Send((int)handle.DangerousGetHandle(), data);
            return result > 0 ? (int)result : 0;
        }
        finally
        {
            handle.DangerousRelease();
        }
    }
}
