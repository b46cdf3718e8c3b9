using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Protocol.Socks4;

/// <summary>The server's reply to a SOCKS4 request (BIND has two).</summary>
/// <remarks>
/// <code>
/// +----+----+----+----+----+----+----+----+
/// | VN | CD | DSTPORT |      DSTIP        |
/// +----+----+----+----+----+----+----+----+
///    1    1      2              4
/// </code>
/// VN is 0. For CONNECT the address fields carry nothing the client uses; for BIND they are where the server listens
/// (first reply), an address of 0.0.0.0 meaning the server's own address.
/// </remarks>
/// <param name="Code">CD.</param>
/// <param name="Address">DSTIP: an IPv4 address (<see cref="IPAddress.Any"/> when there is nothing to report).</param>
/// <param name="Port">DSTPORT, in host order.</param>
public readonly record struct Socks4Reply(Socks4ReplyCode Code, IPAddress Address, ushort Port)
{
    /// <summary>Every reply's length.</summary>
    public const int Length = 8;

    /// <summary>A failure reply naming no address.</summary>
    public static Socks4Reply Failure(Socks4ReplyCode code) => new(code, IPAddress.Any, 0);

    /// <summary>
    /// Parses a reply. <see langword="false"/> with <see cref="Socks4ParseError.None"/>: more bytes are needed; with
    /// <see cref="Socks4ParseError.UnsupportedVersion"/>: VN is not 0. The reader moves only past a whole reply. Any CD
    /// is accepted: one that is not 90 is a failure the caller reports.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out Socks4Reply reply, out Socks4ParseError error)
    {
        reply = default;
        error = Socks4ParseError.None;
        Span<byte> bytes = stackalloc byte[Length];
        if (reader.TryPeek(out byte version) && version != 0)
        {
            error = Socks4ParseError.UnsupportedVersion;
            return false;
        }

        if (!reader.TryCopyTo(bytes))
        {
            return false;
        }

        reader.Advance(Length);
        reply = new Socks4Reply((Socks4ReplyCode)bytes[1], new IPAddress(bytes.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]));
        return true;
    }

    /// <summary>Writes the reply; returns the bytes written (always <see cref="Length"/>).</summary>
    /// <exception cref="ArgumentException"><see cref="Address"/> is not IPv4 (an IPv4-mapped IPv6 address is taken as its IPv4 address).</exception>
    public int Write(Span<byte> destination)
    {
        IPAddress address = Address.IsIPv4MappedToIPv6 ? Address.MapToIPv4() : Address;
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("A SOCKS4 reply carries an IPv4 address only.", nameof(destination));
        }

        destination = destination[..Length];
        destination[0] = 0;
        destination[1] = (byte)Code;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Port);
        address.TryWriteBytes(destination[4..], out _);
        return Length;
    }
}
