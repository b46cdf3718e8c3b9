using System.Runtime.InteropServices;

namespace Sockeye.Bench;

/// <summary>
/// Linux calls the load generator needs: its own descriptor limit, its threads' CPUs, sleeps finer than a millisecond,
/// and the UDP generator's non-blocking sends and receives.
/// </summary>
internal static unsafe partial class Native
{
    private const int MessageDontWait = 0x40;
    private const int ErrorInterrupted = 4;
    private const int ErrorWouldBlock = 11;

    /// <summary>
    /// Pins every thread of this process to the CPUs in <paramref name="mask"/>. Setting the process's affinity reaches
    /// only its main thread; the runtime's threads started before it (the JIT's tiering thread among them) would go on
    /// running on the proxy's CPUs. Threads started later inherit the mask of the thread that starts them.
    /// </summary>
    public static void PinEveryThread(long mask)
    {
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            if (int.TryParse(Path.GetFileName(task), out int thread))
            {
                _ = sched_setaffinity(thread, sizeof(long), in mask); // A thread that has just ended: nothing to pin.
            }
        }
    }

    /// <summary>Sends on a connected socket, retrying while its buffer is full.</summary>
    public static void SendOrThrow(nint socket, byte* data, int length)
    {
        while (send(socket, data, length, 0) < 0)
        {
            ThrowUnlessRetryable();
        }
    }

    /// <summary>Sends to <paramref name="address"/>, retrying while the socket's buffer is full.</summary>
    public static void SendToOrThrow(nint socket, byte* data, int length, byte* address, int addressLength)
    {
        while (sendto(socket, data, length, 0, address, addressLength) < 0)
        {
            ThrowUnlessRetryable();
        }
    }

    /// <summary>One datagram waiting on a connected socket, or -1 when none is.</summary>
    public static long ReceiveNow(nint socket, byte* data, int capacity)
    {
        long length = recv(socket, data, capacity, MessageDontWait);
        return length >= 0 ? length : NothingOrThrow();
    }

    /// <summary>One datagram waiting on the socket and its source, or -1 when none is.</summary>
    public static long ReceiveFromNow(nint socket, byte* data, int capacity, byte* source, ref int sourceLength)
    {
        long length = recvfrom(socket, data, capacity, MessageDontWait, source, ref sourceLength);
        return length >= 0 ? length : NothingOrThrow();
    }

    private static long NothingOrThrow()
    {
        int error = Marshal.GetLastPInvokeError();
        return error is ErrorWouldBlock or ErrorInterrupted ? -1 : throw new IOException(Marshal.GetPInvokeErrorMessage(error));
    }

    private static void ThrowUnlessRetryable()
    {
        int error = Marshal.GetLastPInvokeError();
        if (error is not (ErrorWouldBlock or ErrorInterrupted))
        {
            throw new IOException(Marshal.GetPInvokeErrorMessage(error));
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int thread, nint maskSize, in long mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(nint socket, byte* data, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint sendto(nint socket, byte* data, nint length, int flags, byte* address, int addressLength);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(nint socket, byte* data, nint capacity, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recvfrom(nint socket, byte* data, nint capacity, int flags, byte* source, ref int sourceLength);

    public static void RaiseFileLimit()
    {
        var limit = default(RLimit);
        if (getrlimit(7, ref limit) == 0 && limit.Current < limit.Maximum)
        {
            limit.Current = limit.Maximum;
            _ = setrlimit(7, ref limit);
        }
    }

    /// <summary>Sleeps for <paramref name="time"/> with nanosleep(2): finer than <see cref="Thread.Sleep(int)"/>'s milliseconds.</summary>
    public static void Sleep(TimeSpan time)
    {
        var request = new TimeSpec { Seconds = (long)time.TotalSeconds, Nanoseconds = time.Ticks % TimeSpan.TicksPerSecond * 100 };
        _ = nanosleep(in request, 0); // Woken early by a signal: the caller checks the clock.
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int nanosleep(in TimeSpec request, nint remaining);

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, ref RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, ref RLimit limit);
}
