using System.Runtime.InteropServices;

namespace Sockeye.Hosting;

/// <summary>
/// Raises this process's soft limit on open files to its hard limit. Every tunnel holds two sockets (client and
/// destination), and the usual soft limit of 1024 would cap a proxy at about 500 tunnels; the hard limit is what the
/// administrator actually allows.
/// </summary>
internal static partial class FileDescriptorLimit
{
    private const int RlimitNofile = 7;

    /// <summary>
    /// Descriptors kept aside: 64 for listeners, logs, the pipes of busy splice tunnels and the runtime itself, and 512
    /// for the splice relay's pool of up to 256 idle pipes (two descriptors each), which stays full after a burst.
    /// </summary>
    public const int Reserved = 64 + 512;

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

    /// <summary>How many tunnels a descriptor limit allows: two sockets each, after the reserve.</summary>
    public static ulong TunnelCapacity(ulong limit) => limit > Reserved ? (limit - Reserved) / 2 : 0;

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
