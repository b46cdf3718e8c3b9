using Sockeye.Fuzz;

namespace Sockeye.Fuzz.Tests;

/// <summary>
/// The short pass of every fuzz target that CI runs: the seed corpus, then a bounded number of mutations of it
/// (bit flips, replaced, inserted and deleted bytes, truncations, repeats), from a fixed seed so that a failure
/// reproduces. Long campaigns run under AFL (fuzz/README.md); this keeps the targets and their invariants honest.
/// </summary>
public sealed class ShortPassTests
{
    private const int Mutations = 50_000;

    [Fact]
    public void Socks4Request_SeedsAndMutations_HoldEveryInvariant() => ShortPass("socks4-request", static input => Socks4RequestTarget.Run(input));

    [Fact]
    public void Socks5Greeting_SeedsAndMutations_HoldEveryInvariant() => ShortPass("socks5-greeting", static input => Socks5GreetingTarget.Run(input));

    [Fact]
    public void Socks5Credentials_SeedsAndMutations_HoldEveryInvariant() =>
        ShortPass("socks5-credentials", static input => UsernamePasswordRequestTarget.Run(input));

    [Fact]
    public void Socks5CredentialsReply_SeedsAndMutations_HoldEveryInvariant() =>
        ShortPass("socks5-credentials-reply", static input => UsernamePasswordReplyTarget.Run(input));

    [Fact]
    public void Socks5Request_SeedsAndMutations_HoldEveryInvariant() => ShortPass("socks5-request", static input => Socks5RequestTarget.Run(input));

    [Fact]
    public void Socks5Reply_SeedsAndMutations_HoldEveryInvariant() => ShortPass("socks5-reply", static input => Socks5ReplyTarget.Run(input));

    [Fact]
    public void UdpHeader_SeedsAndMutations_HoldEveryInvariant() => ShortPass("udp-header", static input => Socks5UdpHeaderTarget.Run(input));

    [Fact]
    public void ProxyHeader_SeedsAndMutations_HoldEveryInvariant() => ShortPass("proxy-header", static input => ProxyHeaderTarget.Run(input));

    [Fact]
    public void HttpRequest_SeedsAndMutations_HoldEveryInvariant() => ShortPass("http-request", static input => HttpRequestHeadTarget.Run(input));

    [Fact]
    public void HttpResponse_SeedsAndMutations_HoldEveryInvariant() => ShortPass("http-response", static input => HttpResponseHeadTarget.Run(input));

    [Fact]
    public void HttpChunked_SeedsAndMutations_HoldEveryInvariant() => ShortPass("http-chunked", static input => HttpChunkedBodyTarget.Run(input));

    /// <summary>
    /// Runs the pass; <paramref name="run"/> says whether an input was accepted. Both outcomes must be common among the
    /// mutations, or the pass would exercise only one side of the parser.
    /// </summary>
    private static void ShortPass(string target, Func<byte[], bool> run)
    {
        string corpus = Path.Combine(AppContext.BaseDirectory, "Corpus", target);
        byte[][] seeds = [.. Directory.EnumerateFiles(corpus).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];
        Assert.NotEmpty(seeds);
        foreach (byte[] seed in seeds)
        {
            RunOne(target, run, seed);
        }

        var random = new Random(20);
        int accepted = 0;
        for (int i = 0; i < Mutations; i++)
        {
            byte[] input = Mutate(seeds[random.Next(seeds.Length)], random);
            accepted += RunOne(target, run, input) ? 1 : 0;
        }

        Assert.InRange(accepted, Mutations / 100, Mutations - (Mutations / 100));
    }

    private static bool RunOne(string target, Func<byte[], bool> run, byte[] input)
    {
        try
        {
            return run(input);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{target} failed on {Convert.ToHexString(input)}: {e}");
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
