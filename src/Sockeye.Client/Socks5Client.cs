using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Gssapi;
using Sockeye.Client.Handshake;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// Opens connections through one proxy, or through a chain of them: CONNECT through SOCKS5, SOCKS4a and HTTP proxies
/// (<see cref="ProxyKind"/>), and BIND and UDP ASSOCIATE (RFC 1928) when the last proxy speaks SOCKS5, with each
/// proxy's credentials where it asks for them.
/// </summary>
/// <remarks>
/// <para>
/// With a chain, the client connects to the first proxy, asks it to CONNECT to the second, negotiates with the second
/// through that tunnel, and so on; the command itself goes to the last proxy. Every proxy but the first is named to
/// the one before it, so a proxy's host name is resolved by the previous hop, not here. Kinds may be mixed: every
/// proxy but the last is only ever asked to CONNECT, which all kinds can (<see cref="ProxyChain"/> runs the same
/// handshakes over a connection the caller opened).
/// </para>
/// <para>
/// Destination names are always sent to the proxy unresolved (ATYP X'03'), as curl's <c>socks5h</c> does: the proxy
/// resolves them and this machine's resolver never sees them. IP literals are sent as addresses.
/// </para>
/// <para>
/// Immutable and thread-safe: one instance can open any number of connections at once. A failed handshake closes its
/// socket before its exception is thrown.
/// </para>
/// </remarks>
public sealed class Socks5Client
{
    private readonly Socks5Proxy[] _proxies;
    private readonly TimeSpan _connectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A client that goes through <paramref name="proxies"/>, in order: one proxy, or a chain.</summary>
    /// <exception cref="ArgumentException">No proxy is given, or one is <see langword="null"/>.</exception>
    public Socks5Client(params IEnumerable<Socks5Proxy> proxies)
    {
        ArgumentNullException.ThrowIfNull(proxies);
        _proxies = [.. proxies];
        if (_proxies.Length == 0)
        {
            throw new ArgumentException("A SOCKS5 client needs at least one proxy.", nameof(proxies));
        }

        if (Array.IndexOf(_proxies, null) >= 0)
        {
            throw new ArgumentException("A proxy of the chain is null.", nameof(proxies));
        }
    }

    /// <summary>The proxies, in the order the client goes through them.</summary>
    public IReadOnlyList<Socks5Proxy> Proxies => _proxies;

    /// <summary>
    /// Time allowed from the first TCP connect to the reply to the command: resolving and reaching the first proxy,
    /// every hop's negotiation, and the proxy's own attempt to reach the destination. For BIND it covers the first
    /// reply only; bound the wait for the peer with <see cref="Socks5BindOperation.AcceptAsync"/>'s token.
    /// </summary>
    /// <remarks>
    /// Defaults to 30 seconds. <see cref="Timeout.InfiniteTimeSpan"/> disables it; then a proxy that never answers
    /// holds the caller until its cancellation token fires.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative (other than infinite).</exception>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        init
        {
            if (value != Timeout.InfiniteTimeSpan)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            }

            _connectTimeout = value;
        }
    }

    /// <summary>The clock behind <see cref="ConnectTimeout"/>.</summary>
    /// <remarks>Defaults to <see cref="TimeProvider.System"/>.</remarks>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Opens a TCP connection to <paramref name="host"/>:<paramref name="port"/> through the proxies (CONNECT).</summary>
    /// <param name="host">An IPv4 or IPv6 literal, sent as an address, or a name, sent unresolved for the proxy to resolve.</param>
    /// <param name="port">The destination port.</param>
    /// <param name="cancellationToken">Cancels the handshake; the socket is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The open connection, with the proxy's BND.ADDR and BND.PORT.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or cannot carry the destination; <see cref="SocksException.Error"/> says which.</exception>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty or a name longer than 255 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public Task<Socks5Connection> ConnectAsync(string host, int port, CancellationToken cancellationToken = default) =>
        ConnectAsync(Destinations.FromHost(host, nameof(host)), port, cancellationToken);

    /// <summary>Opens a TCP connection to <paramref name="address"/>:<paramref name="port"/> through the proxies (CONNECT).</summary>
    /// <param name="address">The destination's IPv4 or IPv6 address.</param>
    /// <param name="port">The destination port.</param>
    /// <param name="cancellationToken">Cancels the handshake; the socket is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The open connection, with the proxy's BND.ADDR and BND.PORT.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or cannot carry the destination; <see cref="SocksException.Error"/> says which.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public Task<Socks5Connection> ConnectAsync(IPAddress address, int port, CancellationToken cancellationToken = default) =>
        ConnectAsync(Destinations.FromIPAddress(address), port, cancellationToken);

    /// <summary>Opens a TCP connection to <paramref name="destination"/>:<paramref name="port"/> through the proxies (CONNECT).</summary>
    /// <param name="destination">The destination as it goes on the wire.</param>
    /// <param name="port">The destination port.</param>
    /// <param name="cancellationToken">Cancels the handshake; the socket is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The open connection, with the proxy's BND.ADDR and BND.PORT.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or cannot carry the destination; <see cref="SocksException.Error"/> says which.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async Task<Socks5Connection> ConnectAsync(Socks5Address destination, int port, CancellationToken cancellationToken = default)
    {
        ushort wirePort = Destinations.ToPort(port, nameof(port));
        Established established = await EstablishAsync(Socks5Command.Connect, destination, wirePort, null, cancellationToken).ConfigureAwait(false);
        return new Socks5Connection(established.Socket, established.Stream, established.Reply.Bound, established.Reply.Port, established.Protection);
    }

    /// <summary>
    /// Asks the last proxy to listen for one incoming connection (BIND), for protocols such as FTP whose server connects
    /// back. Returns once the proxy has announced where it listens (the first reply); tell the peer that address, then
    /// await <see cref="Socks5BindOperation.AcceptAsync"/>.
    /// </summary>
    /// <param name="host">The peer expected to connect (RFC 1928's DST.ADDR): an IP literal or a name. Proxies may refuse anyone else.</param>
    /// <param name="port">The peer's port, if known; 0 otherwise.</param>
    /// <param name="cancellationToken">Cancels the handshake; the socket is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The pending BIND, with the announced address.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or cannot carry the destination; <see cref="SocksException.Error"/> says which.</exception>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty or a name longer than 255 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="NotSupportedException">The last proxy is not a SOCKS5 proxy: only SOCKS5 has BIND. Thrown before any I/O.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public Task<Socks5BindOperation> BindAsync(string host, int port, CancellationToken cancellationToken = default) =>
        BindAsync(Destinations.FromHost(host, nameof(host)), port, cancellationToken);

    /// <summary>Asks the last proxy to listen for one incoming connection from <paramref name="expectedPeer"/> (BIND).</summary>
    /// <param name="expectedPeer">The peer's IP address; <see cref="IPAddress.Any"/> when any peer will do (Sockeye's reading; other proxies may differ).</param>
    /// <param name="port">The peer's port, if known; 0 otherwise.</param>
    /// <param name="cancellationToken">Cancels the handshake; the socket is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The pending BIND, with the announced address.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or cannot carry the destination; <see cref="SocksException.Error"/> says which.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="NotSupportedException">The last proxy is not a SOCKS5 proxy: only SOCKS5 has BIND. Thrown before any I/O.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public Task<Socks5BindOperation> BindAsync(IPAddress expectedPeer, int port, CancellationToken cancellationToken = default) =>
        BindAsync(Destinations.FromIPAddress(expectedPeer), port, cancellationToken);

    /// <summary>Asks the last proxy to listen for one incoming connection from <paramref name="expectedPeer"/> (BIND).</summary>
    /// <param name="expectedPeer">The peer as it goes on the wire.</param>
    /// <param name="port">The peer's port, if known; 0 otherwise.</param>
    /// <param name="cancellationToken">Cancels the handshake; the socket is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The pending BIND, with the announced address.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or cannot carry the destination; <see cref="SocksException.Error"/> says which.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="NotSupportedException">The last proxy is not a SOCKS5 proxy: only SOCKS5 has BIND. Thrown before any I/O.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async Task<Socks5BindOperation> BindAsync(Socks5Address expectedPeer, int port, CancellationToken cancellationToken = default)
    {
        ushort wirePort = Destinations.ToPort(port, nameof(port));
        Established established = await EstablishAsync(Socks5Command.Bind, expectedPeer, wirePort, null, cancellationToken).ConfigureAwait(false);
        return new Socks5BindOperation(established, expectedPeer, wirePort);
    }

    /// <summary>
    /// Opens a UDP association (UDP ASSOCIATE) with the last proxy: a local UDP socket whose datagrams the proxy relays
    /// to any destination, and back. The association lasts as long as its control connection, which the returned
    /// client holds open until it is disposed.
    /// </summary>
    /// <remarks>
    /// The UDP socket is bound next to the control connection (same local address, a free port), and that address is
    /// what the request names, so a proxy that filters datagrams by source lets them through. Through a chain, datagrams
    /// still go straight from this machine to the last proxy's relay, which must therefore be reachable from here and
    /// must accept datagrams from an address other than its control connection's peer.
    /// </remarks>
    /// <param name="cancellationToken">Cancels the handshake; the sockets are closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The association.</returns>
    /// <exception cref="SocksException">A proxy could not be reached, refused, failed or timed out, or announced a relay this client cannot reach.</exception>
    /// <exception cref="NotSupportedException">The last proxy is not a SOCKS5 proxy: only SOCKS5 has UDP ASSOCIATE. Thrown before any I/O.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async Task<Socks5UdpClient> UdpAssociateAsync(CancellationToken cancellationToken = default)
    {
        Socket? udp = null;
        Established? established = null;
        try
        {
            established = await EstablishAsync(Socks5Command.UdpAssociate, default, 0, controlSocket =>
            {
                udp = UdpRelayEndPoints.BindNextTo(controlSocket);
                var local = (IPEndPoint)udp.LocalEndPoint!;
                return (Destinations.FromIPAddress(local.Address), (ushort)local.Port);
            }, cancellationToken).ConfigureAwait(false);
            Established association = established.Value;
            IPEndPoint relay = await UdpRelayEndPoints.ResolveAsync(association.Reply, association.Socket, udp!, association.Last, cancellationToken).ConfigureAwait(false);
            return new Socks5UdpClient(association.Socket, association.Stream, association.LastHopProtection, udp!, relay, association.Last);
        }
        catch
        {
            udp?.Dispose();
            established?.Stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reaches the last proxy (through the others), negotiates with each, and sends the command. The socket (and any
    /// protected stream) is closed before any exception leaves.
    /// </summary>
    /// <remarks>For UDP ASSOCIATE, <c>requestFor</c> names DST once the control connection is open.</remarks>
    private async Task<Established> EstablishAsync(
        Socks5Command command, Socks5Address destination, ushort port, Func<Socket, (Socks5Address, ushort)>? requestFor, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(_connectTimeout, TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        using var handshake = new ProxyHandshake(new HopContext(_proxies[0], 0, _proxies.Length), HandshakeStep.ConnectingToProxy) { ProtectionAllowed = true };
        if (command != Socks5Command.Connect && _proxies[^1].Kind != ProxyKind.Socks5)
        {
            throw SocksErrors.CommandNeedsSocks5(new HopContext(_proxies[^1], _proxies.Length - 1, _proxies.Length), command);
        }

        Socket? socket = null;
        try
        {
            socket = await ConnectToFirstProxyAsync(_proxies[0], linked.Token).ConfigureAwait(false);

            // The handshakes are written over a Stream, so that ProxyChain can run them on a server's own connections.
            // This one owns the socket and becomes the connection's; a hop that grants GSSAPI protection wraps it in a
            // stream (owning it in turn) that the handshake owns until it is taken below.
            var stream = new NetworkStream(socket, ownsSocket: true);
            handshake.Attach(stream);
            await handshake.ReachLastHopAsync(_proxies, linked.Token).ConfigureAwait(false);
            Socks5Reply reply;
            if (command == Socks5Command.Connect)
            {
                reply = await handshake.ConnectAsync(destination, port, linked.Token).ConfigureAwait(false);
            }
            else
            {
                await handshake.NegotiateAsync(linked.Token).ConfigureAwait(false);
                if (requestFor is not null)
                {
                    (destination, port) = requestFor(socket);
                }

                reply = await handshake.RequestAsync(command, destination, port, linked.Token).ConfigureAwait(false);
            }

            GssapiMessageProtection? lastHopProtection = handshake.HopProtectedStream?.Protection;
            GssapiProtectionLevel level = handshake.HopProtectionLevel;
            Stream top = (Stream?)handshake.TakeProtectedStream() ?? stream;
            return new Established(socket, top, reply, handshake.Hop, level, lastHopProtection);
        }
        catch (Exception e)
        {
            // Leave nothing half-open (the runtime's SocksHelper): the socket goes before the exception does (and a
            // protected stream with its GSSAPI context when the handshake is disposed).
            socket?.Dispose();
            SocksException? failure = handshake.Classify(e, timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested, _connectTimeout);
            if (failure is null)
            {
                throw;
            }

            throw failure;
        }
    }

    /// <summary>Tries each address of the first proxy in turn, as the server's CONNECT does for a destination.</summary>
    private static async Task<Socket> ConnectToFirstProxyAsync(Socks5Proxy proxy, CancellationToken cancellationToken)
    {
        IPAddress[] addresses = await proxy.ResolveAsync(cancellationToken).ConfigureAwait(false);
        SocketException? lastError = null;
        foreach (IPAddress candidate in addresses)
        {
            IPAddress address = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, proxy.Port), cancellationToken).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException e)
            {
                socket.Dispose();
                lastError = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw lastError ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>What a handshake leaves: the socket to the first proxy, and the stream over it when a hop granted GSSAPI protection.</summary>
    /// <param name="Socket">The socket to the first proxy.</param>
    /// <param name="Stream">
    /// The stream the connection speaks over, owning the socket: a <see cref="NetworkStream"/>, or the outermost protected
    /// stream (owning the ones under it and their GSSAPI contexts).
    /// </param>
    /// <param name="Reply">The last proxy's (first) reply.</param>
    /// <param name="Last">The last hop.</param>
    /// <param name="Protection">The level the last hop granted.</param>
    /// <param name="LastHopProtection">The last hop's context when it granted protection, for UDP datagrams.</param>
    internal readonly record struct Established(
        Socket Socket, Stream Stream, Socks5Reply Reply, HopContext Last, GssapiProtectionLevel Protection, GssapiMessageProtection? LastHopProtection);
}
