using System.Runtime.InteropServices;

namespace Sockeye.Bench;

/// <summary>Linux calls the load generator needs: its own descriptor limit and CPU affinity.</summary>
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
