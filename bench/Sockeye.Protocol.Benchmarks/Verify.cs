namespace Sockeye.Protocol.Benchmarks;

/// <summary>
/// Checks run once in [GlobalSetup]. A parser that rejects its input returns early and would look fast, so every
/// benchmark first proves that its input parses and that its writer reproduces the same bytes.
/// </summary>
internal static class Verify
{
    public static void That(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Benchmark input is wrong: {what}.");
        }
    }

    public static void SameBytes(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> written, string what) =>
        That(expected.SequenceEqual(written), $"{what} wrote {Convert.ToHexString(written)}, expected {Convert.ToHexString(expected)}");
}
