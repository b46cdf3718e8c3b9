using System.Buffers;

namespace Sockeye.Protocol.Tests.TestSupport;

internal static class Sequences
{
    /// <summary>
    /// A sequence with one segment per part. Each part is copied into its own array, so a parser that reads past the
    /// end of a segment sees garbage rather than, by luck, the next bytes of the message.
    /// </summary>
    public static ReadOnlySequence<byte> Create(params byte[][] parts)
    {
        if (parts.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new BufferSegment(Isolate(parts[0]));
        BufferSegment last = first;
        for (int i = 1; i < parts.Length; i++)
        {
            last = last.Append(Isolate(parts[i]));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Two segments: bytes [0, position) and [position, end). Either may be empty.</summary>
    public static ReadOnlySequence<byte> SplitAt(byte[] bytes, int position) => Create(bytes[..position], bytes[position..]);

    /// <summary>
    /// Segments cut at each of <paramref name="cuts"/> taken modulo <c>bytes.Length + 1</c>, so that any integers a
    /// generator draws make a valid split; repeated cuts make empty segments.
    /// </summary>
    public static ReadOnlySequence<byte> SplitAt(byte[] bytes, int[] cuts)
    {
        int[] points = [.. cuts.Select(cut => (int)((uint)cut % (uint)(bytes.Length + 1))).Order(), bytes.Length];
        var parts = new byte[points.Length][];
        int start = 0;
        for (int i = 0; i < points.Length; i++)
        {
            parts[i] = bytes[start..points[i]];
            start = points[i];
        }

        return Create(parts);
    }

    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes)
    {
        var parts = new byte[bytes.Length][];
        for (int i = 0; i < bytes.Length; i++)
        {
            parts[i] = [bytes[i]];
        }

        return Create(parts);
    }

    // Trailing guard bytes sit in the array but outside the segment's memory.
    private static ReadOnlyMemory<byte> Isolate(byte[] part)
    {
        var array = new byte[part.Length + 4];
        array.AsSpan().Fill(0xEE);
        part.CopyTo(array, 0);
        return array.AsMemory(0, part.Length);
    }
}
