using System.Buffers;

namespace Sockeye.Server.Authentication;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over one pooled array that grows by renting a larger one; <see cref="Release"/>
/// gives it back, so that an idle connection holds none.
/// </summary>
internal sealed class PooledWriter : IBufferWriter<byte>
{
    private byte[]? _buffer;

    public int WrittenCount { get; private set; }

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, WrittenCount);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, WrittenCount);

    /// <summary>The written bytes from <paramref name="start"/> on, writable: for a header patched once its length is known.</summary>
    public Span<byte> WrittenSpanFrom(int start) => _buffer.AsSpan(start, WrittenCount - start);

    public void Advance(int count) => Advance(count, reserve: false);

    /// <summary>Advances by <paramref name="count"/>; with <paramref name="reserve"/>, first makes sure the bytes exist.</summary>
    public void Advance(int count, bool reserve)
    {
        if (reserve)
        {
            Grow(count);
        }

        WrittenCount += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Grow(Math.Max(sizeHint, 1));
        return _buffer.AsMemory(WrittenCount);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Grow(Math.Max(sizeHint, 1));
        return _buffer.AsSpan(WrittenCount);
    }

    /// <summary>Forgets what was written, keeping the array.</summary>
    public void Clear() => WrittenCount = 0;

    /// <summary>Forgets what was written and returns the array to the pool.</summary>
    public void Release()
    {
        WrittenCount = 0;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Grow(int needed)
    {
        if (_buffer is not null && _buffer.Length - WrittenCount >= needed)
        {
            return;
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(WrittenCount + needed, GssapiProtection.MaxPlaintextPerMessage + GssapiProtection.MaxWrapOverhead));
        if (_buffer is { } old)
        {
            old.AsSpan(0, WrittenCount).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(old);
        }

        _buffer = larger;
    }
}
