using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.UsernamePassword;

/// <summary>The server's verdict on an RFC 1929 request. STATUS X'00' is success; anything else is failure.</summary>
/// <remarks>
/// RFC 1929 §2:
/// <code>
/// +----+--------+
/// |VER | STATUS |
/// +----+--------+
/// | 1  |   1    |
/// +----+--------+
/// </code>
/// </remarks>
/// <param name="Status">STATUS.</param>
public readonly record struct UsernamePasswordReply(byte Status)
{
    /// <summary>The length of this message on the wire.</summary>
    public const int Length = 2;

    /// <summary>STATUS X'00'.</summary>
    public static UsernamePasswordReply Success => new(0x00);

    /// <summary>STATUS X'01', the failure Sockeye sends.</summary>
    public static UsernamePasswordReply Failure => new(0x01);

    /// <summary>Whether the server accepted the credentials.</summary>
    public bool IsSuccess => Status == 0x00;

    /// <summary>
    /// Parses a reply. <see langword="false"/> with <see cref="Socks5ParseError.None"/>: more bytes are needed and the
    /// reader has not moved.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out UsernamePasswordReply reply, out Socks5ParseError error)
    {
        reply = default;
        error = Socks5ParseError.None;
        if (!reader.TryPeek(out byte version))
        {
            return false;
        }

        if (version != UsernamePasswordRequest.Version)
        {
            error = Socks5ParseError.UnsupportedVersion;
            return false;
        }

        if (reader.Remaining < Length)
        {
            return false;
        }

        reader.Advance(1);
        reader.TryRead(out byte status);
        reply = new UsernamePasswordReply(status);
        return true;
    }

    /// <summary>Writes the two bytes; returns <see cref="Length"/>.</summary>
    public int Write(Span<byte> destination)
    {
        ThrowHelpers.ThrowIfTooShort(destination, Length);
        destination[0] = UsernamePasswordRequest.Version;
        destination[1] = Status;
        return Length;
    }
}
