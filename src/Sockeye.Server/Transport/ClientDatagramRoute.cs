using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Transport;

/// <summary>
/// Where a datagram from the client goes, as <see cref="IDatagramRelay"/> decided: nowhere (<see cref="Dropped"/>, already
/// counted), out of <see cref="Outbound"/> to <see cref="Destination"/>, or first through a lookup of <see cref="HostName"/>.
/// </summary>
internal readonly struct ClientDatagramRoute
{
    private ClientDatagramRoute(int payloadOffset, int payloadLength, Socket? outbound, SocketAddress? destination, string? hostName, ushort port,
        int countedBytes)
    {
        PayloadOffset = payloadOffset;
        PayloadLength = payloadLength;
        CountedBytes = countedBytes;
        Outbound = outbound;
        Destination = destination;
        HostName = hostName;
        Port = port;
    }

    /// <summary>The datagram is dropped.</summary>
    public static ClientDatagramRoute Dropped => default;

    /// <summary>Where the payload starts, behind the datagram's header.</summary>
    public int PayloadOffset { get; }

    /// <summary>
    /// How long the payload is. Not always to the datagram's end: a datagram protected by GSSAPI was unwrapped in place,
    /// and its plaintext is shorter than what was received.
    /// </summary>
    public int PayloadLength { get; }

    /// <summary>
    /// The bytes the datagram counts as once sent (<see cref="IDatagramRelay.OnSentToDestination"/>):
    /// <see cref="PayloadLength"/>, less the SOCKS header sent in front of the payload through an upstream. Carried
    /// with each datagram, not kept by the relay, so that a pump may route a whole batch before it sends any.
    /// </summary>
    public int CountedBytes { get; }

    /// <summary>The socket to send the payload on, when it is to be sent now.</summary>
    public Socket? Outbound { get; }

    /// <summary>The address to send the payload to, when it is to be sent now.</summary>
    public SocketAddress? Destination { get; }

    /// <summary>The destination's name, when it must be resolved before anything is sent.</summary>
    public string? HostName { get; }

    /// <summary>The destination's port, with <see cref="HostName"/>.</summary>
    public ushort Port { get; }

    /// <summary>Whether the payload is to be sent now, out of <see cref="Outbound"/> to <see cref="Destination"/>.</summary>
    [MemberNotNullWhen(true, nameof(Outbound), nameof(Destination))]
    public bool CanSend => Outbound is not null && Destination is not null;

    /// <summary>Whether <see cref="IDatagramRelay.ResolveAsync"/> must look up <see cref="HostName"/> first.</summary>
    [MemberNotNullWhen(true, nameof(HostName))]
    public bool NeedsResolving => HostName is not null;

    /// <summary>Send the payload at <paramref name="payloadOffset"/> out of <paramref name="outbound"/> to <paramref name="destination"/>.</summary>
    public static ClientDatagramRoute SendTo(Socket outbound, SocketAddress destination, int payloadOffset, int payloadLength) =>
        new(payloadOffset, payloadLength, outbound, destination, null, 0, payloadLength);

    /// <summary>
    /// Send the whole datagram of <paramref name="datagramLength"/> bytes (a SOCKS header of <paramref name="headerLength"/> and its
    /// payload) out of <paramref name="outbound"/> to <paramref name="destination"/>, counting the payload alone.
    /// </summary>
    public static ClientDatagramRoute SendWithHeaderTo(Socket outbound, SocketAddress destination, int datagramLength, int headerLength) =>
        new(0, datagramLength, outbound, destination, null, 0, datagramLength - headerLength);

    /// <summary>Resolve <paramref name="hostName"/> first; the payload is at <paramref name="payloadOffset"/>.</summary>
    public static ClientDatagramRoute ResolveFirst(string hostName, ushort port, int payloadOffset, int payloadLength) =>
        new(payloadOffset, payloadLength, null, null, hostName, port, payloadLength);
}
