using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;

namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>
/// The v1 line's addresses and ports, read straight from the bytes and strictly: the spec forbids leading zeros (an
/// octal reading) and names one form per family, while <see cref="IPAddress.TryParse(ReadOnlySpan{char}, out IPAddress?)"/>
/// also takes "127.1", "0x7f.0.0.1", zones and brackets.
/// </summary>
internal static class ProxyV1Text
{
    /// <summary>INET6_ADDRSTRLEN: the longest text <see cref="IPAddress"/> formats, a zone included.</summary>
    private const int MaxAddressTextLength = 65;

    /// <summary>Four decimal numbers 0–255 separated by single dots, none with a leading zero.</summary>
    public static bool TryParseIPv4(ReadOnlySpan<byte> text, Span<byte> address)
    {
        Debug.Assert(address.Length == 4);
        for (int octet = 0; octet < 4; octet++)
        {
            int dot = text.IndexOf((byte)'.');
            bool last = octet == 3;

            // The last octet runs to the end; the others end at a dot.
            if (last != (dot < 0))
            {
                return false;
            }

            if (!TryParseDecimal(last ? text : text[..dot], maxValue: byte.MaxValue, out int value))
            {
                return false;
            }

            address[octet] = (byte)value;
            text = last ? [] : text[(dot + 1)..];
        }

        return true;
    }

    /// <summary>
    /// Eight groups of one to four hexadecimal digits separated by colons, one "::" standing for one or more zero groups,
    /// and a dotted quad in place of the last two groups (as in "::ffff:192.0.2.1", which IPv4-mapped senders write).
    /// No zone ("%eth0") and no brackets: the spec names neither.
    /// </summary>
    public static bool TryParseIPv6(ReadOnlySpan<byte> text, Span<byte> address)
    {
        Debug.Assert(address.Length == 16);
        Span<ushort> groups = stackalloc ushort[8];
        int count = 0;
        int gap = -1;
        int position = 0;
        if (text.StartsWith("::"u8))
        {
            gap = 0;
            position = 2;
        }

        while (position < text.Length)
        {
            int colon = text[position..].IndexOf((byte)':');
            int fieldEnd = colon < 0 ? text.Length : position + colon;
            ReadOnlySpan<byte> field = text[position..fieldEnd];
            if (field.Contains((byte)'.'))
            {
                // An embedded IPv4 address is the last thing in the text and takes two groups.
                Span<byte> ipv4 = stackalloc byte[4];
                if (fieldEnd != text.Length || count > 6 || !TryParseIPv4(field, ipv4))
                {
                    return false;
                }

                groups[count++] = BinaryPrimitives.ReadUInt16BigEndian(ipv4);
                groups[count++] = BinaryPrimitives.ReadUInt16BigEndian(ipv4[2..]);
                break;
            }

            if (count == 8 || !TryParseHexGroup(field, out groups[count]))
            {
                return false;
            }

            count++;
            position = fieldEnd;
            if (position == text.Length)
            {
                break;
            }

            // At a colon: a second one makes the one gap; a colon at the very end is dangling.
            position++;
            if (position < text.Length && text[position] == (byte)':')
            {
                if (gap >= 0)
                {
                    return false;
                }

                gap = count;
                position++;
            }
            else if (position == text.Length)
            {
                return false;
            }
        }

        if (gap < 0 ? count != 8 : count > 7)
        {
            return false;
        }

        // The groups after the gap move to the end; the gap is zeros.
        address.Clear();
        int tail = gap < 0 ? 0 : count - gap;
        int head = count - tail;
        for (int i = 0; i < head; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(address[(2 * i)..], groups[i]);
        }

        for (int i = 0; i < tail; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(address[(2 * (8 - tail + i))..], groups[head + i]);
        }

        return true;
    }

    /// <summary>A decimal number 0–65535 without a sign or leading zeros ("0" itself is fine).</summary>
    public static bool TryParsePort(ReadOnlySpan<byte> text, out ushort port)
    {
        bool parsed = TryParseDecimal(text, maxValue: ushort.MaxValue, out int value);
        port = (ushort)value;
        return parsed;
    }

    private static bool TryParseDecimal(ReadOnlySpan<byte> text, int maxValue, out int value)
    {
        value = 0;

        // Five digits hold 65535; more can only be too large or zero-padded, and would overflow nothing but time.
        if (text.IsEmpty || text.Length > 5 || (text[0] == (byte)'0' && text.Length > 1))
        {
            return false;
        }

        foreach (byte digit in text)
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (digit - '0');
        }

        return value <= maxValue;
    }

    private static bool TryParseHexGroup(ReadOnlySpan<byte> text, out ushort group)
    {
        group = 0;
        if (text.IsEmpty || text.Length > 4)
        {
            return false;
        }

        int value = 0;
        foreach (byte digit in text)
        {
            int nibble = digit switch
            {
                >= (byte)'0' and <= (byte)'9' => digit - '0',
                >= (byte)'a' and <= (byte)'f' => digit - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => digit - 'A' + 10,
                _ => -1,
            };
            if (nibble < 0)
            {
                return false;
            }

            value = (value << 4) | nibble;
        }

        group = (ushort)value;
        return true;
    }

    /// <summary>Writes the address's usual text without its zone; returns the bytes written.</summary>
    public static int FormatAddress(IPAddress address, Span<byte> destination)
    {
        Span<byte> text = stackalloc byte[MaxAddressTextLength];
        bool formatted = address.TryFormat(text, out int length);
        Debug.Assert(formatted);
        int zone = text[..length].IndexOf((byte)'%');
        if (zone >= 0)
        {
            length = zone;
        }

        text[..length].CopyTo(destination);
        return length;
    }

    /// <summary>Writes the port in decimal; returns the bytes written.</summary>
    public static int FormatPort(int port, Span<byte> destination)
    {
        bool formatted = port.TryFormat(destination, out int length, provider: System.Globalization.CultureInfo.InvariantCulture);
        Debug.Assert(formatted);
        return length;
    }
}
