namespace Sockeye.Testing;

/// <summary>Payloads for tests: random, but the same every run, so that a failure can be replayed.</summary>
public static class TestData
{
    /// <summary><paramref name="count"/> bytes from a generator seeded with <paramref name="seed"/>.</summary>
    public static byte[] RandomBytes(int count, int seed)
    {
        byte[] bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
