using System.Runtime.InteropServices;

namespace Sockeye.Server.Relay;

/// <summary>The few Linux calls the splice relay needs. Source-generated marshalling: NativeAOT and trimming safe.</summary>
internal static partial class LinuxSplice
{
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int EINVAL = 22;
    public const int ENOSYS = 38;
    public const int EPIPE = 32;
    public const int ECONNRESET = 104;

    private const uint SpliceFMove = 0x01;
    private const uint SpliceFNonblock = 0x02;
    private const int OCloexec = 0x80000;
    private const int ONonblock = 0x800;
    private const int FSetPipeSize = 1031;

    /// <summary>Moves up to <paramref name="length"/> bytes between two descriptors, one of them a pipe, without blocking.</summary>
    public static long Splice(int from, int to, int length) => splice(from, IntPtr.Zero, to, IntPtr.Zero, (nuint)length, SpliceFMove | SpliceFNonblock);

    /// <summary>Creates a non-blocking, close-on-exec pipe and sizes it; returns false with errno on failure.</summary>
    public static unsafe bool TryCreatePipe(int size, out int readEnd, out int writeEnd, out int errno)
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, OCloexec | ONonblock) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            readEnd = writeEnd = -1;
            return false;
        }

        readEnd = fds[0];
        writeEnd = fds[1];

        // A bigger pipe moves more per call; failing to grow it (a lower /proc/sys/fs/pipe-max-size) is harmless.
        _ = fcntl(writeEnd, FSetPipeSize, size);
        errno = 0;
        return true;
    }

    /// <summary>Reads what a pipe holds into <paramref name="buffer"/>.</summary>
    public static unsafe long Read(int fd, Span<byte> buffer)
    {
        fixed (byte* pointer = buffer)
        {
            return read(fd, pointer, (nuint)buffer.Length);
        }
    }

    public static void Close(int fd) => _ = close(fd);

    public static int LastError => Marshal.GetLastPInvokeError();

    [LibraryImport("libc", SetLastError = true)]
    private static partial long splice(int fdIn, IntPtr offIn, int fdOut, IntPtr offOut, nuint length, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial long read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
