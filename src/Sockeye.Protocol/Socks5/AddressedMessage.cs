using System.Buffers;
using System.Buffers.Binary;

namespace Sockeye.Protocol.Socks5;

/// <summary>
/// The shape a request and a reply share: VER, one code byte (CMD or REP), RSV, then ATYP, ADDR and PORT.
/// Only the meaning of the code byte differs, so the two messages share this reader and writer.
/// </summary>
internal static class AddressedMessage
{
    /// <summary>Reads VER and the code byte; the caller validates the code.</summary>
    public static bool TryReadHead(ref SequenceReader<byte> reader, out byte code, out Socks5ParseError error)
    {
        code = 0;
        error = Socks5ParseError.None;
        if (!reader.TryRead(out byte version))
        {
            return false;
        }

        if (version != Socks5Limits.Version)
        {
            error = Socks5ParseError.UnsupportedVersion;
            return false;
        }

        return reader.TryRead(out code);
    }

    /// <summary>Reads RSV, ATYP, ADDR and PORT.</summary>
    public static bool TryReadTail(ref SequenceReader<byte> reader, out Socks5Address address, out ushort port, out Socks5ParseError error)
    {
        port = 0;
        address = default;
        error = Socks5ParseError.None;

        // RSV is X'00' in RFC 1928, but we neither need nor check it: refusing a client over a reserved
        // byte would help nobody, and nothing else in the message depends on it.
        if (!reader.TryRead(out _))
        {
            return false;
        }

        if (!Socks5Address.TryRead(ref reader, out address, out error))
        {
            return false;
        }

        if (!reader.TryReadBigEndian(out short rawPort))
        {
            return false;
        }

        port = (ushort)rawPort;
        return true;
    }

    public static int GetLength(in Socks5Address address) => 3 + address.WireLength + 2;

    public static int Write(Span<byte> destination, byte code, in Socks5Address address, ushort port)
    {
        ThrowHelpers.ThrowIfTooShort(destination, GetLength(address));
        destination[0] = Socks5Limits.Version;
        destination[1] = code;
        destination[2] = 0;
        int offset = 3 + address.Write(destination[3..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], port);
        return offset + 2;
    }
}
