using System.Buffers;

namespace Sockeye.Protocol.Tests.TestSupport;

/// <summary>One segment of a hand-built multi-segment <see cref="ReadOnlySequence{T}"/>, as a pipe would hand a parser.</summary>
internal sealed class BufferSegment : ReadOnlySequenceSegment<byte>
{
    public BufferSegment(ReadOnlyMemory<byte> memory)
    {
        Memory = memory;
    }

    public BufferSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new BufferSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }
}
