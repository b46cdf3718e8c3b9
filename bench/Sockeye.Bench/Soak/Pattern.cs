namespace Sockeye.Bench.Soak;

/// <summary>
/// The bytes of a soak transfer: a fixed random sequence entered at a point chosen by the transfer's seed, so that
/// either end can produce or check any byte from the seed and its offset alone, and a byte that arrives shifted (one
/// lost or duplicated before it) or from another transfer mismatches with probability 255/256.
/// </summary>
internal static class Pattern
{
    // Prime, so that the sequence's period lines up with no buffer or chunk size.
    private const int Period = 65_521;

    // The sequence followed by its own first 64 KiB: any slice of up to 64 KiB that starts within the period is contiguous.
    private const int MaxSlice = 65_536;

    private static readonly byte[] Sequence = CreateSequence();

    /// <summary>Writes the transfer's bytes from <paramref name="offset"/> on into <paramref name="destination"/>.</summary>
    public static void Fill(long seed, long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int length = Math.Min(destination.Length, MaxSlice);
            Sequence.AsSpan(Start(seed, offset), length).CopyTo(destination);
            destination = destination[length..];
            offset += length;
        }
    }

    /// <summary>How many bytes of <paramref name="received"/> differ from the transfer's bytes at <paramref name="offset"/>.</summary>
    public static long CountMismatches(long seed, long offset, ReadOnlySpan<byte> received)
    {
        long mismatches = 0;
        while (!received.IsEmpty)
        {
            int length = Math.Min(received.Length, MaxSlice);
            ReadOnlySpan<byte> expected = Sequence.AsSpan(Start(seed, offset), length);
            ReadOnlySpan<byte> actual = received[..length];
            if (!actual.SequenceEqual(expected))
            {
                for (int i = 0; i < length; i++)
                {
                    if (actual[i] != expected[i])
                    {
                        mismatches++;
                    }
                }
            }

            received = received[length..];
            offset += length;
        }

        return mismatches;
    }

    private static int Start(long seed, long offset) =>
        (int)(((ulong)seed % Period + (ulong)offset % Period) % Period);

    private static byte[] CreateSequence()
    {
        byte[] sequence = new byte[Period + MaxSlice];
        new Random(0x50AC).NextBytes(sequence.AsSpan(0, Period));
        for (int i = Period; i < sequence.Length; i++)
        {
            sequence[i] = sequence[i - Period];
        }

        return sequence;
    }
}
