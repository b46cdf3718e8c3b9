using System.Buffers;

namespace Sockeye.Fuzz;

/// <summary>Builds a <see cref="ReadOnlySequence{T}"/> of two segments, so that parsers meet input split as sockets split it.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Of(byte[] bytes, int split)
    {
        if (split <= 0 || split >= bytes.Length)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var first = new Segment(bytes.AsMemory(0, split), 0);
        Segment last = first.Append(bytes.AsMemory(split));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
