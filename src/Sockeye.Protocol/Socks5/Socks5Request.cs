using System.Buffers;

namespace Sockeye.Protocol.Socks5;

/// <summary>A client's request: the command and the destination it applies to.</summary>
/// <remarks>
/// RFC 1928 §4:
/// <code>
/// +----+-----+-------+------+----------+----------+
/// |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
/// +----+-----+-------+------+----------+----------+
/// | 1  |  1  | X'00' |  1   | Variable |    2     |
/// +----+-----+-------+------+----------+----------+
/// </code>
/// </remarks>
/// <param name="Command">CMD.</param>
/// <param name="Destination">DST.ADDR with its ATYP.</param>
/// <param name="Port">DST.PORT, in host order.</param>
public readonly record struct Socks5Request(Socks5Command Command, Socks5Address Destination, ushort Port)
{
    /// <summary>The longest request: 262 bytes.</summary>
    public const int MaxLength = Socks5Limits.MaxRequestLength;

    /// <summary>The bytes <see cref="Write"/> produces.</summary>
    public int WireLength => AddressedMessage.GetLength(Destination);

    /// <summary>
    /// Parses a request. <see langword="false"/> with <see cref="Socks5ParseError.None"/>: more bytes are needed and the
    /// reader has not moved. <see langword="false"/> with another error: these bytes can never become a request.
    /// Allocates only for a domain name.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out Socks5Request request, out Socks5ParseError error)
    {
        request = default;
        long start = reader.Consumed;
        if (!AddressedMessage.TryReadHead(ref reader, out byte command, out error))
        {
            reader.Rewind(reader.Consumed - start);
            return false;
        }

        if (command is < (byte)Socks5Command.Connect or > (byte)Socks5Command.UdpAssociate)
        {
            reader.Rewind(reader.Consumed - start);
            error = Socks5ParseError.UnknownCommand;
            return false;
        }

        if (!AddressedMessage.TryReadTail(ref reader, out Socks5Address destination, out ushort port, out error))
        {
            reader.Rewind(reader.Consumed - start);
            return false;
        }

        request = new Socks5Request((Socks5Command)command, destination, port);
        return true;
    }

    /// <summary>Writes the request; returns the bytes written.</summary>
    public int Write(Span<byte> destination) => AddressedMessage.Write(destination, (byte)Command, Destination, Port);

    /// <summary>The request as text, for logs: "Connect example.com:443".</summary>
    public override string ToString() => $"{Command} {Destination.ToString(Port)}";
}
