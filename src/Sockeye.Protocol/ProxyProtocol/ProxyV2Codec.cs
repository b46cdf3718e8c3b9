using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;

namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>The binary form (v2): the diagram is on <see cref="ProxyHeader"/>.</summary>
internal static class ProxyV2Codec
{
    public const byte FirstSignatureByte = 0x0D;

    private const int SignatureLength = 12;
    private const byte Version = 0x2;
    private const int IPv4AddressBlockLength = (2 * 4) + (2 * 2);
    private const int IPv6AddressBlockLength = (2 * 16) + (2 * 2);
    private const int UnixAddressBlockLength = 2 * 108;

    /// <summary>Type (1 byte) and length (2 bytes) before each TLV's value.</summary>
    private const int TlvHeaderLength = 3;

    /// <summary>"\r\n\r\n\0\r\nQUIT\n": chosen by the spec to be refused early by HTTP, TLS, SMTP and other servers.</summary>
    private static ReadOnlySpan<byte> Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>Looks at the bytes without consuming them, and consumes the whole header only on success.</summary>
    public static bool TryParse(ref SequenceReader<byte> reader, int maxLength, out ProxyHeader header, out ProxyParseError error)
    {
        header = default;
        error = ProxyParseError.None;
        Span<byte> prefix = stackalloc byte[ProxyHeader.V2PrefixLength];
        int available = (int)Math.Min(reader.Remaining, ProxyHeader.V2PrefixLength);
        prefix = prefix[..available];
        reader.TryCopyTo(prefix);

        // Compared as far as bytes have arrived, so a stranger is refused at its first wrong byte.
        int signatureBytes = Math.Min(available, SignatureLength);
        if (!prefix[..signatureBytes].SequenceEqual(Signature[..signatureBytes]))
        {
            error = ProxyParseError.NotProxyProtocol;
            return false;
        }

        if (available <= SignatureLength)
        {
            return false;
        }

        byte versionCommand = prefix[SignatureLength];
        if (versionCommand >> 4 != Version)
        {
            error = ProxyParseError.UnsupportedVersion;
            return false;
        }

        var command = (ProxyCommand)(versionCommand & 0x0F);
        if (command is not (ProxyCommand.Local or ProxyCommand.Proxy))
        {
            error = ProxyParseError.UnknownCommand;
            return false;
        }

        if (available <= SignatureLength + 1)
        {
            return false;
        }

        // LOCAL: the spec has the receiver discard the whole block, family included, so its family byte is not judged
        // and whatever its length covers is skipped unread.
        ProxyAddressFamily family = ProxyAddressFamily.Unspecified;
        int addressBlockLength = 0;
        if (command == ProxyCommand.Proxy && !TryDecodeFamily(prefix[SignatureLength + 1], out family, out addressBlockLength))
        {
            error = ProxyParseError.UnknownFamily;
            return false;
        }

        if (available < ProxyHeader.V2PrefixLength)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(prefix[(SignatureLength + 2)..]);
        if (length < addressBlockLength)
        {
            error = ProxyParseError.AddressesTruncated;
            return false;
        }

        int headerLength = ProxyHeader.V2PrefixLength + length;
        if (headerLength > maxLength)
        {
            error = ProxyParseError.HeaderTooLong;
            return false;
        }

        if (reader.Remaining < headerLength)
        {
            return false;
        }

        ReadOnlySequence<byte> body = reader.UnreadSequence.Slice(ProxyHeader.V2PrefixLength, length);

        // TLVs are checked only behind a block of known size: after UNSPEC or LOCAL nobody can say where they start.
        if (addressBlockLength > 0 && !TlvsFillExactly(body.Slice(addressBlockLength)))
        {
            error = ProxyParseError.MalformedTlv;
            return false;
        }

        IPEndPoint? source = null;
        IPEndPoint? destination = null;
        if (family is ProxyAddressFamily.Tcp4 or ProxyAddressFamily.Udp4 or ProxyAddressFamily.Tcp6 or ProxyAddressFamily.Udp6)
        {
            Span<byte> block = stackalloc byte[IPv6AddressBlockLength];
            block = block[..addressBlockLength];
            body.Slice(0, addressBlockLength).CopyTo(block);
            int addressLength = (addressBlockLength - 4) / 2;
            source = new IPEndPoint(new IPAddress(block[..addressLength]), BinaryPrimitives.ReadUInt16BigEndian(block[(2 * addressLength)..]));
            destination = new IPEndPoint(new IPAddress(block[addressLength..(2 * addressLength)]), BinaryPrimitives.ReadUInt16BigEndian(block[((2 * addressLength) + 2)..]));
        }

        reader.Advance(headerLength);
        header = new ProxyHeader(ProxyProtocolVersion.V2, command, family, source, destination, headerLength);
        return true;
    }

    /// <summary>The seven family bytes the spec defines, with the size of each one's address block.</summary>
    private static bool TryDecodeFamily(byte value, out ProxyAddressFamily family, out int addressBlockLength)
    {
        (family, addressBlockLength) = value switch
        {
            0x00 => (ProxyAddressFamily.Unspecified, 0),
            0x11 => (ProxyAddressFamily.Tcp4, IPv4AddressBlockLength),
            0x12 => (ProxyAddressFamily.Udp4, IPv4AddressBlockLength),
            0x21 => (ProxyAddressFamily.Tcp6, IPv6AddressBlockLength),
            0x22 => (ProxyAddressFamily.Udp6, IPv6AddressBlockLength),
            0x31 or 0x32 => (ProxyAddressFamily.Unix, UnixAddressBlockLength),
            _ => (ProxyAddressFamily.Unspecified, -1),
        };
        return addressBlockLength >= 0;
    }

    /// <summary>
    /// Whether the TLVs tile <paramref name="tlvs"/> exactly. Their contents are not read: nothing here needs them
    /// (AWS's VPC endpoint ID, ALPN, TLS details, a CRC32C that is not verified). A length that runs past the end means
    /// the header is corrupt or misframed, which HAProxy's own receiver refuses too.
    /// </summary>
    private static bool TlvsFillExactly(ReadOnlySequence<byte> tlvs)
    {
        var reader = new SequenceReader<byte>(tlvs);
        while (!reader.End)
        {
            if (reader.Remaining < TlvHeaderLength)
            {
                return false;
            }

            reader.Advance(1);
            reader.TryReadBigEndian(out short rawValueLength);
            int valueLength = (ushort)rawValueLength;
            if (reader.Remaining < valueLength)
            {
                return false;
            }

            reader.Advance(valueLength);
        }

        return true;
    }

    /// <summary>LOCAL with no addresses, PROXY UNSPEC with none, or PROXY TCP over the endpoints' family.</summary>
    public static int Write(Span<byte> destination, ProxyCommand command, IPEndPoint? source, IPEndPoint? destinationEndPoint)
    {
        bool ipv4 = source?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        int addressLength = source is null ? 0 : ipv4 ? 4 : 16;
        int blockLength = source is null ? 0 : (2 * addressLength) + 4;
        ThrowHelpers.ThrowIfTooShort(destination, ProxyHeader.V2PrefixLength + blockLength);

        Signature.CopyTo(destination);
        destination[SignatureLength] = (byte)((Version << 4) | (byte)command);
        destination[SignatureLength + 1] = source is null ? (byte)0x00 : ipv4 ? (byte)0x11 : (byte)0x21;
        BinaryPrimitives.WriteUInt16BigEndian(destination[(SignatureLength + 2)..], (ushort)blockLength);
        if (source is null || destinationEndPoint is null)
        {
            return ProxyHeader.V2PrefixLength;
        }

        Span<byte> block = destination.Slice(ProxyHeader.V2PrefixLength, blockLength);
        bool sourceWritten = source.Address.TryWriteBytes(block, out int sourceBytes);
        bool destinationWritten = destinationEndPoint.Address.TryWriteBytes(block[addressLength..], out int destinationBytes);
        Debug.Assert(sourceWritten && destinationWritten && sourceBytes == addressLength && destinationBytes == addressLength);
        BinaryPrimitives.WriteUInt16BigEndian(block[(2 * addressLength)..], (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(block[((2 * addressLength) + 2)..], (ushort)destinationEndPoint.Port);
        return ProxyHeader.V2PrefixLength + blockLength;
    }
}
