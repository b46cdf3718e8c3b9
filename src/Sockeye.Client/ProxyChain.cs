using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Handshake;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// CONNECT through a chain of proxies of any kinds over a connection the caller has already opened to the first one:
/// for a server that reaches its upstream with its own transport and needs only the handshakes run over it.
/// </summary>
/// <remarks>
/// <see cref="Socks5Client"/> uses the same handshakes; this is the part of it that needs no socket of its own.
/// </remarks>
public static class ProxyChain
{
    /// <summary>
    /// Over <paramref name="connection"/>, already open to <c>proxies[0]</c>, has each proxy CONNECT to the next, in its
    /// own protocol, and the last one to <paramref name="destination"/>:<paramref name="port"/>. When the task
    /// completes, <paramref name="connection"/> is a tunnel to the destination.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Nothing is lost: the handshake never reads a byte past the last proxy's answer. SOCKS replies have lengths the
    /// client reads exactly; an HTTP response head is read in reads of a byte or two near its end, so they stop exactly
    /// where the head does. Bytes the destination sends at once (a banner, a greeting) are therefore still in
    /// <paramref name="connection"/> for the caller's first read, and there is no surplus to hand over.
    /// </para>
    /// <para>
    /// Any kind of proxy can stand anywhere in the chain, since CONNECT is all any of them is asked. A SOCKS4a hop
    /// cannot be asked for an IPv6 address, and an HTTP hop not for a name with characters other than a host name's
    /// ASCII ones: either throws a <see cref="SocksException"/> with <see cref="Socks5ReplyCode.AddressTypeNotSupported"/>
    /// before anything is sent to that hop.
    /// </para>
    /// <para>
    /// The connection is the caller's: it is never disposed here, not even on failure. After a failure or a
    /// cancellation its state is unknown (part of a message may have been read or written), so close it. There is no
    /// timeout but <paramref name="cancellationToken"/>, which must be honored by <paramref name="connection"/>'s reads
    /// and writes (<see cref="System.Net.Sockets.NetworkStream"/>'s are).
    /// </para>
    /// </remarks>
    /// <param name="connection">A connection to the first proxy, read and written by nothing else meanwhile.</param>
    /// <param name="proxies">The chain, in order; at least one proxy.</param>
    /// <param name="destination">The destination: an IPv4 or IPv6 address, or a name the last proxy resolves.</param>
    /// <param name="port">The destination port.</param>
    /// <param name="cancellationToken">Stops the handshake; <see cref="OperationCanceledException"/> is thrown.</param>
    /// <returns>A task that completes when the tunnel is open.</returns>
    /// <exception cref="SocksException">
    /// A proxy refused, failed, or sent something unreadable, or the connection closed; <see cref="SocksException.Error"/>
    /// says which, <see cref="SocksException.Proxy"/> which hop, <see cref="SocksException.ReplyCode"/> the SOCKS5 code to
    /// pass on, and <see cref="SocksException.UpstreamStatus"/> a SOCKS4 or HTTP proxy's own answer.
    /// </exception>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> or <paramref name="proxies"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="proxies"/> is empty or holds <see langword="null"/> or a proxy asking for GSSAPI protection above none, or <paramref name="destination"/> is <see langword="default"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static async Task ConnectAsync(
        Stream connection, IReadOnlyList<Socks5Proxy> proxies, Socks5Address destination, ushort port, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        CheckChain(proxies, nameof(proxies));
        CheckNoProtection(proxies, nameof(proxies));
        if (destination.Type is not (Socks5AddressType.IPv4 or Socks5AddressType.IPv6 or Socks5AddressType.DomainName))
        {
            throw new ArgumentException("The destination is not an address or a name.", nameof(destination));
        }

        using var handshake = new ProxyHandshake(new HopContext(proxies[0], 0, proxies.Count), HandshakeStep.Request);
        handshake.Attach(connection);
        try
        {
            await handshake.ReachLastHopAsync(proxies, cancellationToken).ConfigureAwait(false);
            await handshake.ConnectAsync(destination, port, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            SocksException? failure = handshake.Classify(e, timedOut: false, Timeout.InfiniteTimeSpan);
            if (failure is null)
            {
                throw;
            }

            throw failure;
        }
    }

    /// <summary>
    /// Over <paramref name="connection"/>, already open to <c>proxies[0]</c>, has each proxy CONNECT to the next and the
    /// last one, which must speak SOCKS5, open a UDP association (UDP ASSOCIATE, RFC 1928 §7). Returns the relay the last
    /// proxy announced: where to send its headed datagrams. The association lasts as long as
    /// <paramref name="connection"/>, which becomes its control connection: keep it open, and close it to end the association.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The request names 0.0.0.0:0 as the datagrams' source (RFC 1928 §7: the client does not know it yet), so the proxy
    /// takes them from the address of its control connection's peer. A proxy that wants the source named exactly is not served.
    /// </para>
    /// <para>
    /// BND.ADDR is resolved to an address: an address is taken as it is; an unspecified one (0.0.0.0 or ::), which proxies
    /// send to mean "the address you reached me on", becomes <paramref name="firstHopAddress"/> when the chain has one
    /// proxy, and for a longer chain the last proxy's host (its first address, resolved by the system's DNS when it is a
    /// name): only the last hop's own host is known here, not how the first hop reached it. A name is resolved by the
    /// system's DNS, and its first address taken.
    /// </para>
    /// <para>
    /// The connection is the caller's, as for <see cref="ConnectAsync"/>: never disposed here, in an unknown state after a
    /// failure, with no timeout but <paramref name="cancellationToken"/>.
    /// </para>
    /// </remarks>
    /// <param name="connection">A connection to the first proxy, read and written by nothing else meanwhile.</param>
    /// <param name="proxies">The chain, in order; at least one proxy, the last a SOCKS5 one.</param>
    /// <param name="firstHopAddress">The address <paramref name="connection"/> reached the first proxy on.</param>
    /// <param name="cancellationToken">Stops the handshake; <see cref="OperationCanceledException"/> is thrown.</param>
    /// <returns>The relay endpoint of the last proxy (BND.ADDR:BND.PORT, resolved as above).</returns>
    /// <exception cref="SocksException">
    /// A proxy refused, failed, or sent something unreadable, the connection closed, or the announced relay has no port or
    /// does not resolve; <see cref="SocksException.Error"/> says which, <see cref="SocksException.Proxy"/> which hop.
    /// </exception>
    /// <exception cref="NotSupportedException">The last proxy is not a SOCKS5 proxy: only SOCKS5 has UDP ASSOCIATE. Thrown before any I/O.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/>, <paramref name="proxies"/> or <paramref name="firstHopAddress"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="proxies"/> is empty or holds <see langword="null"/> or a proxy asking for GSSAPI protection above none.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static async Task<IPEndPoint> UdpAssociateAsync(
        Stream connection, IReadOnlyList<Socks5Proxy> proxies, IPAddress firstHopAddress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(firstHopAddress);
        CheckChain(proxies, nameof(proxies));
        CheckNoProtection(proxies, nameof(proxies));
        if (proxies[^1].Kind != ProxyKind.Socks5)
        {
            throw SocksErrors.CommandNeedsSocks5(new HopContext(proxies[^1], proxies.Count - 1, proxies.Count), Socks5Command.UdpAssociate);
        }

        using var handshake = new ProxyHandshake(new HopContext(proxies[0], 0, proxies.Count), HandshakeStep.Request);
        handshake.Attach(connection);
        Socks5Reply reply;
        try
        {
            await handshake.ReachLastHopAsync(proxies, cancellationToken).ConfigureAwait(false);
            await handshake.NegotiateAsync(cancellationToken).ConfigureAwait(false);
            reply = await handshake.RequestAsync(Socks5Command.UdpAssociate, Destinations.FromIPAddress(IPAddress.Any), 0, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            SocksException? failure = handshake.Classify(e, timedOut: false, Timeout.InfiniteTimeSpan);
            if (failure is null)
            {
                throw;
            }

            throw failure;
        }

        return await ResolveRelayAsync(reply, handshake.Hop, firstHopAddress, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IPEndPoint> ResolveRelayAsync(Socks5Reply reply, HopContext hop, IPAddress firstHopAddress, CancellationToken cancellationToken)
    {
        if (reply.Port == 0)
        {
            throw SocksErrors.UnreachableRelay(hop, reply.Bound.ToString(reply.Port), "has no port");
        }

        IPAddress[] candidates;
        if (reply.Bound.TryGetIPAddress(out IPAddress? announced))
        {
            candidates = !announced.Equals(IPAddress.Any) && !announced.Equals(IPAddress.IPv6Any) ? [announced]
                : hop.Count == 1 ? [firstHopAddress]
                : await hop.Proxy.ResolveAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            try
            {
                candidates = await Dns.GetHostAddressesAsync(reply.Bound.DomainName!, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw SocksErrors.UnreachableRelay(hop, reply.Bound.ToString(reply.Port), $"does not resolve ({e.SocketErrorCode})");
            }
        }

        if (candidates.Length == 0)
        {
            throw SocksErrors.UnreachableRelay(hop, reply.Bound.ToString(reply.Port), "has no address");
        }

        IPAddress address = candidates[0].IsIPv4MappedToIPv6 ? candidates[0].MapToIPv4() : candidates[0];
        return new IPEndPoint(address, reply.Port);
    }

    /// <summary>
    /// GSSAPI protection above none wraps every later byte (RFC 1961 §5), and the caller here keeps reading and writing
    /// its own stream, which knows nothing of it: only level none can be asked. (A proxy that grants more anyway is
    /// aborted with <see cref="SocksError.ProtectionLevelRefused"/>.)
    /// </summary>
    /// <exception cref="ArgumentException">A proxy asks for GSSAPI protection above none.</exception>
    private static void CheckNoProtection(IReadOnlyList<Socks5Proxy> proxies, string parameterName)
    {
        for (int i = 0; i < proxies.Count; i++)
        {
            if (proxies[i].Gssapi is { ProtectionLevel: not Protocol.Gssapi.GssapiProtectionLevel.None })
            {
                throw new ArgumentException(
                    $"Proxy {i + 1} of the chain ({proxies[i]}) asks for GSSAPI protection {proxies[i].Gssapi!.ProtectionLevel}, which ProxyChain cannot carry: "
                    + "it returns no stream to wrap the tunnel's bytes in. Ask for GssapiProtectionLevel.None, or use Socks5Client.", parameterName);
            }
        }
    }

    /// <exception cref="ArgumentNullException"><paramref name="proxies"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="proxies"/> is empty or holds <see langword="null"/>.</exception>
    internal static void CheckChain(IReadOnlyList<Socks5Proxy> proxies, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(proxies, parameterName);
        if (proxies.Count == 0)
        {
            throw new ArgumentException("A chain needs at least one proxy.", parameterName);
        }

        for (int i = 0; i < proxies.Count; i++)
        {
            if (proxies[i] is null)
            {
                throw new ArgumentException($"Proxy {i + 1} of the chain is null.", parameterName);
            }
        }
    }
}
