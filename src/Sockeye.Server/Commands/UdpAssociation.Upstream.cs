using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;
using Sockeye.Server.Configuration;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>
/// UDP through an upstream SOCKS5 proxy (a rule's route): the client's datagrams go whole (header and payload, a name
/// unresolved) to the upstream's relay, and the relay's go whole back to the client, since they already carry the header
/// naming their source. The rules still judge each destination, and the rates and counts apply to payloads as directly.
/// </summary>
internal sealed partial class UdpAssociation
{
    /// <summary>Where a datagram from the client goes through the upstream: to its relay, unless dropped (counted).</summary>
    private ClientDatagramRoute RouteToUpstream(ReadOnlySpan<byte> datagram, SocketAddress source, SocketAddress relay)
    {
        if (!IsFromClient(source))
        {
            _statistics.CountForeignSource();
            return ClientDatagramRoute.Dropped;
        }

        Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());
        if (!Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader header, out int headerLength, out _))
        {
            _statistics.CountMalformed();
            return ClientDatagramRoute.Dropped;
        }

        if (header.Fragment != 0)
        {
            // RFC 1928 §7, as directly: this relay does not reassemble, so it passes on no fragment either.
            _statistics.CountFragmented();
            return ClientDatagramRoute.Dropped;
        }

        if (_check is not null && !PermitsThroughUpstream(datagram[3..headerLength], header))
        {
            _statistics.CountDenied();
            return ClientDatagramRoute.Dropped;
        }

        return OutboundFor(relay, datagram.Length - headerLength) is { } outbound
            ? ClientDatagramRoute.SendWithHeaderTo(outbound, relay, datagram.Length, headerLength)
            : ClientDatagramRoute.Dropped;
    }

    /// <summary>
    /// Whether the rules let a datagram go to the destination its header names (<paramref name="key"/>: ATYP, address and
    /// port as on the wire), asked once per destination thanks to the route cache. A name is judged as sent onward: unresolved.
    /// </summary>
    private bool PermitsThroughUpstream(ReadOnlySpan<byte> key, in Socks5UdpHeader header)
    {
        SocketAddress? known = _routes.Find(key);
        if (known is not null)
        {
            return !ReferenceEquals(known, DeniedRoute);
        }

        Socks5Address named = header.GetDestination();
        bool permitted = named.TryGetLiteralIPAddress(out IPAddress? literal)
            ? _check!.Permits(AccessCommands.UdpAssociate, null, Normalize(literal), header.Port)
            : _check!.PermitsUnresolved(AccessCommands.UdpAssociate, named.DomainName!, header.Port);
        _routes.Remember(key, permitted ? PermittedRoute : DeniedRoute);
        return permitted;
    }

    /// <summary>
    /// A datagram from the upstream side, read at <see cref="DatagramPump.ReplyHeaderRoom"/>: sent to the client whole
    /// when it comes from the upstream's relay and is a well-formed SOCKS5 UDP datagram, else dropped (counted).
    /// <paramref name="payloadBytes"/> is what it counts as: its payload, the upstream's header not counted.
    /// </summary>
    private int PrepareFromUpstream(Span<byte> buffer, int length, SocketAddress source, SocketAddress relay, out int payloadBytes)
    {
        if (!source.Equals(relay))
        {
            _statistics.CountForeignSource();
            payloadBytes = 0;
            return -1;
        }

        Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());
        ReadOnlySpan<byte> datagram = buffer.Slice(DatagramPump.ReplyHeaderRoom, length);
        if (!Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader header, out int headerLength, out _) || header.Fragment != 0)
        {
            _statistics.CountMalformed();
            payloadBytes = 0;
            return -1;
        }

        if (_downloadPacer is not null && !_downloadPacer.TryTakeAll(length - headerLength))
        {
            _statistics.CountOverRate();
            payloadBytes = 0;
            return -1;
        }

        payloadBytes = length - headerLength;
        return DatagramPump.ReplyHeaderRoom;
    }
}
