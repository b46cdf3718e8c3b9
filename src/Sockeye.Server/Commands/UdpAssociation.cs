using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Rules;
using Sockeye.Server.Limits;
using Sockeye.Server.Transport;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Commands;

/// <summary>
/// One UDP ASSOCIATE (RFC 1928 §7): a relay socket that takes headed datagrams from one client and forwards their
/// payloads, and sockets toward destinations (one per address family) whose answers go back to the client with a header
/// naming their source. Lives exactly as long as the client's control connection.
/// </summary>
/// <remarks>
/// The datagram path allocates nothing in steady state. On an <see cref="EpollLoop"/> (splice mode on Linux, see
/// UdpAssociation.Polled.cs) datagrams are read into the loop's own buffer; otherwise each awaiting loop holds one pooled
/// buffer for the association's life (a zero-byte receive would consume a datagram, so UDP cannot wait without one), destinations and sources are cached
/// as <see cref="SocketAddress"/>es, and headers are written in place in front of the payload. Datagrams are handled one
/// at a time, so a burst can never grow memory: what the loop has not read waits in the kernel's socket buffer, and what
/// does not fit there is dropped by the kernel. Under a rate limit a datagram whose payload does not fit the session's (and
/// its user's) tokens is dropped and counted, never queued: UDP has no backpressure to wait for.
/// </remarks>
internal sealed partial class UdpAssociation : IDisposable
{
    // Room in front of a received payload for the largest header we write: RSV(2) FRAG ATYP IPv6(16) PORT(2).
    internal const int ReplyHeaderRoom = 3 + 1 + 16 + 2;

    // Stands in the route cache for a destination the access rules deny, so that the rules are asked once per destination.
    private static readonly SocketAddress DeniedRoute = new(AddressFamily.InterNetwork);

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
    private readonly List<Task> _destinationLoops = [];
    private readonly EpollLoop? _loop;
    private Socket? _destinationSocketV4;
    private Socket? _destinationSocketV6;
    private SocketAddress? _clientSocketAddress;
    private long _lastActivityTimestamp;
    private CancellationToken _cancellationToken;

    private UdpAssociation(UdpOptions options, OutboundOptions outbound, DnsCache dns, UdpStatistics statistics, TimeProvider timeProvider,
        SessionBandwidth? bandwidth, IPAddress clientAddress, Socket clientSocket, IDestinationCheck? check, EpollLoop? loop)
    {
        _loop = loop;
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
    }

    /// <summary>The endpoint to put in the reply: the advertised address if configured, else the relay socket's own.</summary>
    public IPEndPoint Announced { get; private init; } = new(IPAddress.Any, 0);

    /// <summary>The relay socket's real endpoint.</summary>
    public IPEndPoint RelayEndPoint => (IPEndPoint)_clientSocket.LocalEndPoint!;

    /// <summary>The <see cref="TimeProvider.GetTimestamp"/> of the last datagram in either direction.</summary>
    public long LastActivityTimestamp => Volatile.Read(ref _lastActivityTimestamp);

    /// <summary>
    /// Opens the relay socket on <paramref name="localAddress"/> (the address the client reached us on). Only datagrams
    /// from <paramref name="client"/>'s address are accepted; from its port too when the request named one (non-zero),
    /// otherwise from the port of the first datagram. Payloads count against <paramref name="bandwidth"/> when it is not null.
    /// With <paramref name="check"/>, each destination is put to the access rules the first time it is seen, and
    /// datagrams to a denied one are dropped and counted. <paramref name="engine"/> pumps the datagrams.
    /// </summary>
    public static UdpAssociation? Open(UdpOptions options, OutboundOptions outbound, DnsCache dns, UdpStatistics statistics, TimeProvider timeProvider,
        SessionBandwidth? bandwidth, IPAddress localAddress, IPEndPoint client, ushort expectedClientPort, IDestinationCheck? check, TransportEngine engine,
        out SocketError error)
    {
        Socket? socket = null;
        try
        {
            // Out of descriptors (EMFILE) fails here, as a value: the client is answered, the server goes on.
            socket = new Socket(localAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(localAddress, 0));
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            error = e.SocketErrorCode;
            return null;
        }

        var bound = (IPEndPoint)socket.LocalEndPoint!;
        EpollLoop? loop = OperatingSystem.IsLinux() && engine is LinuxEngine linux ? linux.NextUdpLoop() : null;
        var association = new UdpAssociation(options, outbound, dns, statistics, timeProvider, bandwidth, Normalize(client.Address), socket, check, loop)
        {
            Announced = new IPEndPoint(options.AdvertiseAddress ?? bound.Address, bound.Port),
        };
        if (expectedClientPort != 0)
        {
            association._clientSocketAddress = new IPEndPoint(client.Address, expectedClientPort).Serialize();
        }

        error = SocketError.Success;
        return association;
    }

    /// <summary>Relays until <paramref name="cancellationToken"/> ends the association.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _cancellationToken = cancellationToken;
        if (_loop is not null && OperatingSystem.IsLinux())
        {
            await RunOnLoopAsync(_loop, cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await ClientLoopAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Task[] loops;
            lock (_destinationLock)
            {
                loops = [.. _destinationLoops];
            }

            await Task.WhenAll(loops).ConfigureAwait(false);
        }
    }

    /// <summary>Client → destination: check the source, parse the header, forward the payload.</summary>
    private async Task ClientLoopAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Socks5Limits.MaxUdpHeaderLength + _options.MaxDatagramBytes);
        var source = new SocketAddress(_clientSocket.AddressFamily);
        try
        {
            while (true)
            {
                int received = await _clientSocket.ReceiveFromAsync(buffer, SocketFlags.None, source, cancellationToken).ConfigureAwait(false);
                FromClient action = DecideFromClient(buffer.AsSpan(0, received), source, out int payloadOffset, out SocketAddress? destination, out Socks5Address? domain, out ushort port);
                if (action == FromClient.Drop)
                {
                    continue;
                }

                // Only a name seen for the first time (or expired from the route cache) costs a call, and maybe a lookup.
                destination ??= await ResolveRouteAsync(buffer.AsMemory(3, payloadOffset - 3), domain!.Value, port, cancellationToken).ConfigureAwait(false);
                if (destination is null || OutboundFor(destination, received - payloadOffset) is not { } outbound)
                {
                    continue;
                }

                try
                {
                    await outbound.SendToAsync(buffer.AsMemory(payloadOffset, received - payloadOffset), SocketFlags.None, destination, cancellationToken).ConfigureAwait(false);
                    _statistics.CountFromClient();
                }
                catch (SocketException)
                {
                    // A destination that answered an earlier datagram with ICMP unreachable, a full send buffer, or no
                    // route: UDP gives no promise of delivery, so the datagram is dropped and the association goes on.
                    _statistics.CountUnroutable();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The control connection ended: so does the association.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while receiving: the association is over.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

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
    /// Every decision about a datagram from the client that needs no I/O, made the same for both pumps (the event loop's
    /// and the awaiting one): its source, its header, its destination from the route cache or the rules, the counts.
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
    /// <see cref="ReplyHeaderRoom"/> in <paramref name="buffer"/>: writes the header naming <paramref name="source"/> in
    /// front of it and returns where the datagram for the client starts, and the client's address; -1 when it is dropped
    /// (no client port known yet, or over the download rate, counted).
    /// </summary>
    private int PrepareForClient(Span<byte> buffer, int payloadLength, SocketAddress source, SourceHeaders headers, out SocketAddress? client)
    {
        client = _clientSocketAddress;
        if (client is null)
        {
            return -1;
        }

        // Activity even when dropped below: the destination is still talking, so the association is not idle.
        Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());
        if (_downloadPacer is not null && !_downloadPacer.TryTakeAll(payloadLength))
        {
            _statistics.CountOverRate();
            return -1;
        }

        ReadOnlySpan<byte> header = headers.Get(source);
        int start = ReplyHeaderRoom - header.Length;
        header.CopyTo(buffer[start..]);
        return start;
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
    private async Task<SocketAddress?> ResolveRouteAsync(ReadOnlyMemory<byte> routeKey, Socks5Address domain, ushort port, CancellationToken cancellationToken)
    {
        try
        {
            IPAddress[] addresses = await _dns.ResolveAsync(domain.DomainName!, cancellationToken).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                _statistics.CountUnroutable();
                return null;
            }

            IPAddress? permitted = FirstPermitted(addresses, domain.DomainName, port);
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

            if (family == AddressFamily.InterNetwork)
            {
                _destinationSocketV4 = socket;
            }
            else
            {
                _destinationSocketV6 = socket;
            }

            if (_loop is not null && OperatingSystem.IsLinux())
            {
                RegisterDestination(_loop, socket);
            }
            else
            {
                _destinationLoops.Add(DestinationLoopAsync(socket, _cancellationToken));
            }

            return socket;
        }
    }

    /// <summary>Destination → client: prefix each datagram with a header naming its source, in place.</summary>
    private async Task DestinationLoopAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReplyHeaderRoom + _options.MaxDatagramBytes);
        var source = new SocketAddress(socket.AddressFamily);
        var headers = new SourceHeaders();
        try
        {
            while (true)
            {
                int received;
                try
                {
                    received = await socket.ReceiveFromAsync(buffer.AsMemory(ReplyHeaderRoom, _options.MaxDatagramBytes), SocketFlags.None, source, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
                {
                    // An ICMP error for an earlier datagram of ours; nothing to relay.
                    continue;
                }

                int start = PrepareForClient(buffer, received, source, headers, out SocketAddress? client);
                if (start < 0)
                {
                    continue;
                }

                try
                {
                    await _clientSocket.SendToAsync(buffer.AsMemory(start, ReplyHeaderRoom - start + received), SocketFlags.None, client!, cancellationToken).ConfigureAwait(false);
                    _statistics.CountToClient();
                }
                catch (SocketException)
                {
                    // The client's port is gone or its buffer is full: UDP drops, the association goes on.
                    _statistics.CountUnroutable();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The association ended.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while receiving: the association is over.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public void Dispose()
    {
        if (OperatingSystem.IsLinux())
        {
            LeaveLoop();
        }

        _clientSocket.Dispose();
        lock (_destinationLock)
        {
            _destinationSocketV4?.Dispose();
            _destinationSocketV6?.Dispose();
        }
    }
}
