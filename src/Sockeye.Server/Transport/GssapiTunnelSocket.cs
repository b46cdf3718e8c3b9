using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Sockeye.Protocol;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Server.Transport;

/// <summary>
/// The client's connection after GSSAPI agreed on integrity or confidentiality (RFC 1961 §5): every byte sent goes out
/// wrapped in MTYP X'03' messages, every message received is unwrapped, and the session, its commands and the relay see
/// plaintext, as over any other <see cref="TunnelSocket"/>.
/// </summary>
/// <remarks>
/// <para>
/// A message that is malformed, of another type, does not unwrap (tampered, replayed, another context's) or is not
/// encrypted at confidentiality ends the connection: the read throws a <see cref="SocketException"/>
/// (<see cref="SocketError.ConnectionAborted"/>) and <see cref="Problem"/> says why. So does the client's FIN in the
/// middle of a message, since its start was data the client meant to send.
/// </para>
/// <para>
/// One receive and one send may run at once (the relay's two directions); neither may run twice at once. A receive
/// holds a buffer only while a message is incomplete or its plaintext undelivered, and a send only while it is sent:
/// an idle tunnel holds neither.
/// </para>
/// </remarks>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The writer holds an array only during a send, which gives it back in its finally.")]
internal sealed class GssapiTunnelSocket : TunnelSocket
{
    // Room for a message of MaxPlaintextPerMessage (what Sockeye and most clients send); a longer one grows it.
    private const int InitialInputBytes = GssapiMessage.HeaderLength + GssapiMessageProtection.MaxPlaintextPerMessage + GssapiMessageProtection.MaxWrapOverhead;

    private const int LargestMessage = GssapiMessage.HeaderLength + ushort.MaxValue;

    private readonly TunnelSocket _inner;
    private readonly GssapiMessageProtection _protection;
    private readonly PooledBufferWriter _output = new(4 * GssapiMessageProtection.MaxPlaintextPerMessage + 4 * (GssapiMessage.HeaderLength + GssapiMessageProtection.MaxWrapOverhead));

    // Received and not yet handed out: raw bytes of messages at [_rawStart, _rawEnd), and the unwrapped plaintext of the
    // last message at [_plainStart, _plainEnd), before them in the same buffer.
    private byte[]? _input;
    private int _rawStart;
    private int _rawEnd;
    private int _plainStart;
    private int _plainEnd;
    private string? _problem;

    /// <summary>
    /// Protects <paramref name="inner"/> with <paramref name="protection"/>; <paramref name="alreadyReceived"/> is what
    /// the handshake read past the protection-level message, the start of the first wrapped one.
    /// </summary>
    public GssapiTunnelSocket(TunnelSocket inner, GssapiMessageProtection protection, ReadOnlySpan<byte> alreadyReceived)
    {
        _inner = inner;
        _protection = protection;
        if (!alreadyReceived.IsEmpty)
        {
            _input = ArrayPool<byte>.Shared.Rent(Math.Max(InitialInputBytes, alreadyReceived.Length));
            alreadyReceived.CopyTo(_input);
            _rawEnd = alreadyReceived.Length;
        }
    }

    /// <summary>Why the connection was ended, when a message from the client was refused or a send could not be wrapped.</summary>
    public string? Problem => Volatile.Read(ref _problem);

    /// <summary>The protection agreed on.</summary>
    public GssapiMessageProtection Protection => _protection;

    public override TunnelSocket Underlying => _inner.Underlying;

    public override EndPoint? RemoteEndPoint => _inner.RemoteEndPoint;

    public override EndPoint? LocalEndPoint => _inner.LocalEndPoint;

    public override int Available => (_plainEnd - _plainStart) + (_rawEnd - _rawStart) + _inner.Available;

    public override int Unacknowledged => _inner.Unacknowledged;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_plainEnd > _plainStart)
            {
                if (buffer.IsEmpty)
                {
                    return 0;
                }

                int count = Math.Min(buffer.Length, _plainEnd - _plainStart);
                _input.AsSpan(_plainStart, count).CopyTo(buffer.Span);
                _plainStart += count;
                ReleaseInputIfEmpty();
                return count;
            }

            if (TryUnwrapNext())
            {
                continue;
            }

            // A whole message is not there yet: wait without a buffer first (cancelable without losing data, and an
            // idle connection holds none), then read what arrived.
            ReleaseInputIfEmpty();
            await _inner.ReceiveAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            if (buffer.IsEmpty && _rawEnd == _rawStart)
            {
                return 0;
            }

            Memory<byte> room = RoomForMore();
            int read = await _inner.ReceiveAsync(room, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (_rawEnd > _rawStart)
                {
                    throw Refuse($"the client closed in the middle of a message ({_rawEnd - _rawStart} bytes of it received)");
                }

                ReleaseInputIfEmpty();
                return 0;
            }

            _rawEnd += read;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            // Every chunk's message into one buffer, sent with one call.
            for (int offset = 0; offset < data.Length; offset += GssapiMessageProtection.MaxPlaintextPerMessage)
            {
                ReadOnlyMemory<byte> chunk = data.Slice(offset, Math.Min(GssapiMessageProtection.MaxPlaintextPerMessage, data.Length - offset));
                if (!_protection.TryWrapMessage(chunk.Span, _output, out string? problem))
                {
                    throw Refuse(problem!);
                }
            }

            if (_output.WrittenCount > 0)
            {
                await _inner.SendAsync(_output.WrittenMemory, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _output.Release();
        }
    }

    public override void ShutdownSend() => _inner.ShutdownSend();

    public override void Close() => _inner.Close();

    public override void Abort() => _inner.Abort();

    /// <summary>Unwraps the next message if it is all there; throws when it is refused.</summary>
    private bool TryUnwrapNext()
    {
        if (_rawEnd == _rawStart)
        {
            return false;
        }

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_input!, _rawStart, _rawEnd - _rawStart));
        if (!GssapiMessage.TryParse(ref reader, ushort.MaxValue, out GssapiMessage message, out GssapiParseError error))
        {
            if (error != GssapiParseError.None)
            {
                throw Refuse($"a malformed message ({error})");
            }

            return false;
        }

        if (message.Type != GssapiMessageType.Encapsulation)
        {
            throw Refuse(message.Type == GssapiMessageType.Abort
                ? "the client aborted (X'01 FF')"
                : $"MTYP X'{(byte)message.Type:X2}' where encapsulated data (X'03') was expected");
        }

        int tokenStart = _rawStart + (int)(reader.Consumed - message.Token.Length);
        int tokenLength = (int)message.Token.Length;
        _rawStart += (int)reader.Consumed;
        if (!_protection.TryUnwrapInPlace(_input.AsSpan(tokenStart, tokenLength), out int offset, out int length, out string? problem))
        {
            throw Refuse(problem!);
        }

        _plainStart = tokenStart + offset;
        _plainEnd = _plainStart + length;
        return true;
    }

    /// <summary>Where the next read goes: after the raw bytes held, moved to the front, in a buffer that fits the message.</summary>
    private Memory<byte> RoomForMore()
    {
        int held = _rawEnd - _rawStart;
        int needed = InitialInputBytes;
        if (held >= GssapiMessage.HeaderLength)
        {
            needed = Math.Max(needed, GssapiMessage.HeaderLength + (_input![_rawStart + 2] << 8 | _input[_rawStart + 3]));
        }

        needed = Math.Min(Math.Max(needed, held + 1), LargestMessage);
        byte[] target = _input is { } current && current.Length >= needed ? current : ArrayPool<byte>.Shared.Rent(needed);
        if (held > 0 && (_rawStart > 0 || !ReferenceEquals(target, _input)))
        {
            _input.AsSpan(_rawStart, held).CopyTo(target);
        }

        if (_input is { } old && !ReferenceEquals(old, target))
        {
            ArrayPool<byte>.Shared.Return(old);
        }

        _input = target;
        _rawStart = 0;
        _rawEnd = held;
        _plainStart = _plainEnd = 0;
        return target.AsMemory(held);
    }

    private void ReleaseInputIfEmpty()
    {
        if (_input is { } input && _plainEnd == _plainStart && _rawEnd == _rawStart)
        {
            _input = null;
            _rawStart = _rawEnd = _plainStart = _plainEnd = 0;
            ArrayPool<byte>.Shared.Return(input);
        }
    }

    private SocketException Refuse(string problem)
    {
        Interlocked.CompareExchange(ref _problem, problem, null);
        return new SocketException((int)SocketError.ConnectionAborted);
    }
}
