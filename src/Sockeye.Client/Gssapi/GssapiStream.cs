using System.Buffers;
using System.Runtime.CompilerServices;
using Sockeye.Protocol;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Gssapi;

/// <summary>
/// A connection protected by GSSAPI per RFC 1961 §5: every write goes out as [01 03 LEN gss_wrap(plaintext)] messages
/// (at most <see cref="MaxPlaintextPerMessage"/> bytes of plaintext each, so a token stays well within LEN's 65 535),
/// and reads return the plaintext of the messages received, reassembled whatever the reads' or messages' sizes.
/// </summary>
/// <remarks>
/// <para>
/// The end of the connection between two messages is the end of the stream (a read returns 0). Anything else that is
/// not a whole, valid message is an <see cref="IOException"/>: the end in the middle of one, a message of another type
/// (the proxy's abort X'01 FF' included), a token that does not unwrap, an unencrypted one at confidentiality.
/// </para>
/// <para>
/// One read and one write may run at the same time (as on a <see cref="System.Net.Sockets.NetworkStream"/>): each side
/// has its own pooled buffer, and the context is used by one of them at a time. The stream reads ahead: it owns the
/// connection under it, and the context; disposing the stream disposes both.
/// </para>
/// </remarks>
internal sealed class GssapiStream : Stream
{
    /// <summary>The most plaintext one message carries: a wrapped token of it is about 16 KiB plus some 60 bytes.</summary>
    public const int MaxPlaintextPerMessage = 16 * 1024;

    // Room for the longest message there can be, so that one always fits from where it starts.
    private const int MaxMessageLength = GssapiMessage.HeaderLength + GssapiMessage.MaxTokenLength;

    private const int Idle = 0;
    private const int Busy = 1;
    private const int Released = 2;

    private readonly Stream _inner; // owns
    private byte[]? _raw;           // owns (read side): received bytes, and the current message's plaintext unwrapped in place
    private int _rawStart;          // the first byte not yet parsed
    private int _rawEnd;            // the end of what was received
    private int _plainStart;        // the current message's unread plaintext: _raw[_plainStart.._plainEnd]
    private int _plainEnd;
    private PooledBufferWriter? _written; // owns (write side): the message being sent
    private int _readState;
    private int _writeState;
    private int _disposed;

    /// <summary>Protects <paramref name="inner"/> with <paramref name="protection"/>; takes ownership of both.</summary>
    public GssapiStream(Stream inner, GssapiMessageProtection protection)
    {
        _inner = inner;
        Protection = protection;
        _raw = ArrayPool<byte>.Shared.Rent(MaxMessageLength);
        _written = new PooledBufferWriter(GssapiMessage.HeaderLength + MaxPlaintextPerMessage + 1024);
    }

    /// <summary>The context and level, which a UDP association shares for its datagrams.</summary>
    public GssapiMessageProtection Protection { get; }

    public override bool CanRead => Volatile.Read(ref _disposed) == 0;

    public override bool CanWrite => Volatile.Read(ref _disposed) == 0;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        ValueTask<int> read = ReadCoreAsync<SyncIO>(buffer.AsMemory(offset, count), CancellationToken.None);
        return read.IsCompleted ? read.Result : read.AsTask().GetAwaiter().GetResult();
    }

    public override int Read(Span<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int read = Read(rented, 0, buffer.Length);
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadCoreAsync<AsyncIO>(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReadCoreAsync<AsyncIO>(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        ValueTask write = WriteCoreAsync<SyncIO>(buffer.AsMemory(offset, count), CancellationToken.None);
        if (write.IsCompleted)
        {
            write.GetAwaiter().GetResult();
        }
        else
        {
            write.AsTask().GetAwaiter().GetResult();
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            buffer.CopyTo(rented);
            Write(rented, 0, buffer.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteCoreAsync<AsyncIO>(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        WriteCoreAsync<AsyncIO>(buffer, cancellationToken);

    public override void Flush() => _inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _inner.Dispose();
            Protection.Dispose();

            // A read or write under way still uses its buffer: it gives it back when it ends (see End).
            ReleaseReadBuffer();
            ReleaseWriteBuffer();
        }

        base.Dispose(disposing);
    }

    // Pooled builders: a read or write that waits for the network allocates no state machine box per call.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadCoreAsync<TIO>(Memory<byte> destination, CancellationToken cancellationToken)
        where TIO : IStreamIO
    {
        byte[] raw = Begin(ref _readState, _raw, "read");
        try
        {
            if (_plainStart == _plainEnd && !await NextMessageAsync<TIO>(raw, cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }

            // A zero-byte read waits for data, as NetworkStream's does, and consumes none.
            int count = Math.Min(destination.Length, _plainEnd - _plainStart);
            raw.AsSpan(_plainStart, count).CopyTo(destination.Span);
            _plainStart += count;
            return count;
        }
        finally
        {
            End(ref _readState, ReleaseReadBuffer);
        }
    }

    /// <summary>
    /// Receives and unwraps the next message: <see langword="false"/> at the end of the connection between messages.
    /// Every pass of the loop either takes a whole message or reads at least one byte of it.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> NextMessageAsync<TIO>(byte[] raw, CancellationToken cancellationToken)
        where TIO : IStreamIO
    {
        while (true)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(raw, _rawStart, _rawEnd - _rawStart));
            if (GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out GssapiMessage message, out GssapiParseError error))
            {
                int tokenStart = _rawStart + GssapiMessage.HeaderLength;
                _rawStart += (int)reader.Consumed;
                Unwrap(raw, message, tokenStart);
                return true;
            }

            if (error != GssapiParseError.None)
            {
                throw new IOException($"The proxy sent a malformed GSSAPI message ({error}) where a wrapped one (RFC 1961 §5) was expected.");
            }

            // More is needed. The plaintext before _rawStart has been read, so the message can move to the front.
            if (_rawStart == _rawEnd)
            {
                _rawStart = _rawEnd = 0;
            }
            else if (raw.Length - _rawStart < MaxMessageLength)
            {
                raw.AsSpan(_rawStart, _rawEnd - _rawStart).CopyTo(raw);
                _rawEnd -= _rawStart;
                _rawStart = 0;
            }

            int read = await TIO.ReadAsync(_inner, raw.AsMemory(_rawEnd), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (_rawStart == _rawEnd)
                {
                    return false;
                }

                throw new IOException(
                    $"The connection ended in the middle of a GSSAPI message ({_rawEnd - _rawStart} bytes of it received).");
            }

            _rawEnd += read;
        }
    }

    private void Unwrap(byte[] raw, GssapiMessage message, int tokenStart)
    {
        switch (message.Type)
        {
            case GssapiMessageType.Encapsulation:
                break;
            case GssapiMessageType.Abort:
                throw new IOException("The proxy aborted the GSSAPI security context (X'01 FF').");
            default:
                throw new IOException(
                    $"The proxy sent a GSSAPI message of type X'{(byte)message.Type:X2}' where only wrapped data (X'03', RFC 1961 §5) may come.");
        }

        if (!Protection.TryUnwrapInPlace(raw.AsSpan(tokenStart, (int)message.Token.Length), out int offset, out int length, out string? failure))
        {
            throw new IOException($"A GSSAPI message from the proxy was refused: {failure}.");
        }

        if (length == 0)
        {
            throw new IOException("The proxy sent a GSSAPI message with no data (RFC 1961 §5 messages carry at least a byte).");
        }

        _plainStart = tokenStart + offset;
        _plainEnd = _plainStart + length;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteCoreAsync<TIO>(ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
        where TIO : IStreamIO
    {
        PooledBufferWriter written = Begin(ref _writeState, _written, "write");
        try
        {
            while (!source.IsEmpty)
            {
                ReadOnlyMemory<byte> chunk = source[..Math.Min(source.Length, MaxPlaintextPerMessage)];
                written.Clear();
                if (!Protection.TryWrapMessage(chunk.Span, written, out string? problem))
                {
                    throw new IOException($"A GSSAPI message could not be made: {problem}.");
                }

                await TIO.WriteAsync(_inner, written.WrittenMemory, cancellationToken).ConfigureAwait(false);
                source = source[chunk.Length..];
            }
        }
        finally
        {
            End(ref _writeState, ReleaseWriteBuffer);
        }
    }

    private T Begin<T>(ref int state, T? buffer, string operation)
        where T : class
    {
        int previous = Interlocked.CompareExchange(ref state, Busy, Idle);
        if (previous == Busy)
        {
            throw new NotSupportedException($"Another {operation} is under way on this stream: one at a time.");
        }

        ObjectDisposedException.ThrowIf(previous == Released, this);
        if (Volatile.Read(ref _disposed) != 0 || buffer is null)
        {
            // Disposed between the check and the claim: give the buffer back, as End would.
            Volatile.Write(ref state, Idle);
            ReleaseReadBuffer();
            ReleaseWriteBuffer();
            throw new ObjectDisposedException(GetType().Name);
        }

        return buffer;
    }

    private void End(ref int state, Action release)
    {
        Volatile.Write(ref state, Idle);
        if (Volatile.Read(ref _disposed) != 0)
        {
            release();
        }
    }

    private void ReleaseReadBuffer()
    {
        if (Interlocked.CompareExchange(ref _readState, Released, Idle) == Idle && Interlocked.Exchange(ref _raw, null) is { } raw)
        {
            ArrayPool<byte>.Shared.Return(raw, clearArray: true);
        }
    }

    private void ReleaseWriteBuffer()
    {
        if (Interlocked.CompareExchange(ref _writeState, Released, Idle) == Idle)
        {
            Interlocked.Exchange(ref _written, null)?.Dispose();
        }
    }

    /// <summary>The inner stream's I/O, synchronous or not, so one body serves Read and ReadAsync (SslStream's TIOAdapter habit).</summary>
    private interface IStreamIO
    {
        static abstract ValueTask<int> ReadAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken);

        static abstract ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken);
    }

    private readonly struct AsyncIO : IStreamIO
    {
        public static ValueTask<int> ReadAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken) =>
            stream.ReadAsync(buffer, cancellationToken);

        public static ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken) =>
            stream.WriteAsync(buffer, cancellationToken);
    }

    private readonly struct SyncIO : IStreamIO
    {
        public static ValueTask<int> ReadAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken) =>
            new(stream.Read(buffer.Span));

        public static ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        {
            stream.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }
}
