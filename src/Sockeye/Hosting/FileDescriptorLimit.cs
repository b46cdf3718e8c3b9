using System.Runtime.InteropServices;

namespace Sockeye.Hosting;

/// <summary>
/// Raises this process's soft limit on open files to its hard limit. Every tunnel holds two sockets (client and
/// destination), and the usual soft limit of 1024 would cap a proxy at about 400 tunnels; the hard limit is what the
/// administrator actually allows. The server divides the limit it finds (<c>DescriptorBudget</c>, event 1011).
/// </summary>
internal static partial class FileDescriptorLimit
{
    private const int RlimitNofile = 7;

    /// <summary>Raises the soft limit; returns the limits before and after, or <see langword="null"/> off Linux or on failure.</summary>
    public static (ulong Before, ulong After)? RaiseToHardLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var limit = default(RLimit);
        if (getrlimit(RlimitNofile, ref limit) != 0)
        {
            return null;
        }

        ulong before = limit.Current;
        if (limit.Current < limit.Maximum)
        {
            limit.Current = limit.Maximum;
            if (setrlimit(RlimitNofile, ref limit) != 0)
            {
                return (before, before);
            }
        }

        return (before, limit.Current);
    }

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
