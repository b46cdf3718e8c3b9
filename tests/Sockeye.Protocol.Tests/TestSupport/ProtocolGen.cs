using System.Net;
using System.Text;
using CsCheck;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Tests.TestSupport;

/// <summary>CsCheck generators the property tests of several message types share: addresses, ports, hostile bytes.</summary>
internal static class ProtocolGen
{
    /// <summary>Ports, with the ends of the range more often than chance would give them.</summary>
    public static readonly Gen<ushort> Port = Gen.Frequency((1, Gen.OneOf<ushort>(0, 1, 255, 256, 65535)), (4, Gen.UShort));

    public static readonly Gen<IPAddress> IPv4 = Gen.Frequency(
        (1, Gen.OneOf<byte[]>([0, 0, 0, 0], [255, 255, 255, 255], [127, 0, 0, 1])),
        (4, Gen.Byte.Array[4]))
        .Select(static bytes => new IPAddress(bytes));

    /// <summary>
    /// IPv6 addresses: random ones, ones with runs of zero groups (where text forms write "::"), and IPv4-mapped ones
    /// (where text forms end in a dotted quad).
    /// </summary>
    public static readonly Gen<IPAddress> IPv6 = Gen.Frequency(
        (2, Gen.Byte.Array[16]),
        (2, Gen.Frequency((1, Gen.Const((ushort)0)), (1, Gen.UShort)).Array[8].Select(static groups => groups.SelectMany(static g => new[] { (byte)(g >> 8), (byte)g }).ToArray())),
        (1, Gen.Byte.Array[4].Select(static v4 => (byte[])[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, .. v4])),
        (1, Gen.OneOf<byte[]>(new byte[16], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])))
        .Select(static bytes => new IPAddress(bytes));

    /// <summary>
    /// Domain names as SOCKS5 carries them: 1 to 255 bytes of UTF-8 without NUL, in characters of one to four bytes
    /// (so that a name can end anywhere near the limit), and ASCII names of the edge lengths.
    /// </summary>
    public static readonly Gen<string> DomainName = Gen.Frequency(
        (1, Gen.OneOf(1, 2, 63, 64, 127, 128, 253, 254, 255).Select(static length => new string('a', length))),
        (3, Gen.Frequency(
                (8, Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789.-"].Select(static c => c.ToString())),
                (1, Gen.Char['\u0001', '\u007f'].Select(static c => c.ToString())),
                (1, Gen.OneOf("é", "ß", "ü", "\u00ff")),
                (1, Gen.OneOf("中", "€", "\uffff", "\ufffd")),
                (1, Gen.OneOf("😀", "𝔸", "\U0010FFFF")))
            .Array[1, 255]
            .Select(static characters => LongestPrefixWithin(characters, Socks5Limits.MaxDomainNameLength))));

    /// <summary>SOCKS5 addresses of every type, a domain name as often as an IP address.</summary>
    public static readonly Gen<Socks5Address> Address = Gen.Frequency(
        (1, IPv4.Select(static a => Socks5Address.FromIPAddress(a))),
        (1, IPv6.Select(static a => Socks5Address.FromIPAddress(a))),
        (2, DomainName.Select(static n => Socks5Address.FromDomainName(n))));

    /// <summary>
    /// ATYP X'03', a length byte and a name, the way a careless or hostile peer sends them: a length of 0 or one that
    /// disagrees with the name, and names with a NUL, a stray continuation byte, an encoded surrogate or a cut-short
    /// character. Random bytes reach these branches of the address parser too rarely on their own.
    /// </summary>
    public static readonly Gen<byte[]> OddDomainAddress = Gen.Select(
        DomainName.Select(static n => Encoding.UTF8.GetBytes(n)),
        Gen.Frequency((2, Gen.Const(Array.Empty<byte>())), (1, Gen.OneOf<byte[]>([0x00], [0x80], [0xC0], [0xFF], [0xED, 0xA0, 0x80], [0xE4, 0xB8]))),
        Gen.Int,
        Gen.Frequency((2, Gen.Const(-1)), (1, Gen.OneOf(0, 1, 254, 255)), (1, Gen.Int[0, 255])),
        static (name, flaw, position, declared) =>
        {
            int at = (int)((uint)position % (uint)(name.Length + 1));
            byte[] flawed = [.. name[..at], .. flaw, .. name[at..]];
            int length = declared < 0 ? Math.Min(flawed.Length, Socks5Limits.MaxDomainNameLength) : declared;
            return (byte[])[(byte)Socks5AddressType.DomainName, (byte)length, .. flawed];
        });

    /// <summary>
    /// Bytes around valid messages: entirely random; a valid message cut short and followed by random bytes; a valid
    /// message with one byte replaced; and a valid message with random bytes after it. Random bytes alone rarely get
    /// past a version byte, so three parts in four start as a message does.
    /// </summary>
    public static Gen<byte[]> Hostile(Gen<byte[]> valid, int maxNoise = 24) => Gen.Frequency(
        (1, Gen.Byte.Array[0, maxNoise]),
        (1, Gen.Select(valid, Gen.Int, Gen.Byte.Array[0, maxNoise], static (message, cut, noise) => (byte[])[.. message[..(int)((uint)cut % (uint)(message.Length + 1))], .. noise])),
        (1, Gen.Select(valid, Gen.Int, Gen.Byte, static (message, position, value) => Damaged(message, position, value))),
        (1, Gen.Select(valid, Gen.Byte.Array[0, maxNoise], static (message, noise) => (byte[])[.. message, .. noise])));

    private static byte[] Damaged(byte[] message, int position, byte value)
    {
        byte[] copy = [.. message];
        if (copy.Length > 0)
        {
            copy[(int)((uint)position % (uint)copy.Length)] = value;
        }

        return copy;
    }

    private static string LongestPrefixWithin(string[] characters, int maxBytes)
    {
        var name = new StringBuilder();
        int bytes = 0;
        foreach (string character in characters)
        {
            bytes += Encoding.UTF8.GetByteCount(character);
            if (bytes > maxBytes)
            {
                break;
            }

            name.Append(character);
        }

        return name.ToString();
    }
}
