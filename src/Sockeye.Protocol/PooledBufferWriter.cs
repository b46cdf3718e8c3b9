using System.Buffers;

namespace Sockeye.Protocol;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> on one array rented from the shared pool, for writers that take only that
/// (<c>NegotiateAuthentication.Wrap</c>): grown by renting a larger array when a write needs it, and given back by
/// <see cref="Release"/>, cleared, so that a connection between messages holds none and no plaintext lingers in the pool.
/// </summary>
/// <remarks>Not thread-safe: one writer per sender.</remarks>
public sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private readonly int _initialCapacity;
    private byte[]? _buffer;

    // How far the array may have been written (what was advanced, and every span asked for by its size): all that needs
    // clearing before it goes back, since the array is often far larger than what a message used.
    private int _highWater;

    /// <summary>A writer that rents <paramref name="initialCapacity"/> bytes at least when first written to.</summary>
    public PooledBufferWriter(int initialCapacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialCapacity);
        _initialCapacity = initialCapacity;
    }

    /// <summary>How many bytes were written.</summary>
    public int WrittenCount { get; private set; }

    /// <summary>The bytes written.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, WrittenCount);

    /// <summary>The bytes written, writable: a header is patched there once the length behind it is known.</summary>
    public Span<byte> WrittenSpan => _buffer.AsSpan(0, WrittenCount);

    /// <summary>The bytes written from <paramref name="start"/> on.</summary>
    public Span<byte> WrittenSpanFrom(int start) => _buffer.AsSpan(start, WrittenCount - start);

    /// <inheritdoc/>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, (_buffer?.Length ?? 0) - WrittenCount);
        WrittenCount += count;
        _highWater = Math.Max(_highWater, WrittenCount);
    }

    /// <inheritdoc/>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(WrittenCount);
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(WrittenCount);
    }

    /// <summary>Forgets what was written from <paramref name="length"/> on (a message that failed half-way).</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, WrittenCount);
        WrittenCount = length;
    }

    /// <summary>Forgets what was written, keeping the array.</summary>
    public void Clear() => WrittenCount = 0;

    /// <summary>Forgets what was written and returns the array to the pool, cleared. The writer can be written to again.</summary>
    public void Release()
    {
        byte[]? buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            buffer.AsSpan(0, _highWater).Clear();
            ArrayPool<byte>.Shared.Return(buffer);
        }

        WrittenCount = 0;
        _highWater = 0;
    }

    /// <summary>Returns the array, as <see cref="Release"/>.</summary>
    public void Dispose() => Release();

    private void Reserve(int sizeHint)
    {
        int needed = WrittenCount + Math.Max(sizeHint, 1);
        _highWater = Math.Max(_highWater, needed);
        if (_buffer is not null && needed <= _buffer.Length)
        {
            return;
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(_initialCapacity, (_buffer?.Length ?? 0) * 2)));
        if (_buffer is { } old)
        {
            old.AsSpan(0, WrittenCount).CopyTo(larger);
            old.AsSpan(0, Math.Min(_highWater, old.Length)).Clear();
            ArrayPool<byte>.Shared.Return(old);
        }

        _buffer = larger;
    }
}
