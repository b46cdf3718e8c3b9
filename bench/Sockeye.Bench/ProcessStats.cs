using System.Globalization;

namespace Sockeye.Bench;

/// <summary>CPU time and resident memory of a process, read from /proc: the figures least disturbed by a noisy machine.</summary>
internal static class ProcessStats
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux x86-64

    /// <summary>
    /// User + system CPU seconds of a process and all its descendants (dante works in child processes), with what the
    /// children that have already exited used: a process's reaped children add theirs to its own cutime and cstime, so
    /// that a child that exits between two readings still counts, and counts once.
    /// </summary>
    public static double CpuSeconds(int pid) => CpuTimes(pid).Total;

    /// <summary>
    /// <see cref="CpuSeconds"/> and its user-space part, from one walk of the tree: what the server's own code costs,
    /// apart from the kernel's work in its system calls. The kernel splits a thread's time between the two by tick
    /// samples, so over a short run the split is a sample, not an exact count.
    /// </summary>
    public static (double Total, double User) CpuTimes(int pid)
    {
        double total = 0;
        double userTotal = 0;
        foreach (int member in ProcessTree(pid))
        {
            try
            {
                (double user, double system) = CpuSecondsOf(member);
                total += user + system;
                userTotal += user;
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return (total, userTotal);
    }

    /// <summary>Resident memory of a process and all its descendants.</summary>
    public static long ResidentBytes(int pid)
    {
        long total = 0;
        foreach (int member in ProcessTree(pid))
        {
            try
            {
                total += ResidentBytesOf(member);
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return total;
    }

    /// <summary>
    /// The machine's CPU time so far from the first line of /proc/stat, in ticks: all of it, and the part the
    /// hypervisor gave to other guests (steal). On a shared host the figures of a run that lost much to steal are
    /// not comparable with the others.
    /// </summary>
    public static (long Total, long Steal) MachineTicks()
    {
        foreach (string line in File.ReadLines("/proc/stat"))
        {
            if (!line.StartsWith("cpu ", StringComparison.Ordinal))
            {
                continue;
            }

            // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long total = 0;
            for (int i = 1; i <= 8 && i < fields.Length; i++)
            {
                total += long.Parse(fields[i], CultureInfo.InvariantCulture);
            }

            return (total, fields.Length > 8 ? long.Parse(fields[8], CultureInfo.InvariantCulture) : 0);
        }

        return (0, 0);
    }

    /// <summary>
    /// A process's open descriptors by kind, from the links in /proc/PID/fd: sockets, pipes (Sockeye's splice pipes,
    /// which it pools), and everything else (epoll and event descriptors, files).
    /// </summary>
    public static (int Sockets, int Pipes, int Other) Descriptors(int pid)
    {
        int sockets = 0;
        int pipes = 0;
        int other = 0;
        foreach (string entry in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(entry).LinkTarget;
            }
            catch (IOException)
            {
                continue; // Closed while we looked.
            }

            if (target is null)
            {
                continue;
            }

            if (target.StartsWith("socket:", StringComparison.Ordinal))
            {
                sockets++;
            }
            else if (target.StartsWith("pipe:", StringComparison.Ordinal))
            {
                pipes++;
            }
            else
            {
                other++;
            }
        }

        return (sockets, pipes, other);
    }

    private static List<int> ProcessTree(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out int pid))
            {
                continue;
            }

            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // Gone already.
            }
        }

        var tree = new List<int> { root };
        for (int i = 0; i < tree.Count; i++)
        {
            foreach (KeyValuePair<int, int> entry in parents)
            {
                if (entry.Value == tree[i])
                {
                    tree.Add(entry.Key);
                }
            }
        }

        return tree;
    }

    private static (double User, double System) CpuSecondsOf(int pid)
    {
        // /proc/PID/stat: the command name (field 2) may contain spaces, so count fields after its closing parenthesis.
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        long stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        long cutime = long.Parse(fields[13], CultureInfo.InvariantCulture);
        long cstime = long.Parse(fields[14], CultureInfo.InvariantCulture);
        return ((utime + cutime) / TicksPerSecond, (stime + cstime) / TicksPerSecond);
    }

    private static long ResidentBytesOf(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                string kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }
}
