using System.Runtime.InteropServices;

namespace Sockeye.Bench;

/// <summary>Linux calls the load generator needs: its own descriptor limit, and sleeps finer than a millisecond.</summary>
internal static partial class Native
{
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
