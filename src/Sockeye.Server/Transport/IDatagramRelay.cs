using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Transport;

/// <summary>
/// A UDP association as its <see cref="DatagramPump"/> sees it: every decision about a datagram (its source, its header,
/// its route, the rules, the rate, the counts) and none of its I/O. The pump receives, asks, and sends.
/// </summary>
/// <remarks>
/// The datagrams of one socket come in order, one call at a time (a pump may route or prepare several before it sends
/// them, so nothing about one datagram is kept between calls); the client's and a destination's may come at once, on
/// different threads. Nothing here blocks, and only <see cref="ResolveAsync"/> waits.
/// </remarks>
internal interface IDatagramRelay
{
    /// <summary>The relay socket: the client sends its datagrams to it, and the answers go back to the client from it.</summary>
    Socket ClientSocket { get; }

    /// <summary>The largest payload relayed in either direction; a destination's datagram is read truncated to it.</summary>
    int MaxPayloadBytes { get; }

    /// <summary>
    /// Room beyond <see cref="DatagramPump.ReplyHeaderRoom"/> and the payload that <see cref="PrepareForClient"/> may
    /// write into: 0, or what GSSAPI's framing and wrap token add to a protected datagram.
    /// </summary>
    int ClientFramingBytes { get; }

    /// <summary>
    /// Where <paramref name="datagram"/>, received on <see cref="ClientSocket"/> from <paramref name="source"/>, goes.
    /// May rewrite the datagram in place (a protected one is unwrapped there); the route says where its payload is.
    /// </summary>
    ClientDatagramRoute RouteFromClient(Span<byte> datagram, SocketAddress source);

    /// <summary>
    /// Resolves the name of a <paramref name="route"/> that <see cref="ClientDatagramRoute.NeedsResolving"/>, and returns
    /// where the same <paramref name="datagram"/> goes now (held in memory that outlives the wait).
    /// </summary>
    ValueTask<ClientDatagramRoute> ResolveAsync(ReadOnlyMemory<byte> datagram, ClientDatagramRoute route, CancellationToken cancellationToken);

    /// <summary>
    /// <paramref name="taken"/> datagrams were handed to the kernel toward their destinations, counting as
    /// <paramref name="takenBytes"/> together (each its route's <see cref="ClientDatagramRoute.CountedBytes"/>), and
    /// <paramref name="refused"/> were refused. A pump reports each run it sent in one call (a datagram alone is a run of
    /// one), so that counters shared by every association are touched once per run rather than once per datagram.
    /// </summary>
    void OnSentToDestination(int taken, long takenBytes, int refused);

    /// <summary>
    /// For a datagram of <paramref name="payloadLength"/> bytes from <paramref name="source"/>, read into
    /// <paramref name="buffer"/> at <see cref="DatagramPump.ReplyHeaderRoom"/> (with <see cref="ClientFramingBytes"/>
    /// to spare behind it): writes the header naming its source in front of it and returns where the datagram for the
    /// client starts, its <paramref name="length"/>, the client's address, and the bytes it counts as once sent
    /// (<paramref name="countedBytes"/>, for <see cref="OnSentToClient"/>); -1 when it is dropped.
    /// </summary>
    int PrepareForClient(Span<byte> buffer, int payloadLength, SocketAddress source, out SocketAddress? client, out int length, out int countedBytes);

    /// <summary>
    /// <paramref name="taken"/> datagrams were handed to the kernel toward the client, with payloads of
    /// <paramref name="takenBytes"/> together (the <c>countedBytes</c> of <see cref="PrepareForClient"/>: headers not
    /// counted), and <paramref name="refused"/> were refused; one call per run sent, as <see cref="OnSentToDestination"/>.
    /// </summary>
    void OnSentToClient(int taken, long takenBytes, int refused);
}
