using System.Diagnostics;
using System.Globalization;
using Sockeye.Fuzz;
using Xunit.Abstractions;

namespace Sockeye.Fuzz.Tests;

/// <summary>
/// The short pass of one fuzz target that CI runs: its corpus (the seeds, and what AFL++ campaigns kept for new paths),
/// then mutations of it (bit flips, replaced, inserted and deleted bytes, truncations, repeats) from a fixed seed for
/// <see cref="PassDuration"/>. Long campaigns run under AFL++ (fuzz/README.md); this keeps the targets and their
/// invariants honest on every change. One class per target, so that xunit runs the targets side by side.
/// </summary>
public abstract class ShortPass(string target, Func<byte[], bool> run, ITestOutputHelper output)
{
    /// <summary>
    /// Long enough for millions of mutations per target, short enough that eleven targets do not double the time of
    /// <c>dotnet test</c>; <c>SOCKEYE_FUZZ_PASS_SECONDS</c> lengthens it for a longer run by hand.
    /// </summary>
    private static readonly TimeSpan PassDuration = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("SOCKEYE_FUZZ_PASS_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) && seconds > 0 ? seconds : 15);

    // However slow the machine, a pass mutates at least this much, or it would say little.
    private const int MinimumMutations = 50_000;

    // A bound on the loop besides the clock.
    private const int MaximumMutations = 100_000_000;

    [Fact]
    public void CorpusAndMutations_HoldEveryInvariant()
    {
        string corpus = Path.Combine(AppContext.BaseDirectory, "Corpus", target);
        byte[][] seeds = [.. Directory.EnumerateFiles(corpus).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];
        Assert.NotEmpty(seeds);
        foreach (byte[] seed in seeds)
        {
            RunOne(seed, iteration: -1);
        }

        var random = new Random(20);
        var clock = Stopwatch.StartNew();
        int mutations = 0;
        int accepted = 0;
        while (mutations < MaximumMutations && (mutations < MinimumMutations || clock.Elapsed < PassDuration))
        {
            byte[] input = Mutate(seeds[random.Next(seeds.Length)], random);
            accepted += RunOne(input, mutations) ? 1 : 0;
            mutations++;
        }

        output.WriteLine($"{target}: {seeds.Length} corpus entries, {mutations} mutations in {clock.Elapsed.TotalSeconds:F1} s, {accepted} accepted");

        // Both outcomes must be common among the mutations, or the pass would exercise only one side of the parser.
        Assert.InRange(accepted, mutations / 100, mutations - (mutations / 100));
    }

    private bool RunOne(byte[] input, int iteration)
    {
        try
        {
            return run(input);
        }
        catch (Exception e)
        {
            string which = iteration < 0 ? "a corpus entry" : $"mutation {iteration} (seed 20)";
            throw new Xunit.Sdk.XunitException($"{target} failed on {which}, {Convert.ToHexString(input)}: {e}");
        }
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        int changes = random.Next(1, 5);
        for (int change = 0; change < changes; change++)
        {
            int at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                case 3 when bytes.Count > 0:
                    bytes.RemoveAt(at);
                    break;
                case 4:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                default:
                    int length = Math.Min(bytes.Count - at, random.Next(1, 16));
                    bytes.InsertRange(at, bytes.GetRange(at, length));
                    break;
            }
        }

        return [.. bytes];
    }
}

public sealed class Socks4RequestShortPass(ITestOutputHelper output) : ShortPass("socks4-request", static input => Socks4RequestTarget.Run(input), output);

public sealed class Socks5GreetingShortPass(ITestOutputHelper output) : ShortPass("socks5-greeting", static input => Socks5GreetingTarget.Run(input), output);

public sealed class Socks5CredentialsShortPass(ITestOutputHelper output) : ShortPass("socks5-credentials", static input => UsernamePasswordRequestTarget.Run(input), output);

public sealed class Socks5CredentialsReplyShortPass(ITestOutputHelper output) : ShortPass("socks5-credentials-reply", static input => UsernamePasswordReplyTarget.Run(input), output);

public sealed class Socks5RequestShortPass(ITestOutputHelper output) : ShortPass("socks5-request", static input => Socks5RequestTarget.Run(input), output);

public sealed class Socks5ReplyShortPass(ITestOutputHelper output) : ShortPass("socks5-reply", static input => Socks5ReplyTarget.Run(input), output);

public sealed class UdpHeaderShortPass(ITestOutputHelper output) : ShortPass("udp-header", static input => Socks5UdpHeaderTarget.Run(input), output);

public sealed class ProxyHeaderShortPass(ITestOutputHelper output) : ShortPass("proxy-header", static input => ProxyHeaderTarget.Run(input), output);

public sealed class HttpRequestShortPass(ITestOutputHelper output) : ShortPass("http-request", static input => HttpRequestHeadTarget.Run(input), output);

public sealed class HttpResponseShortPass(ITestOutputHelper output) : ShortPass("http-response", static input => HttpResponseHeadTarget.Run(input), output);

public sealed class HttpChunkedShortPass(ITestOutputHelper output) : ShortPass("http-chunked", static input => HttpChunkedBodyTarget.Run(input), output);

public sealed class GssapiMessageShortPass(ITestOutputHelper output) : ShortPass("gssapi-message", static input => GssapiMessageTarget.Run(input), output);
