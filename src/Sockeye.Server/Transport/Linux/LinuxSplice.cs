using System.Diagnostics.CodeAnalysis;
using Sockeye.Server.Interop;
using static Sockeye.Server.Interop.Libc;

namespace Sockeye.Server.Transport.Linux;

/// <summary>The splice relay's pipes and moves, on <see cref="Libc"/>.</summary>
internal static class LinuxSplice
{
    /// <summary>
    /// Moves up to <paramref name="length"/> bytes between two descriptors, one of them a pipe, without blocking. Never
    /// answers EINTR: a signal's interruption is retried here.
    /// </summary>
    public static unsafe long Splice(int from, int to, int length)
    {
        nint moved;
        do
        {
            moved = splice(from, null, to, null, (nuint)length, SpliceFMove | SpliceFNonblock);
        }
        while (moved < 0 && Libc.LastError == Errno.EINTR);

        return moved;
    }

    /// <summary>
    /// Creates a non-blocking, close-on-exec pipe and sizes it, its ends owned by the handles returned; false with errno
    /// on failure.
    /// </summary>
    public static unsafe bool TryCreatePipe(int size, [NotNullWhen(true)] out DescriptorHandle? readEnd, [NotNullWhen(true)] out DescriptorHandle? writeEnd, out int errno)
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, OCloexec | ONonblock) != 0)
        {
            errno = Libc.LastError;
            readEnd = writeEnd = null;
            return false;
        }

        readEnd = new DescriptorHandle(fds[0]);
        writeEnd = new DescriptorHandle(fds[1]);

        // A bigger pipe moves more per call; failing to grow it (a lower /proc/sys/fs/pipe-max-size) is harmless.
        _ = fcntl(fds[1], FSetPipeSize, size);
        errno = 0;
        return true;
    }

    /// <summary>Reads what a pipe holds into <paramref name="buffer"/>.</summary>
    public static unsafe long Read(int fd, Span<byte> buffer)
    {
        fixed (byte* pointer = buffer)
        {
            nint read;
            do
            {
                read = Libc.read(fd, pointer, (nuint)buffer.Length);
            }
            while (read < 0 && Libc.LastError == Errno.EINTR);

            return read;
        }
    }
}
