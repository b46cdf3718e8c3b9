using System.Buffers;
using System.Diagnostics;
using System.Net;

namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>The text form (v1): <c>PROXY TCP4|TCP6 source destination sourcePort destinationPort\r\n</c> or <c>PROXY UNKNOWN…\r\n</c>.</summary>
internal static class ProxyV1Codec
{
    private const byte Space = (byte)' ';
    private const byte CR = (byte)'\r';
    private const byte LF = (byte)'\n';

    private static ReadOnlySpan<byte> Prefix => "PROXY "u8;

    private static ReadOnlySpan<byte> Tcp4 => "TCP4 "u8;

    private static ReadOnlySpan<byte> Tcp6 => "TCP6 "u8;

    private static ReadOnlySpan<byte> Unknown => "UNKNOWN"u8;

    /// <summary>Looks at up to 107 bytes without consuming them, and consumes the line only on success.</summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out ProxyHeader header, out ProxyParseError error)
    {
        header = default;
        error = ProxyParseError.None;
        Span<byte> buffer = stackalloc byte[ProxyHeader.MaxV1Length];
        int available = (int)Math.Min(reader.Remaining, ProxyHeader.MaxV1Length);
        Span<byte> seen = buffer[..available];
        reader.TryCopyTo(seen);

        int prefixBytes = Math.Min(available, Prefix.Length);
        if (!seen[..prefixBytes].SequenceEqual(Prefix[..prefixBytes]))
        {
            error = ProxyParseError.NotProxyProtocol;
            return false;
        }

        ReadOnlySpan<byte> afterPrefix = seen[prefixBytes..];
        if (!CouldStartWithProtocol(afterPrefix))
        {
            error = ProxyParseError.MalformedV1;
            return false;
        }

        // The spec has the receiver wait for CRLF before decoding, and accept no lone CR or LF as the end of the line.
        // The CR must come by the 106th byte for its LF to fit in 107, so the search stops there, and so does the wait.
        int searchable = Math.Min(afterPrefix.Length, ProxyHeader.MaxV1Length - 1 - Prefix.Length);
        int end = afterPrefix[..searchable].IndexOfAny(CR, LF);
        if (end < 0)
        {
            error = searchable == ProxyHeader.MaxV1Length - 1 - Prefix.Length ? ProxyParseError.HeaderTooLong : ProxyParseError.None;
            return false;
        }

        if (afterPrefix[end] == LF)
        {
            error = ProxyParseError.MalformedV1;
            return false;
        }

        if (end + 1 == afterPrefix.Length)
        {
            return false;
        }

        if (afterPrefix[end + 1] != LF)
        {
            error = ProxyParseError.MalformedV1;
            return false;
        }

        int lineLength = Prefix.Length + end + 2;
        if (!TryParseFields(afterPrefix[..end], out ProxyAddressFamily family, out IPEndPoint? source, out IPEndPoint? destination, out error))
        {
            return false;
        }

        reader.Advance(lineLength);
        header = new ProxyHeader(ProxyProtocolVersion.V1, ProxyCommand.Proxy, family, source, destination, lineLength);
        return true;
    }

    /// <summary>
    /// Whether the bytes after "PROXY " so far can begin a protocol word and the separator after it, so that
    /// "PROXY TCP5" is refused at the '5' rather than at the end of the line.
    /// </summary>
    private static bool CouldStartWithProtocol(ReadOnlySpan<byte> bytes) =>
        IsPrefixOf(bytes, Tcp4) || IsPrefixOf(bytes, Tcp6) || IsPrefixOf(bytes, "UNKNOWN "u8) || IsPrefixOf(bytes, "UNKNOWN\r"u8);

    private static bool IsPrefixOf(ReadOnlySpan<byte> bytes, ReadOnlySpan<byte> word)
    {
        int length = Math.Min(bytes.Length, word.Length);
        return bytes[..length].SequenceEqual(word[..length]);
    }

    /// <summary>Decodes what lies between "PROXY " and CRLF; allocates the endpoints only once every field is valid.</summary>
    private static bool TryParseFields(
        ReadOnlySpan<byte> fields,
        out ProxyAddressFamily family,
        out IPEndPoint? source,
        out IPEndPoint? destination,
        out ProxyParseError error)
    {
        family = ProxyAddressFamily.Unspecified;
        source = null;
        destination = null;
        error = ProxyParseError.None;

        // UNKNOWN: the spec has the receiver ignore the rest of the line, whatever it holds.
        if (fields.StartsWith(Unknown))
        {
            return true;
        }

        // CouldStartWithProtocol let through only "TCP4 " and "TCP6 " here (a line ending at "TCP4" failed on its CR).
        Debug.Assert(fields.StartsWith(Tcp4) || fields.StartsWith(Tcp6));
        bool ipv4 = fields.StartsWith(Tcp4);
        Span<Range> ranges = stackalloc Range[4];
        ReadOnlySpan<byte> rest = fields[Tcp4.Length..];
        int count = 0;
        foreach (Range range in rest.Split(Space))
        {
            // A fifth field, or an empty one (a double, leading or trailing space), breaks "exactly one space".
            if (count == ranges.Length || rest[range].IsEmpty)
            {
                error = ProxyParseError.MalformedV1;
                return false;
            }

            ranges[count++] = range;
        }

        if (count != ranges.Length)
        {
            error = ProxyParseError.MalformedV1;
            return false;
        }

        Span<byte> sourceAddress = stackalloc byte[16];
        Span<byte> destinationAddress = stackalloc byte[16];
        int addressLength = ipv4 ? 4 : 16;
        sourceAddress = sourceAddress[..addressLength];
        destinationAddress = destinationAddress[..addressLength];
        bool addressesValid = ipv4
            ? ProxyV1Text.TryParseIPv4(rest[ranges[0]], sourceAddress) && ProxyV1Text.TryParseIPv4(rest[ranges[1]], destinationAddress)
            : ProxyV1Text.TryParseIPv6(rest[ranges[0]], sourceAddress) && ProxyV1Text.TryParseIPv6(rest[ranges[1]], destinationAddress);
        if (!addressesValid)
        {
            error = ProxyParseError.InvalidV1Address;
            return false;
        }

        if (!ProxyV1Text.TryParsePort(rest[ranges[2]], out ushort sourcePort) || !ProxyV1Text.TryParsePort(rest[ranges[3]], out ushort destinationPort))
        {
            error = ProxyParseError.InvalidV1Port;
            return false;
        }

        family = ipv4 ? ProxyAddressFamily.Tcp4 : ProxyAddressFamily.Tcp6;
        source = new IPEndPoint(new IPAddress(sourceAddress), sourcePort);
        destination = new IPEndPoint(new IPAddress(destinationAddress), destinationPort);
        return true;
    }

    /// <summary>"PROXY UNKNOWN\r\n" without endpoints; otherwise a TCP4 or TCP6 line.</summary>
    public static int Write(Span<byte> destination, IPEndPoint? source, IPEndPoint? destinationEndPoint)
    {
        Span<byte> line = stackalloc byte[ProxyHeader.MaxV1Length];
        int length = 0;
        Append(line, ref length, Prefix);
        if (source is null || destinationEndPoint is null)
        {
            Append(line, ref length, Unknown);
        }
        else
        {
            Append(line, ref length, source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? Tcp4 : Tcp6);
            length += ProxyV1Text.FormatAddress(source.Address, line[length..]);
            line[length++] = Space;
            length += ProxyV1Text.FormatAddress(destinationEndPoint.Address, line[length..]);
            line[length++] = Space;
            length += ProxyV1Text.FormatPort(source.Port, line[length..]);
            line[length++] = Space;
            length += ProxyV1Text.FormatPort(destinationEndPoint.Port, line[length..]);
        }

        line[length++] = CR;
        line[length++] = LF;
        ThrowHelpers.ThrowIfTooShort(destination, length);
        line[..length].CopyTo(destination);
        return length;
    }

    private static void Append(Span<byte> line, ref int length, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(line[length..]);
        length += bytes.Length;
    }
}
