using System.Buffers;

namespace Sockeye.Protocol.Socks5;

/// <summary>The server's reply to a request.</summary>
/// <remarks>
/// RFC 1928 §6:
/// <code>
/// +----+-----+-------+------+----------+----------+
/// |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
/// +----+-----+-------+------+----------+----------+
/// | 1  |  1  | X'00' |  1   | Variable |    2     |
/// +----+-----+-------+------+----------+----------+
/// </code>
/// </remarks>
/// <param name="ReplyCode">REP.</param>
/// <param name="Bound">BND.ADDR with its ATYP.</param>
/// <param name="Port">BND.PORT, in host order.</param>
public readonly record struct Socks5Reply(Socks5ReplyCode ReplyCode, Socks5Address Bound, ushort Port)
{
    /// <summary>The longest reply: 262 bytes.</summary>
    public const int MaxLength = Socks5Limits.MaxReplyLength;

    /// <summary>A failure reply with BND 0.0.0.0:0, as a server sends when it has no address to report.</summary>
    public static Socks5Reply Failure(Socks5ReplyCode code) => new(code, Socks5Address.AnyIPv4, 0);

    /// <summary>The bytes <see cref="Write"/> produces.</summary>
    public int WireLength => AddressedMessage.GetLength(Bound);

    /// <summary>
    /// Parses a reply. <see langword="false"/> with <see cref="Socks5ParseError.None"/>: more bytes are needed and the
    /// reader has not moved. Any REP byte is accepted: an unknown one is a failure the caller reports.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out Socks5Reply reply, out Socks5ParseError error)
    {
        reply = default;
        long start = reader.Consumed;
        if (!AddressedMessage.TryReadHead(ref reader, out byte code, out error) ||
            !AddressedMessage.TryReadTail(ref reader, out Socks5Address bound, out ushort port, out error))
        {
            reader.Rewind(reader.Consumed - start);
            return false;
        }

        reply = new Socks5Reply((Socks5ReplyCode)code, bound, port);
        return true;
    }

    /// <summary>Writes the reply; returns the bytes written.</summary>
    public int Write(Span<byte> destination) => AddressedMessage.Write(destination, (byte)ReplyCode, Bound, Port);
}
