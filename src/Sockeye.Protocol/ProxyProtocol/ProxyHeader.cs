using System.Buffers;
using System.Net;

namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>
/// The PROXY protocol header (HAProxy's, versions 1 and 2) that a load balancer sends before the client's first byte,
/// naming the client it relays for. Parsed and written here; what to trust is the listener's decision.
/// </summary>
/// <remarks>
/// v1, one text line of at most 107 bytes:
/// <code>
/// PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\r\n       (TCP6: the same with IPv6 addresses)
/// PROXY UNKNOWN[ anything]\r\n
/// </code>
/// v2, binary, 16 + len bytes:
/// <code>
/// +----------------------------------------+---------+-----+-----+---------------+------+
/// | 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A    | ver_cmd | fam | len | address block | TLVs |
/// +----------------------------------------+---------+-----+-----+---------------+------+
/// | 12                                     |    1    |  1  |  2  | 0/12/36/216   | rest |
/// +----------------------------------------+---------+-----+-----+---------------+------+
/// ver_cmd: 0x20 LOCAL, 0x21 PROXY.  fam: 0x00 UNSPEC, 0x11 TCP4, 0x12 UDP4, 0x21 TCP6, 0x22 UDP6, 0x31/0x32 UNIX.
/// IPv4/IPv6 block: source address, destination address, source port, destination port (big-endian).
/// </code>
/// See docs/protocol.md, "PROXY protocol", for what is accepted and refused.
/// </remarks>
public readonly struct ProxyHeader
{
    /// <summary>
    /// The longest v1 line, CRLF included: <c>PROXY UNKNOWN</c> with two 39-character IPv6 addresses and two 5-digit
    /// ports, 5 + 1 + 7 + 1 + 39 + 1 + 39 + 1 + 5 + 1 + 5 + 2. It is also the smallest <c>maxLength</c>
    /// <see cref="TryParse"/> accepts, and a destination this long is always enough for <see cref="Write"/>.
    /// </summary>
    public const int MaxV1Length = 107;

    /// <summary>The fixed start of a v2 header: the 12-byte signature, ver_cmd, fam and the 2-byte length.</summary>
    public const int V2PrefixLength = 16;

    /// <summary>The longest v2 header there can be: the prefix and a length of 65535.</summary>
    public const int MaxV2Length = V2PrefixLength + ushort.MaxValue;

    internal ProxyHeader(
        ProxyProtocolVersion version,
        ProxyCommand command,
        ProxyAddressFamily family,
        IPEndPoint? source,
        IPEndPoint? destination,
        int length)
    {
        Version = version;
        Command = command;
        Family = family;
        Source = source;
        Destination = destination;
        Length = length;
    }

    /// <summary>The form the header came in.</summary>
    public ProxyProtocolVersion Version { get; }

    /// <summary><see cref="ProxyCommand.Local"/> for a v2 LOCAL header; <see cref="ProxyCommand.Proxy"/> otherwise.</summary>
    public ProxyCommand Command { get; }

    /// <summary>
    /// The relayed connection's transport and family: <see cref="ProxyAddressFamily.Unspecified"/> for v1
    /// <c>UNKNOWN</c>, v2 UNSPEC and every v2 LOCAL header (whose family byte is ignored).
    /// </summary>
    public ProxyAddressFamily Family { get; }

    /// <summary>
    /// The original client's address and port, exactly as the header gives it (an IPv4-mapped IPv6 address stays one).
    /// <see langword="null"/> for LOCAL, UNSPEC, v1 UNKNOWN and AF_UNIX: the receiver then uses the real connection's
    /// remote endpoint, as if there had been no header.
    /// </summary>
    public IPEndPoint? Source { get; }

    /// <summary>
    /// The address and port the client connected to (the balancer's front end). <see langword="null"/> exactly when
    /// <see cref="Source"/> is.
    /// </summary>
    public IPEndPoint? Destination { get; }

    /// <summary>The bytes the header took on the wire, TLVs included: what <see cref="TryParse"/> consumed.</summary>
    public int Length { get; }

    /// <summary>
    /// Parses one header. <see langword="true"/>: the whole header was read and <paramref name="reader"/> is just past it.
    /// <see langword="false"/> with <see cref="ProxyParseError.None"/>: more bytes are needed and the reader has not
    /// moved. <see langword="false"/> with another error: these bytes can never become a header; the reader has not
    /// moved. Bytes that cannot start a header are refused at the first one that differs, so a client that talks SOCKS
    /// (or TLS, or HTTP) to a listener expecting the header is refused after one byte, not after a timeout.
    /// Allocates only the two endpoints, and only when the header has them.
    /// </summary>
    /// <param name="reader">The connection's first bytes.</param>
    /// <param name="maxLength">
    /// The most bytes the caller will buffer for a header. A v2 header that declares more (16 + len) is
    /// <see cref="ProxyParseError.HeaderTooLong"/> as soon as its 16-byte prefix is in. A v1 line is bounded by
    /// <see cref="MaxV1Length"/> whatever this is.
    /// </param>
    /// <param name="header">The header, when the result is <see langword="true"/>.</param>
    /// <param name="error">Why the bytes were refused, or <see cref="ProxyParseError.None"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is less than <see cref="MaxV1Length"/>.</exception>
    public static bool TryParse(ref SequenceReader<byte> reader, int maxLength, out ProxyHeader header, out ProxyParseError error)
    {
        // Below 107 a valid v1 line could never be accepted; that is a configuration mistake, not bad input.
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, MaxV1Length);
        header = default;
        error = ProxyParseError.None;
        if (!reader.TryPeek(out byte first))
        {
            return false;
        }

        // Both parsers only look until they succeed, so a failure leaves the reader where it was.
        return first switch
        {
            (byte)'P' => ProxyV1Codec.TryParse(ref reader, out header, out error),
            ProxyV2Codec.FirstSignatureByte => ProxyV2Codec.TryParse(ref reader, maxLength, out header, out error),
            _ => NotProxyProtocol(out error),
        };
    }

    private static bool NotProxyProtocol(out ProxyParseError error)
    {
        error = ProxyParseError.NotProxyProtocol;
        return false;
    }

    /// <summary>
    /// Writes a header; returns the bytes written. v2 is written without TLVs. <see cref="ProxyCommand.Local"/> ignores
    /// the endpoints: v2 writes LOCAL with family UNSPEC and no addresses, and v1, which has no LOCAL, writes
    /// <c>PROXY UNKNOWN\r\n</c> (which a receiver treats the same way: use the real connection). So does
    /// <see cref="ProxyCommand.Proxy"/> with no endpoints (v2: PROXY with family UNSPEC). Otherwise the endpoints are
    /// written as TCP over their family; an IPv6 zone (scope ID) is dropped, as neither form can carry it.
    /// </summary>
    /// <param name="destination">Where to write; <see cref="MaxV1Length"/> bytes are always enough.</param>
    /// <param name="version">The form to write.</param>
    /// <param name="command">LOCAL or PROXY.</param>
    /// <param name="source">The client's endpoint, or <see langword="null"/> (then <paramref name="destinationEndPoint"/> must be too).</param>
    /// <param name="destinationEndPoint">The endpoint the client connected to, of the same family as <paramref name="source"/>.</param>
    /// <exception cref="ArgumentException">
    /// Only one endpoint is given, they are of different families, a family is neither IPv4 nor IPv6, or
    /// <paramref name="destination"/> is too short.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="version"/> or <paramref name="command"/> is not defined.</exception>
    public static int Write(
        Span<byte> destination,
        ProxyProtocolVersion version,
        ProxyCommand command,
        IPEndPoint? source,
        IPEndPoint? destinationEndPoint)
    {
        if (command is not (ProxyCommand.Local or ProxyCommand.Proxy))
        {
            throw new ArgumentOutOfRangeException(nameof(command), command, "The command is neither Local nor Proxy.");
        }

        if (command == ProxyCommand.Local || !CheckEndPoints(source, destinationEndPoint))
        {
            source = null;
            destinationEndPoint = null;
        }

        return version switch
        {
            ProxyProtocolVersion.V1 => ProxyV1Codec.Write(destination, source, destinationEndPoint),
            ProxyProtocolVersion.V2 => ProxyV2Codec.Write(destination, command, source, destinationEndPoint),
            _ => throw new ArgumentOutOfRangeException(nameof(version), version, "The version is neither V1 nor V2."),
        };
    }

    /// <summary>Whether there are endpoints to write: both or neither, and of one IP family.</summary>
    private static bool CheckEndPoints(IPEndPoint? source, IPEndPoint? destinationEndPoint)
    {
        if (source is null && destinationEndPoint is null)
        {
            return false;
        }

        if (source is null || destinationEndPoint is null)
        {
            throw new ArgumentException("Give both endpoints or neither.", source is null ? nameof(source) : nameof(destinationEndPoint));
        }

        if (source.AddressFamily is not (System.Net.Sockets.AddressFamily.InterNetwork or System.Net.Sockets.AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"A PROXY header carries IPv4 or IPv6 endpoints, not {source.AddressFamily}.", nameof(source));
        }

        if (source.AddressFamily != destinationEndPoint.AddressFamily)
        {
            throw new ArgumentException("Both endpoints must be of one family; map IPv4 to IPv6 first if need be.", nameof(destinationEndPoint));
        }

        return true;
    }

    /// <summary>The header as text, for logs: "V2 Proxy Tcp4 192.0.2.1:56324 -> 198.51.100.1:1080".</summary>
    public override string ToString() =>
        Source is null ? $"{Version} {Command} {Family}" : $"{Version} {Command} {Family} {Source} -> {Destination}";
}
