using Sockeye.Bench.Soak;

namespace Sockeye.Bench.Tests;

/// <summary>
/// The soak's byte pattern: what it checks is only as good as its power to tell a right byte from a wrong one, so a
/// stream that lost, gained or swapped bytes must mismatch almost everywhere after the fault.
/// </summary>
public sealed class PatternTests
{
    private const long Seed = 0x1234_5678_9ABC;

    [Fact]
    public void Stream_ChecksOutWhole_InAnyChunking()
    {
        byte[] stream = new byte[300_000];
        Pattern.Fill(Seed, 0, stream);
        long mismatches = 0;
        for (int offset = 0, chunk = 1; offset < stream.Length; offset += chunk, chunk = chunk * 7 % 70_001 + 1)
        {
            int length = Math.Min(chunk, stream.Length - offset);
            mismatches += Pattern.CountMismatches(Seed, offset, stream.AsSpan(offset, length));
        }

        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void OneLostByte_MismatchesNearlyEveryByteAfterIt()
    {
        byte[] stream = new byte[100_000];
        Pattern.Fill(Seed, 0, stream);
        byte[] oneLost = [.. stream.AsSpan(0, 5_000), .. stream.AsSpan(5_001)];

        long mismatches = Pattern.CountMismatches(Seed, 0, oneLost);

        Assert.InRange(mismatches, (oneLost.Length - 5_000) * 250L / 256, oneLost.Length - 5_000);
    }

    [Fact]
    public void AnotherTransfersBytes_Mismatch()
    {
        byte[] other = new byte[65_536];
        Pattern.Fill(Seed + 1, 0, other);

        Assert.InRange(Pattern.CountMismatches(Seed, 0, other), other.Length * 250L / 256, other.Length);
    }

    [Fact]
    public void OneFlippedBit_IsOneMismatch()
    {
        byte[] stream = new byte[10_000];
        Pattern.Fill(Seed, 40_000, stream);
        stream[1234] ^= 0x10;

        Assert.Equal(1, Pattern.CountMismatches(Seed, 40_000, stream));
    }
}
