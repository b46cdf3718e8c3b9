using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sockeye.Bench;

/// <summary>
/// The bulk ends of the throughput scenario: blocking send(2) and recv(2) on a thread of their own, as a C load
/// generator moves bytes.
/// </summary>
/// <remarks>
/// Awaited socket calls wake the runtime's epoll thread, which hands each completion to a thread-pool worker: on a
/// saturated generator core those hand-offs, not the copies, were a large share of the work per chunk once a proxy on
/// the other core made every chunk a cross-core wake-up. A thread blocked in recv(2) is woken by the kernel directly.
/// </remarks>
internal static partial class BlockingTransfer
{
    /// <summary>Bytes per system call, the size the awaiting version used.</summary>
    public const int ChunkBytes = 256 * 1024;

    /// <summary>Sends <paramref name="bytes"/> bytes, shuts the sending side, and waits for the peer's end of stream.</summary>
    public static Task<long> UploadAsync(Socket socket, long bytes) => RunAsync("bench upload", () =>
    {
        SendAll(socket, bytes);
        socket.Shutdown(SocketShutdown.Send);

        // The sink closes after it has read every byte: its EOF is the proof of delivery.
        _ = ReceiveToEnd(socket);
        return bytes;
    });

    /// <summary>Reads until the peer's end of stream and returns the bytes read.</summary>
    public static Task<long> DownloadAsync(Socket socket) => RunAsync("bench download", () => ReceiveToEnd(socket));

    /// <summary>Runs <paramref name="work"/> on a background thread of its own (it inherits the generator's pinning).</summary>
    public static Task<T> RunAsync<T>(string name, Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }

    /// <summary>Sends <paramref name="bytes"/> bytes of zeros with blocking send(2).</summary>
    public static unsafe void SendAll(Socket socket, long bytes)
    {
        nint descriptor = MakeBlocking(socket);
        byte[] buffer = GC.AllocateArray<byte>(ChunkBytes, pinned: true);
        fixed (byte* start = buffer)
        {
            for (long left = bytes; left > 0;)
            {
                nint sent = send(descriptor, start, (nint)Math.Min(left, buffer.Length), MsgNoSignal);
                if (sent < 0)
                {
                    ThrowUnlessInterrupted("send");
                    continue;
                }

                left -= sent;
            }
        }
    }

    /// <summary>Reads with blocking recv(2) until the end of stream; returns the bytes read.</summary>
    public static unsafe long ReceiveToEnd(Socket socket)
    {
        nint descriptor = MakeBlocking(socket);
        byte[] buffer = GC.AllocateArray<byte>(ChunkBytes, pinned: true);
        long total = 0;
        fixed (byte* start = buffer)
        {
            while (true)
            {
                nint read = recv(descriptor, start, buffer.Length, 0);
                if (read == 0)
                {
                    return total;
                }

                if (read < 0)
                {
                    ThrowUnlessInterrupted("recv");
                    continue;
                }

                total += read;
            }
        }
    }

    /// <summary>Sends all of <paramref name="bytes"/> with blocking send(2) on a descriptor from <see cref="MakeBlocking"/>.</summary>
    public static unsafe void SendExactly(nint descriptor, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* start = bytes)
        {
            for (int offset = 0; offset < bytes.Length;)
            {
                nint sent = send(descriptor, start + offset, bytes.Length - offset, MsgNoSignal);
                if (sent < 0)
                {
                    ThrowUnlessInterrupted("send");
                    continue;
                }

                offset += (int)sent;
            }
        }
    }

    /// <summary>Fills <paramref name="bytes"/> with blocking recv(2) on a descriptor from <see cref="MakeBlocking"/>.</summary>
    public static unsafe void ReceiveExactly(nint descriptor, Span<byte> bytes)
    {
        fixed (byte* start = bytes)
        {
            for (int offset = 0; offset < bytes.Length;)
            {
                nint read = recv(descriptor, start + offset, bytes.Length - offset, 0);
                if (read == 0)
                {
                    throw new IOException("closed early");
                }

                if (read < 0)
                {
                    ThrowUnlessInterrupted("recv");
                    continue;
                }

                offset += (int)read;
            }
        }
    }

    /// <summary>
    /// Clears O_NONBLOCK, which the runtime set when the socket was first used asynchronously (the handshake). The
    /// runtime's own edge-triggered registration stays and is never used again.
    /// </summary>
    public static nint MakeBlocking(Socket socket)
    {
        nint descriptor = socket.SafeHandle.DangerousGetHandle();
        int flags = fcntl(descriptor, GetFlags, 0);
        if (flags < 0 || fcntl(descriptor, SetFlags, flags & ~NonBlocking) < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }

        return descriptor;
    }

    private static void ThrowUnlessInterrupted(string call)
    {
        int error = Marshal.GetLastPInvokeError();
        if (error != Interrupted)
        {
            throw new IOException($"{call}: {new SocketException(error).Message}", new SocketException(error));
        }
    }

    private const int GetFlags = 3;
    private const int SetFlags = 4;
    private const int NonBlocking = 0x800;
    private const int MsgNoSignal = 0x4000;
    private const int Interrupted = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint send(nint descriptor, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(nint descriptor, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(nint descriptor, int command, int argument);
}
