using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Rules;
using Sockeye.Server.Limits;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>
/// One UDP ASSOCIATE (RFC 1928 §7): a relay socket that takes headed datagrams from one client and forwards their
/// payloads, and sockets toward destinations (one per address family) whose answers go back to the client with a header
/// naming their source. Lives exactly as long as the client's control connection. The relay socket, whose port the
/// reply announces, is on a port of <c>udp.portRange</c> when one is set; the destination sockets always take an
/// ephemeral port, since only their outward traffic and its answers pass them, as for any connection the server opens.
/// </summary>
/// <remarks>
/// The association decides and its engine's <see cref="DatagramPump"/> moves the datagrams: the association is the
/// pump's <see cref="IDatagramRelay"/>, and never does I/O on a datagram itself. The datagram path allocates nothing in
/// steady state: destinations and sources are cached as <see cref="SocketAddress"/>es, and headers are written in place
/// in front of the payload, in the pump's buffer. Under a rate limit a datagram whose payload does not fit the session's
/// (and its user's) tokens is dropped and counted, never queued: UDP has no backpressure to wait for.
/// </remarks>
internal sealed partial class UdpAssociation : IDatagramRelay, IDisposable
{
    // Stands in the route cache for a destination the access rules deny, so that the rules are asked once per destination.
    private static readonly SocketAddress DeniedRoute = new(AddressFamily.InterNetwork);

    // Stands in the route cache, through an upstream, for a destination the access rules allow (the datagram goes whole
    // to the upstream relay, whatever its destination).
    private static readonly SocketAddress PermittedRoute = new(AddressFamily.InterNetwork);

    private readonly UdpOptions _options;
    private readonly OutboundOptions _outbound;
    private readonly DnsCache _dns;
    private readonly UdpStatistics _statistics;
    private readonly TimeProvider _timeProvider;
    private readonly BandwidthPacer? _uploadPacer;
    private readonly BandwidthPacer? _downloadPacer;
    private readonly IPAddress _clientAddress;
    private readonly IDestinationCheck? _check;
    private readonly Socket _clientSocket;
    private readonly DestinationRoutes _routes = new();
    private readonly Lock _destinationLock = new();
    private readonly DatagramPump _pump;
    private Socket? _destinationSocketV4;
    private Socket? _destinationSocketV6;

    // One cache per destination socket, so that each is only ever used by the pump's receives on that socket.
    private SourceHeaders? _sourceHeadersV4;
    private SourceHeaders? _sourceHeadersV6;

    // The port of udp.portRange the relay socket holds (0: an ephemeral one), given back once the socket is closed.
    private UdpRelayPorts? _ports;
    private int _claimedPort;

    private SocketAddress? _clientSocketAddress;

    // With GSSAPI integrity or confidentiality (RFC 1961 §5), every datagram is wrapped both ways; the context is the
    // session's, and so is its disposal.
    private GssapiMessageProtection? _protection;
    private PooledBufferWriter? _wrapWriterV4;
    private PooledBufferWriter? _wrapWriterV6;

    // Through an upstream (UdpAssociation.Upstream.cs): the upstream's relay.
    private SocketAddress? _upstreamRelay;
    private long _lastActivityTimestamp;
    private long _bytesUp;
    private long _bytesDown;
    private CancellationToken _cancellationToken;

    private UdpAssociation(UdpOptions options, OutboundOptions outbound, DnsCache dns, UdpStatistics statistics, TimeProvider timeProvider,
        SessionBandwidth? bandwidth, IPAddress clientAddress, Socket clientSocket, IDestinationCheck? check, TransportEngine engine)
    {
        _check = check;
        _uploadPacer = bandwidth?.Upload;
        _downloadPacer = bandwidth?.Download;
        _options = options;
        _outbound = outbound;
        _dns = dns;
        _statistics = statistics;
        _timeProvider = timeProvider;
        _clientAddress = clientAddress;
        _clientSocket = clientSocket;
        _lastActivityTimestamp = timeProvider.GetTimestamp();

        // Last: the pump may read the relay's socket and limits as it is made.
        _pump = engine.CreateDatagramPump(this);
    }

    /// <summary>The endpoint to put in the reply: the advertised address if configured, else the relay socket's own.</summary>
    public IPEndPoint Announced { get; private init; } = new(IPAddress.Any, 0);

    /// <summary>The relay socket's real endpoint.</summary>
    public IPEndPoint RelayEndPoint => (IPEndPoint)_clientSocket.LocalEndPoint!;

    /// <summary>Payload bytes handed to the kernel toward destinations (headers not counted), as a tunnel's upload.</summary>
    public long BytesUp => Interlocked.Read(ref _bytesUp);

    /// <summary>Payload bytes handed to the kernel toward the client (the headers the relay wrote not counted).</summary>
    public long BytesDown => Interlocked.Read(ref _bytesDown);

    /// <summary>The <see cref="TimeProvider.GetTimestamp"/> of the last datagram in either direction.</summary>
    public long LastActivityTimestamp => Volatile.Read(ref _lastActivityTimestamp);

    /// <summary>
    /// Whether the association stopped relaying because its pump failed (its event loop did, or a handler of it threw):
    /// its session must end, since no datagram will be relayed again.
    /// </summary>
    public bool PumpFaulted => _pump.Faulted;

    Socket IDatagramRelay.ClientSocket => _clientSocket;

    // Through an upstream, what comes back carries the upstream's header in front of the payload: room for an address's.
    int IDatagramRelay.MaxPayloadBytes => _upstreamRelay is null ? _options.MaxDatagramBytes : _options.MaxDatagramBytes + DatagramPump.ReplyHeaderRoom;

    /// <summary>
    /// Opens the relay socket on <paramref name="localAddress"/> (the address the client reached us on), on a port of
    /// <c>udp.portRange</c> claimed from <paramref name="ports"/> when one is configured. Only datagrams
    /// from <paramref name="client"/>'s address are accepted; from its port too when the request named one (non-zero),
    /// otherwise from the port of the first datagram. Payloads count against <paramref name="bandwidth"/> when it is not null.
    /// With <paramref name="check"/>, each destination is put to the access rules the first time it is seen, and
    /// datagrams to a denied one are dropped and counted. <paramref name="engine"/> pumps the datagrams. With
    /// <paramref name="upstreamRelay"/> (an upstream SOCKS5 proxy's association) each permitted datagram goes to it whole
    /// (header and payload, names unresolved), and only what comes from it goes back to the client, whole. With
    /// <paramref name="protection"/> (GSSAPI integrity or confidentiality), every datagram from the client is unwrapped
    /// and every one to it wrapped (RFC 1961 §5); the session owns the context.
    /// </summary>
    /// <returns>
    /// The association, or <see langword="null"/> with the error: <see cref="SocketError.AddressAlreadyInUse"/> when
    /// every port of the range is taken (counted and logged by <paramref name="ports"/>).
    /// </returns>
    public static UdpAssociation? Open(UdpOptions options, OutboundOptions outbound, DnsCache dns, UdpStatistics statistics, UdpRelayPorts ports,
        TimeProvider timeProvider, SessionBandwidth? bandwidth, IPAddress localAddress, IPEndPoint client, ushort expectedClientPort, IDestinationCheck? check,
        TransportEngine engine, out SocketError error, IPEndPoint? upstreamRelay = null, GssapiMessageProtection? protection = null)
    {
        Socket? socket = null;
        int claimedPort = 0;
        try
        {
            // Out of descriptors (EMFILE) fails here, as a value: the client is answered, the server goes on.
            socket = new Socket(localAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            if (options.PortRange is not { } range)
            {
                socket.Bind(new IPEndPoint(localAddress, 0));
            }
            else if (!ports.TryBind(socket, localAddress, range, out claimedPort, out error))
            {
                socket.Dispose();
                return null;
            }
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            error = e.SocketErrorCode;
            return null;
        }

        var bound = (IPEndPoint)socket.LocalEndPoint!;
        UdpAssociation association;
        try
        {
            association = new UdpAssociation(options, outbound, dns, statistics, timeProvider, bandwidth, Normalize(client.Address), socket, check, engine)
            {
                Announced = new IPEndPoint(options.AdvertiseAddressFor(bound.AddressFamily) ?? bound.Address, bound.Port),
                _ports = ports,
                _claimedPort = claimedPort,
                _upstreamRelay = upstreamRelay is null ? null : new IPEndPoint(Normalize(upstreamRelay.Address), upstreamRelay.Port).Serialize(),
                _protection = protection,
            };
        }
        catch
        {
            // No pump (the engine is stopping): the socket is not left open, nor its port held.
            socket.Dispose();
            if (claimedPort != 0)
            {
                ports.Release(claimedPort);
            }

            throw;
        }

        if (expectedClientPort != 0)
        {
            association._clientSocketAddress = new IPEndPoint(client.Address, expectedClientPort).Serialize();
        }

        error = SocketError.Success;
        return association;
    }

    /// <summary>Relays until <paramref name="cancellationToken"/> ends the association, or its pump faults (<see cref="PumpFaulted"/>).</summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        _cancellationToken = cancellationToken;
        return _pump.RunAsync(cancellationToken);
    }

    int IDatagramRelay.ClientFramingBytes => _protection is null ? 0 : GssapiMessage.HeaderLength + GssapiMessageProtection.MaxWrapOverhead;

    ClientDatagramRoute IDatagramRelay.RouteFromClient(Span<byte> datagram, SocketAddress source)
    {
        if (_protection is not null && !TryUnwrapFromClient(ref datagram, source))
        {
            return ClientDatagramRoute.Dropped;
        }

        if (_upstreamRelay is not null)
        {
            return RouteToUpstream(datagram, source, _upstreamRelay);
        }

        FromClient action = DecideFromClient(datagram, source, out int payloadOffset, out SocketAddress? destination, out Socks5Address? domain, out ushort port);
        return action switch
        {
            FromClient.Forward => RouteTo(destination!, payloadOffset, datagram.Length - payloadOffset),
            FromClient.Resolve => ClientDatagramRoute.ResolveFirst(domain!.Value.DomainName!, port, payloadOffset, datagram.Length - payloadOffset),
            _ => ClientDatagramRoute.Dropped,
        };
    }

    async ValueTask<ClientDatagramRoute> IDatagramRelay.ResolveAsync(ReadOnlyMemory<byte> datagram, ClientDatagramRoute route, CancellationToken cancellationToken)
    {
        if (!route.NeedsResolving)
        {
            return route;
        }

        int payloadOffset = route.PayloadOffset;
        SocketAddress? destination = await ResolveRouteAsync(datagram[3..payloadOffset], route.HostName, route.Port, cancellationToken).ConfigureAwait(false);
        return destination is null ? ClientDatagramRoute.Dropped : RouteTo(destination, payloadOffset, route.PayloadLength);
    }

    void IDatagramRelay.OnSentToDestination(int taken, long takenBytes, int refused)
    {
        if (taken > 0)
        {
            _statistics.CountFromClients(taken);
            Interlocked.Add(ref _bytesUp, takenBytes);
        }

        if (refused > 0)
        {
            _statistics.CountUnroutable(refused);
        }
    }

    void IDatagramRelay.OnSentToClient(int taken, long takenBytes, int refused)
    {
        if (taken > 0)
        {
            _statistics.CountToClients(taken);
            Interlocked.Add(ref _bytesDown, takenBytes);
        }

        if (refused > 0)
        {
            _statistics.CountUnroutable(refused);
        }
    }

    /// <summary>The route of a payload to <paramref name="destination"/>: sent, unless <see cref="OutboundFor"/> drops it.</summary>
    private ClientDatagramRoute RouteTo(SocketAddress destination, int payloadOffset, int payloadLength) =>
        OutboundFor(destination, payloadLength) is { } outbound
            ? ClientDatagramRoute.SendTo(outbound, destination, payloadOffset, payloadLength)
            : ClientDatagramRoute.Dropped;

    /// <summary>What to do with a datagram from the client, as <see cref="DecideFromClient"/> decides.</summary>
    private enum FromClient
    {
        /// <summary>Dropped, and counted: a foreign source, a malformed or fragmented header, a denied destination.</summary>
        Drop,

        /// <summary>Forward the payload to the destination given.</summary>
        Forward,

        /// <summary>Resolve the name given first (<see cref="ResolveRouteAsync"/>), then forward.</summary>
        Resolve,
    }

    /// <summary>
    /// Every decision about a datagram from the client that needs no I/O: its source, its header, its destination from
    /// the route cache or the rules, the counts.
    /// </summary>
    private FromClient DecideFromClient(ReadOnlySpan<byte> datagram, SocketAddress source, out int payloadOffset, out SocketAddress? destination,
        out Socks5Address? domain, out ushort port)
    {
        if (!IsFromClient(source))
        {
            _statistics.CountForeignSource();
            (payloadOffset, destination, domain, port) = (0, null, null, 0);
            return FromClient.Drop;
        }

        Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());
        if (!TryReadHeader(datagram, out payloadOffset, out destination, out domain, out port))
        {
            return FromClient.Drop;
        }

        return destination is null ? FromClient.Resolve : FromClient.Forward;
    }

    /// <summary>
    /// The socket to send a payload of <paramref name="payloadLength"/> bytes to <paramref name="destination"/> on, once
    /// the upload rate allows it; <see langword="null"/> when the datagram is dropped (counted: no route, over the rate).
    /// </summary>
    private Socket? OutboundFor(SocketAddress destination, int payloadLength)
    {
        Socket? outbound = GetDestinationSocket(destination.Family);
        if (outbound is null)
        {
            _statistics.CountUnroutable();
            return null;
        }

        if (_uploadPacer is not null && !_uploadPacer.TryTakeAll(payloadLength))
        {
            _statistics.CountOverRate();
            return null;
        }

        return outbound;
    }

    /// <summary>
    /// For a datagram of <paramref name="payloadLength"/> bytes from a destination, read at
    /// <see cref="DatagramPump.ReplyHeaderRoom"/> in <paramref name="buffer"/>: writes the header naming
    /// <paramref name="source"/> in front of it and returns where the datagram for the client starts, the client's
    /// address, and the bytes it counts as once sent (an upstream's header not counted); -1 when it is dropped (no
    /// client port known yet, or over the download rate, counted).
    /// </summary>
    int IDatagramRelay.PrepareForClient(Span<byte> buffer, int payloadLength, SocketAddress source, out SocketAddress? client, out int length,
        out int countedBytes)
    {
        client = _clientSocketAddress;
        length = 0;
        countedBytes = payloadLength;
        if (client is null)
        {
            return -1;
        }

        int start = _upstreamRelay is not null
            ? PrepareFromUpstream(buffer, payloadLength, source, _upstreamRelay, out countedBytes)
            : PrepareFromDestination(buffer, payloadLength, source);
        if (start < 0)
        {
            return -1;
        }

        length = DatagramPump.ReplyHeaderRoom - start + payloadLength;
        return _protection is null ? start : WrapForClient(buffer, start, ref length, source.Family);
    }

    /// <summary>Writes the header naming <paramref name="source"/> in front of a destination's payload; -1 when dropped.</summary>
    private int PrepareFromDestination(Span<byte> buffer, int payloadLength, SocketAddress source)
    {

        // Activity even when dropped below: the destination is still talking, so the association is not idle.
        Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());
        if (_downloadPacer is not null && !_downloadPacer.TryTakeAll(payloadLength))
        {
            _statistics.CountOverRate();
            return -1;
        }

        SourceHeaders headers = (source.Family == AddressFamily.InterNetwork ? _sourceHeadersV4 : _sourceHeadersV6)!;
        ReadOnlySpan<byte> header = headers.Get(source);
        int start = DatagramPump.ReplyHeaderRoom - header.Length;
        header.CopyTo(buffer[start..]);
        return start;
    }

    /// <summary>
    /// A protected client's datagram (RFC 1961 §5: one MTYP X'03' message whose token wraps the whole SOCKS datagram)
    /// unwrapped in place and moved to the front, so that the rest of the path sees a plain one. False (counted) when it
    /// is foreign, not one message, or does not unwrap: a tampered, replayed or reordered datagram among them.
    /// </summary>
    private bool TryUnwrapFromClient(ref Span<byte> datagram, SocketAddress source)
    {
        if (!IsFromClient(source))
        {
            // Before the unwrap: a stranger's datagram must not cost the context a try.
            _statistics.CountForeignSource();
            return false;
        }

        if (datagram.Length < GssapiMessage.HeaderLength || datagram[0] != GssapiMessage.Version || datagram[1] != (byte)GssapiMessageType.Encapsulation
            || ((datagram[2] << 8) | datagram[3]) != datagram.Length - GssapiMessage.HeaderLength
            || !_protection!.TryUnwrapInPlace(datagram[GssapiMessage.HeaderLength..], out int offset, out int length, out _))
        {
            _statistics.CountMalformed();
            return false;
        }

        datagram.Slice(GssapiMessage.HeaderLength + offset, length).CopyTo(datagram);
        datagram = datagram[..length];
        return true;
    }

    /// <summary>
    /// Wraps the datagram for the client at [<paramref name="start"/>, +<paramref name="length"/>) of
    /// <paramref name="buffer"/> into one MTYP X'03' message, written at its start; -1 (counted) when it cannot be.
    /// </summary>
    private int WrapForClient(Span<byte> buffer, int start, ref int length, AddressFamily family)
    {
        // One loop per destination socket, and one socket per family: each family's writer is only ever used by one.
        PooledBufferWriter writer = family == AddressFamily.InterNetwork ? _wrapWriterV4 ??= new PooledBufferWriter() : _wrapWriterV6 ??= new PooledBufferWriter();
        try
        {
            if (!_protection!.TryWrapMessage(buffer.Slice(start, length), writer, out _) || writer.WrittenCount > buffer.Length)
            {
                _statistics.CountUnroutable();
                return -1;
            }

            writer.WrittenSpan.CopyTo(buffer);
            length = writer.WrittenCount;
            return 0;
        }
        finally
        {
            // An idle association holds no buffer.
            writer.Release();
        }
    }

    private bool IsFromClient(SocketAddress source)
    {
        if (_clientSocketAddress is not null)
        {
            return source.Equals(_clientSocketAddress);
        }

        // No port named in the request: the first datagram from the client's address fixes the port (allocates, once).
        var endPoint = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(source);
        if (!Normalize(endPoint.Address).Equals(_clientAddress))
        {
            return false;
        }

        var locked = new SocketAddress(source.Family, source.Size);
        source.Buffer.Span[..source.Size].CopyTo(locked.Buffer.Span);
        _clientSocketAddress = locked;
        return true;
    }

    /// <summary>Resolves a destination name and remembers the route; <see langword="null"/> (counted) when it does not resolve.</summary>
    private async Task<SocketAddress?> ResolveRouteAsync(ReadOnlyMemory<byte> routeKey, string hostName, ushort port, CancellationToken cancellationToken)
    {
        try
        {
            IPAddress[] addresses = await _dns.ResolveAsync(hostName, cancellationToken).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                _statistics.CountUnroutable();
                return null;
            }

            IPAddress? permitted = FirstPermitted(addresses, hostName, port);
            if (permitted is null)
            {
                _routes.Remember(routeKey.Span, DeniedRoute);
                _statistics.CountDenied();
                return null;
            }

            SocketAddress destination = new IPEndPoint(permitted, port).Serialize();
            _routes.Remember(routeKey.Span, destination);
            return destination;
        }
        catch (SocketException)
        {
            _statistics.CountUnroutable();
            return null;
        }
    }

    /// <summary>
    /// Reads the header. For an IP destination (or a name written as an address, or a name already resolved) returns its
    /// cached address; for a new name, returns the name to resolve. Counts and reports false for a datagram to drop.
    /// </summary>
    private bool TryReadHeader(ReadOnlySpan<byte> datagram, out int headerLength, out SocketAddress? destination, out Socks5Address? domain, out ushort port)
    {
        destination = null;
        domain = null;
        port = 0;
        if (!Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader header, out headerLength, out _))
        {
            _statistics.CountMalformed();
            return false;
        }

        if (header.Fragment != 0)
        {
            // RFC 1928 §7: an implementation that does not support fragmentation must drop any datagram whose FRAG is not 0.
            _statistics.CountFragmented();
            return false;
        }

        ReadOnlySpan<byte> key = datagram[3..headerLength];
        destination = _routes.Find(key);
        if (ReferenceEquals(destination, DeniedRoute))
        {
            _statistics.CountDenied();
            return false;
        }

        if (destination is not null)
        {
            return true;
        }

        port = header.Port;
        Socks5Address named = header.GetDestination();

        // A name written as an address ("0", "::") is that address (issue 17): checked and routed as one, never resolved.
        if (!named.TryGetLiteralIPAddress(out IPAddress? literal))
        {
            domain = named;
            return true;
        }

        IPAddress address = Normalize(literal);
        if (_check is not null && !_check.Permits(AccessCommands.UdpAssociate, null, address, header.Port))
        {
            destination = null;
            _routes.Remember(key, DeniedRoute);
            _statistics.CountDenied();
            return false;
        }

        destination = new IPEndPoint(address, header.Port).Serialize();
        _routes.Remember(key, destination);
        return true;
    }

    /// <summary>The first address of a resolved name that the access rules let this association reach.</summary>
    private IPAddress? FirstPermitted(IPAddress[] addresses, string? name, ushort port)
    {
        foreach (IPAddress resolved in addresses)
        {
            IPAddress address = Normalize(resolved);
            if (_check is null || _check.Permits(AccessCommands.UdpAssociate, name, address, port))
            {
                return address;
            }
        }

        return null;
    }

    private Socket? GetDestinationSocket(AddressFamily family)
    {
        Socket? existing = family == AddressFamily.InterNetwork ? _destinationSocketV4 : _destinationSocketV6;
        if (existing is not null)
        {
            return existing;
        }

        lock (_destinationLock)
        {
            if (_cancellationToken.IsCancellationRequested)
            {
                return null;
            }

            Socket? socket = null;
            try
            {
                socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
                IPAddress any = family == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any;
                socket.Bind(new IPEndPoint(_outbound.For(family) ?? any, 0));
            }
            catch (SocketException)
            {
                // No such family on this host (e.g. IPv6 disabled), or out of descriptors: the datagram is unroutable
                // for now, and the next one tries again.
                socket?.Dispose();
                return null;
            }

            // Its source headers before its first answer can be read.
            if (family == AddressFamily.InterNetwork)
            {
                _sourceHeadersV4 = new SourceHeaders();
                _destinationSocketV4 = socket;
            }
            else
            {
                _sourceHeadersV6 = new SourceHeaders();
                _destinationSocketV6 = socket;
            }

            _pump.AddDestination(socket);
            return socket;
        }
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public void Dispose()
    {
        // The pump lets go of the sockets before they close.
        _pump.Dispose();
        _clientSocket.Dispose();
        lock (_destinationLock)
        {
            _destinationSocketV4?.Dispose();
            _destinationSocketV6?.Dispose();
        }

        // Once the socket is closed, so that the next association to take the port can bind it. Exchanged: a second
        // Dispose gives back nothing.
        int port = Interlocked.Exchange(ref _claimedPort, 0);
        if (port != 0)
        {
            _ports!.Release(port);
        }
    }
}
