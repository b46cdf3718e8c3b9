namespace Sockeye.Testing.Origins;

/// <summary>
/// The bytes <c>/bytes/{n}</c> and <c>/chunked/{n}</c> serve: byte <c>i</c> is <c>(byte)(i * 31 + 7)</c>, so any test
/// can check a body, or a part of one at a known offset, without keeping a copy.
/// </summary>
public static class OriginContent
{
    /// <summary>The largest <c>n</c> the byte endpoints accept: 64 MiB.</summary>
    public const int MaxBytes = 64 * 1024 * 1024;

    // 31 is odd, so the pattern repeats every 256 bytes: a block of whole periods, plus one more to start anywhere in
    // it, serves any offset without computing bytes per request.
    private const int Period = 256;
    private static readonly byte[] Block = Bytes((64 * 1024) + Period);

    /// <summary>Byte <paramref name="index"/> of every body.</summary>
    public static byte ByteAt(long index) => unchecked((byte)((index * 31) + 7));

    /// <summary>The first <paramref name="count"/> bytes of the pattern.</summary>
    public static byte[] Bytes(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        byte[] bytes = new byte[count];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = ByteAt(i);
        }

        return bytes;
    }

    /// <summary>
    /// Where <paramref name="data"/>, read from offset <paramref name="offset"/> of a body, first differs from the
    /// pattern (an index into <paramref name="data"/>), or -1 when it matches throughout.
    /// </summary>
    public static int FirstMismatch(ReadOnlySpan<byte> data, long offset = 0)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != ByteAt(offset + i))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The pattern from <paramref name="offset"/> on: <paramref name="count"/> bytes, or fewer (at least 64 KiB) when
    /// more were asked for; a slice of a shared block that nobody writes to.
    /// </summary>
    internal static ReadOnlyMemory<byte> Slice(long offset, int count)
    {
        int start = (int)(offset % Period);
        return Block.AsMemory(start, Math.Min(count, Block.Length - start));
    }
}
