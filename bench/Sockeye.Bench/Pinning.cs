using System.Globalization;

namespace Sockeye.Bench;

/// <summary>
/// Where the proxy and the generator run (<c>--pin</c>, <c>--proxy-cpus N</c>): the proxy on CPUs 0 to N-1 through
/// taskset, the generator with its targets on the rest, or unpinned when the proxy has every CPU. No pinning at all when
/// <see cref="ProxyCpus"/> is 0.
/// </summary>
internal sealed record Pinning(int ProxyCpus, int MachineCpus)
{
    /// <summary>
    /// Why <paramref name="proxyCpus"/> cannot be given on a machine of <paramref name="machineCpus"/> CPUs, or
    /// <see langword="null"/> when it can.
    /// </summary>
    public static string? Validate(int proxyCpus, int machineCpus) =>
        proxyCpus < 1 || proxyCpus > machineCpus
            ? string.Create(CultureInfo.InvariantCulture, $"--proxy-cpus must be from 1 to {machineCpus}, the CPUs of this machine, not {proxyCpus}: the proxy runs on CPUs 0 to N-1 and the generator on the rest (unpinned when N is {machineCpus})")
            : null;

    public bool Pinned => ProxyCpus > 0;

    /// <summary>The proxy's CPUs as taskset's <c>-c</c> takes them ("0", "0-1"), or <see langword="null"/> when not pinned.</summary>
    public string? ProxyCpuList => Pinned ? Range(0, ProxyCpus - 1) : null;

    /// <summary>
    /// The generator's affinity mask: the CPUs the proxy does not have, or <see langword="null"/> (unpinned) when the
    /// proxy has them all or nothing is pinned.
    /// </summary>
    public long? GeneratorAffinity
    {
        get
        {
            if (!Pinned || ProxyCpus >= MachineCpus)
            {
                return null;
            }

            long mask = 0;
            for (int cpu = ProxyCpus; cpu < Math.Min(MachineCpus, 63); cpu++)
            {
                mask |= 1L << cpu;
            }

            return mask;
        }
    }

    /// <summary>
    /// The threads hev-socks5-server is given (<c>workers</c>): one per proxy CPU, and one when nothing is pinned, which
    /// is how it was measured before <c>--proxy-cpus</c>.
    /// </summary>
    public int HevWorkers => Math.Max(1, ProxyCpus);

    /// <summary>The report's "pinning" line.</summary>
    public string Describe() =>
        !Pinned ? "none"
        : ProxyCpus < MachineCpus ? $"proxy on {Cpus(0, ProxyCpus - 1)}, generator and targets on {Cpus(ProxyCpus, MachineCpus - 1)}"
        : $"proxy on {Cpus(0, ProxyCpus - 1)} (all of them), generator and targets unpinned, sharing them with the proxy";

    private static string Cpus(int first, int last) => first == last ? $"CPU {Range(first, last)}" : $"CPUs {Range(first, last)}";

    private static string Range(int first, int last) =>
        first == last ? first.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{first}-{last}");
}
