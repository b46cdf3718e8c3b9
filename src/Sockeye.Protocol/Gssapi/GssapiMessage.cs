using System.Buffers;
using System.Buffers.Binary;

namespace Sockeye.Protocol.Gssapi;

/// <summary>
/// One message of the GSSAPI subnegotiation of RFC 1961 (SOCKS5 method X'01'), from either side: a context token, the
/// protection level, an encapsulated request, reply or datagram, or an abort. The token is not interpreted here: it is
/// what the GSSAPI library produced or must consume.
/// </summary>
/// <remarks>
/// RFC 1961 §3.3, §4.3 and §5:
/// <code>
/// +------+------+------+.......................+
/// + ver  | mtyp | len  |       token           |
/// +------+------+------+.......................+
/// + 0x01 | 0x01 | 0x02 | up to 2^16 - 1 octets |
/// +------+------+------+.......................+
/// </code>
/// and §3.4, the abort, which has no LEN and no TOKEN:
/// <code>
/// +------+------+
/// + ver  | mtyp |
/// +------+------+
/// + 0x01 | 0xff |
/// +------+------+
/// </code>
/// </remarks>
public readonly struct GssapiMessage
{
    /// <summary>VER of the subnegotiation, X'01'.</summary>
    public const byte Version = 0x01;

    /// <summary>VER, MTYP and LEN: the bytes before the token.</summary>
    public const int HeaderLength = 4;

    /// <summary>VER and MTYP X'FF'.</summary>
    public const int AbortLength = 2;

    /// <summary>The most LEN can say: 65 535 bytes.</summary>
    public const int MaxTokenLength = ushort.MaxValue;

    private GssapiMessage(GssapiMessageType type, ReadOnlySequence<byte> token)
    {
        Type = type;
        Token = token;
    }

    /// <summary>MTYP.</summary>
    public GssapiMessageType Type { get; }

    /// <summary>TOKEN: a slice of the bytes parsed, valid as long as they are; empty for an abort.</summary>
    public ReadOnlySequence<byte> Token { get; }

    /// <summary>
    /// Parses a message whose token is at most <paramref name="maxTokenLength"/> bytes: a LEN beyond it is refused as
    /// soon as the header is there, so a peer cannot make the reader wait for (and its caller buffer) more.
    /// <see langword="false"/> with <see cref="GssapiParseError.None"/>: more bytes are needed and the reader has not
    /// moved.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTokenLength"/> is not 1 to <see cref="MaxTokenLength"/>.</exception>
    public static bool TryParse(ref SequenceReader<byte> reader, int maxTokenLength, out GssapiMessage message, out GssapiParseError error)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokenLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxTokenLength, MaxTokenLength);
        message = default;
        error = GssapiParseError.None;
        if (!reader.TryPeek(out byte version))
        {
            return false;
        }

        if (version != Version)
        {
            error = GssapiParseError.UnsupportedVersion;
            return false;
        }

        if (!reader.TryPeek(1, out byte type))
        {
            return false;
        }

        switch ((GssapiMessageType)type)
        {
            case GssapiMessageType.Abort:
                reader.Advance(AbortLength);
                message = new GssapiMessage(GssapiMessageType.Abort, ReadOnlySequence<byte>.Empty);
                return true;
            case GssapiMessageType.Context or GssapiMessageType.ProtectionNegotiation or GssapiMessageType.Encapsulation:
                break;
            default:
                error = GssapiParseError.UnknownMessageType;
                return false;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        if (!reader.TryCopyTo(header))
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        if (length == 0)
        {
            error = GssapiParseError.EmptyToken;
            return false;
        }

        if (length > maxTokenLength)
        {
            error = GssapiParseError.TokenTooLong;
            return false;
        }

        if (reader.Remaining < HeaderLength + length)
        {
            return false;
        }

        reader.Advance(HeaderLength);
        ReadOnlySequence<byte> token = reader.UnreadSequence.Slice(0, length);
        reader.Advance(length);
        message = new GssapiMessage((GssapiMessageType)type, token);
        return true;
    }

    /// <summary>
    /// Writes the header of a message of <paramref name="type"/> whose token of <paramref name="tokenLength"/> bytes
    /// follows it (for a caller that has the token elsewhere, e.g. wrapped in place); returns <see cref="HeaderLength"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is <see cref="GssapiMessageType.Abort"/> or not a message type.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenLength"/> is not 1 to <see cref="MaxTokenLength"/>.</exception>
    public static int WriteHeader(GssapiMessageType type, int tokenLength, Span<byte> destination)
    {
        if (type is not (GssapiMessageType.Context or GssapiMessageType.ProtectionNegotiation or GssapiMessageType.Encapsulation))
        {
            throw new ArgumentException($"MTYP {(byte)type:X2} does not carry a token; write an abort with WriteAbort.", nameof(type));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(tokenLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tokenLength, MaxTokenLength);
        ThrowHelpers.ThrowIfTooShort(destination, HeaderLength);
        destination[0] = Version;
        destination[1] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)tokenLength);
        return HeaderLength;
    }

    /// <summary>Writes a message of <paramref name="type"/> carrying <paramref name="token"/>; returns its length.</summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is <see cref="GssapiMessageType.Abort"/> or not a message type.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="token"/> is empty or longer than <see cref="MaxTokenLength"/>.</exception>
    public static int Write(GssapiMessageType type, ReadOnlySpan<byte> token, Span<byte> destination)
    {
        if (token.IsEmpty || token.Length > MaxTokenLength)
        {
            throw new ArgumentOutOfRangeException(nameof(token), token.Length, $"A token is 1 to {MaxTokenLength} bytes.");
        }

        ThrowHelpers.ThrowIfTooShort(destination, HeaderLength + token.Length);
        WriteHeader(type, token.Length, destination);
        token.CopyTo(destination[HeaderLength..]);
        return HeaderLength + token.Length;
    }

    /// <summary>Writes the abort, X'01' X'FF'; returns <see cref="AbortLength"/>.</summary>
    public static int WriteAbort(Span<byte> destination)
    {
        ThrowHelpers.ThrowIfTooShort(destination, AbortLength);
        destination[0] = Version;
        destination[1] = (byte)GssapiMessageType.Abort;
        return AbortLength;
    }
}
