using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Socks4;

/// <summary>A SOCKS4 or SOCKS4a request.</summary>
/// <remarks>
/// SOCKS4 (Ying-Da Lee, "SOCKS: A protocol for TCP proxy across firewalls"):
/// <code>
/// +----+----+----+----+----+----+----+----+----+----+....+----+
/// | VN | CD | DSTPORT |      DSTIP        | USERID       |NULL|
/// +----+----+----+----+----+----+----+----+----+----+....+----+
///    1    1      2              4           variable       1
/// </code>
/// SOCKS4a: a DSTIP of 0.0.0.x with x ≠ 0 says that the destination is a name, sent after USERID's NUL and ended by
/// a NUL of its own, for the server to resolve.
/// </remarks>
/// <param name="Command">CD.</param>
/// <param name="Destination">DSTIP, an IPv4 address, or SOCKS4a's name.</param>
/// <param name="Port">DSTPORT, in host order.</param>
/// <param name="UserId">USERID, decoded as UTF-8; empty when the client sent none.</param>
public readonly record struct Socks4Request(Socks4Command Command, Socks5Address Destination, ushort Port, string UserId)
{
    /// <summary>VN of a request.</summary>
    public const byte Version = 0x04;

    /// <summary>The longest USERID taken, in bytes: a user name's bound in RFC 1929.</summary>
    public const int MaxUserIdLength = 255;

    /// <summary>The longest SOCKS4a name taken, in bytes: SOCKS5's bound.</summary>
    public const int MaxDomainNameLength = Socks5Limits.MaxDomainNameLength;

    /// <summary>The longest request: 8 fixed bytes, USERID and a SOCKS4a name, each with its NUL.</summary>
    public const int MaxLength = 8 + MaxUserIdLength + 1 + MaxDomainNameLength + 1;

    private const int FixedLength = 8;

    /// <summary>Whether the destination is a name (SOCKS4a) rather than an IPv4 address (SOCKS4).</summary>
    public bool IsSocks4a => Destination.IsDomainName;

    /// <summary>The bytes <see cref="Write"/> produces.</summary>
    public int WireLength =>
        FixedLength + Encoding.UTF8.GetByteCount(UserId ?? "") + 1 + (IsSocks4a ? Encoding.UTF8.GetByteCount(Destination.DomainName!) + 1 : 0);

    /// <summary>
    /// Parses a request. <see langword="false"/> with <see cref="Socks4ParseError.None"/>: more bytes are needed.
    /// <see langword="false"/> with another error: these bytes can never become a request. Either way the reader has not
    /// moved. Allocates only for a non-empty USERID and a name.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out Socks4Request request, out Socks4ParseError error)
    {
        request = default;
        long start = reader.Consumed;
        bool parsed = TryRead(ref reader, out request, out error);
        if (!parsed)
        {
            reader.Rewind(reader.Consumed - start);
        }

        return parsed;
    }

    private static bool TryRead(ref SequenceReader<byte> reader, out Socks4Request request, out Socks4ParseError error)
    {
        request = default;
        error = Socks4ParseError.None;

        // Each field is judged as soon as it arrives, so a client is refused at its first wrong byte.
        if (!reader.TryRead(out byte version))
        {
            return false;
        }

        if (version != Version)
        {
            error = Socks4ParseError.UnsupportedVersion;
            return false;
        }

        if (!reader.TryRead(out byte command))
        {
            return false;
        }

        if (command is not ((byte)Socks4Command.Connect or (byte)Socks4Command.Bind))
        {
            error = Socks4ParseError.UnknownCommand;
            return false;
        }

        if (!reader.TryReadBigEndian(out short port) || !reader.TryReadBigEndian(out int address))
        {
            return false;
        }

        if (!TryReadTerminated(ref reader, MaxUserIdLength, Socks4ParseError.UserIdTooLong, out ReadOnlySpan<byte> userId, out error))
        {
            return false;
        }

        if (!Utf8.IsValid(userId))
        {
            error = Socks4ParseError.InvalidUserId;
            return false;
        }

        string user = userId.IsEmpty ? "" : Encoding.UTF8.GetString(userId);
        Socks5Address destination;
        if ((uint)address is > 0 and < 0x100)
        {
            if (!TryReadTerminated(ref reader, MaxDomainNameLength, Socks4ParseError.DomainNameTooLong, out ReadOnlySpan<byte> name, out error))
            {
                return false;
            }

            if (name.IsEmpty)
            {
                error = Socks4ParseError.EmptyDomainName;
                return false;
            }

            // The NUL ends the name, so the name has none; what remains to check is its encoding.
            if (!Socks5Address.TryDecodeDomainName(name, out destination, out _))
            {
                error = Socks4ParseError.InvalidDomainName;
                return false;
            }
        }
        else
        {
            destination = Socks5Address.FromIPv4((uint)address);
        }

        request = new Socks4Request((Socks4Command)command, destination, (ushort)port, user);
        return true;
    }

    /// <summary>
    /// Reads a NUL-terminated field of at most <paramref name="maxLength"/> bytes: <see langword="false"/> with no error
    /// while its NUL has not arrived, with <paramref name="tooLong"/> once more than that many bytes have.
    /// </summary>
    private static bool TryReadTerminated(ref SequenceReader<byte> reader, int maxLength, Socks4ParseError tooLong, out ReadOnlySpan<byte> field, out Socks4ParseError error)
    {
        error = Socks4ParseError.None;
        if (reader.TryReadTo(out field, 0, advancePastDelimiter: true))
        {
            if (field.Length > maxLength)
            {
                error = tooLong;
                return false;
            }

            return true;
        }

        if (reader.Remaining > maxLength)
        {
            error = tooLong;
        }

        return false;
    }

    /// <summary>Writes the request; returns the bytes written.</summary>
    /// <exception cref="ArgumentException">The destination is an IPv6 address, which SOCKS4 cannot carry, or USERID is longer than 255 bytes or holds a NUL.</exception>
    public int Write(Span<byte> destination)
    {
        string userId = UserId ?? "";
        if (Destination.Type == Socks5AddressType.IPv6)
        {
            throw new ArgumentException("SOCKS4 carries IPv4 addresses and (SOCKS4a) names, not IPv6 addresses.", nameof(destination));
        }

        if (Encoding.UTF8.GetByteCount(userId) > MaxUserIdLength || userId.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A SOCKS4 USERID is at most {MaxUserIdLength} bytes, without NUL.", nameof(destination));
        }

        destination[0] = Version;
        destination[1] = (byte)Command;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Port);

        // SOCKS4a's marker: 0.0.0.1, an address no destination has.
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], IsSocks4a ? 1u : Destination.IPv4Value);
        int length = FixedLength + Encoding.UTF8.GetBytes(userId, destination[FixedLength..]);
        destination[length++] = 0;
        if (IsSocks4a)
        {
            length += Encoding.UTF8.GetBytes(Destination.DomainName!, destination[length..]);
            destination[length++] = 0;
        }

        return length;
    }
}
