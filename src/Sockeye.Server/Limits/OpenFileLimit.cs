using static Sockeye.Server.Interop.Libc;

namespace Sockeye.Server.Limits;

/// <summary>This process's limit on open files (RLIMIT_NOFILE), read and raised through getrlimit(2) and setrlimit(2).</summary>
internal static class OpenFileLimit
{
    /// <summary>The soft limit, the one the kernel enforces; <see langword="null"/> off Linux or when it cannot be read.</summary>
    public static unsafe ulong? ReadSoftLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        RLimit limit;
        return getrlimit(RlimitNofile, &limit) == 0 ? limit.Current : null;
    }

    /// <summary>
    /// Raises the soft limit to the hard limit, what the administrator actually allows (the usual soft limit of 1024
    /// would cap a proxy at a few hundred tunnels). Returns the soft limit before and after, or <see langword="null"/>
    /// off Linux or when it cannot be read.
    /// </summary>
    public static unsafe (ulong Before, ulong After)? RaiseToHardLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        RLimit limit;
        if (getrlimit(RlimitNofile, &limit) != 0)
        {
            return null;
        }

        ulong before = limit.Current;
        if (limit.Current < limit.Maximum)
        {
            limit.Current = limit.Maximum;
            if (setrlimit(RlimitNofile, &limit) != 0)
            {
                return (before, before);
            }
        }

        return (before, limit.Current);
    }
}
