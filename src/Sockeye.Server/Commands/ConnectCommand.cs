using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Rules;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>
/// CONNECT: resolves the destination and tries each of its addresses in turn, all within one connect timeout,
/// and reports the outcome as the reply code that matches what really happened.
/// </summary>
internal sealed partial class ConnectCommand
{
    private readonly TransportEngine _engine;
    private readonly DnsCache _resolver;
    private readonly OutboundOptions _outbound;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;
    private readonly DescriptorBudget _descriptors;

    /// <param name="engine">Makes the connections.</param>
    /// <param name="resolver">Resolves destination names.</param>
    /// <param name="timeout">For the whole CONNECT, over all of a name's addresses.</param>
    /// <param name="outbound">The source addresses of connections.</param>
    /// <param name="timeProvider">The clock of the timeout and of Happy Eyeballs' delays.</param>
    /// <param name="descriptors">
    /// Where a race's extra attempts take their descriptors from: the session's budget covers one socket, and a name with
    /// many addresses that never answer would otherwise hold one per address until the timeout.
    /// </param>
    /// <param name="logger">Where failing upstream routes are reported (at most once per interval); null for nowhere.</param>
    public ConnectCommand(TransportEngine engine, DnsCache resolver, TimeSpan timeout, OutboundOptions outbound, TimeProvider timeProvider, DescriptorBudget? descriptors = null,
        Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _upstreamFailures = new Diagnostics.LogGate(timeProvider, Diagnostics.LogGate.DefaultInterval);
        _engine = engine;
        _outbound = outbound;
        _resolver = resolver;
        _timeout = timeout;
        _timeProvider = timeProvider;
        _descriptors = descriptors ?? DescriptorBudget.Unlimited;
    }

    /// <summary>RFC 8305 §5: the recommended delay before the next address's attempt starts.</summary>
    private static readonly TimeSpan ConnectionAttemptDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Connects to <paramref name="destination"/>. With <paramref name="check"/>, the addresses a name resolves to are
    /// first put to the access rules: denied ones are never contacted, and when none is left the result is X'02'. The
    /// connection is made near <paramref name="client"/> (on its event loop, where the engine has loops).
    /// </summary>
    public async Task<ConnectResult> ConnectAsync(Socks5Address destination, ushort port, IDestinationCheck? check, TunnelSocket? client, CancellationToken cancellationToken,
        RouteOptions? egress = null)
    {
        using var timeout = new CancellationTokenSource(_timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            // A name written as an address is that address (issue 17): never resolved, and judged by the rules as one.
            IPAddress[] addresses = destination.TryGetLiteralIPAddress(out IPAddress? literal)
                ? [literal]
                : await _resolver.ResolveAsync(destination.DomainName!, linked.Token).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                return ConnectResult.Failed(SocketError.HostNotFound);
            }

            if (check is not null)
            {
                addresses = Permitted(addresses, literal is null ? destination.DomainName : null, port, check);
                if (addresses.Length == 0)
                {
                    return ConnectResult.Denied;
                }
            }

            if (addresses.Length == 1)
            {
                // The common case (an IP destination, or a name with one address) needs no race.
                return await ConnectOneAsync(addresses[0], port, client, egress, linked.Token).ConfigureAwait(false) switch
                {
                    (TunnelSocket socket, _) => ConnectResult.Connected(socket),
                    (null, SocketError error) => ConnectResult.Failed(error),
                };
            }

            return await RaceAsync(Interleave(addresses), port, client, egress, linked.Token).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            // Only the resolver gets here: connect errors are caught per address above.
            return ConnectResult.Failed(e.SocketErrorCode);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return ConnectResult.Failed(SocketError.TimedOut);
        }
    }

    /// <summary>
    /// Starts the common CONNECT the fast way, where it applies: an IP destination (or a name written as one), on an
    /// engine that can connect without a task or timer (<see cref="TransportEngine.TryStartConnect"/>): no resolver, no
    /// race, nothing allocated beyond the socket. Returns <see langword="false"/> when the destination needs
    /// <see cref="ConnectAsync"/> (a name to resolve, or an engine without a fast path).
    /// </summary>
    public bool TryStartFast(Socks5Address destination, ushort port, IDestinationCheck? check, TunnelSocket client, out ConnectAttempt attempt)
    {
        attempt = default;
        if (!destination.TryGetLiteralIPAddress(out IPAddress? address))
        {
            return false;
        }

        if (check is not null && !check.Permits(AccessCommands.Connect, null, address, port))
        {
            attempt = ConnectAttempt.Decided(ConnectResult.Denied);
            return true;
        }

        // An IPv4-mapped IPv6 address would fail on an IPv6-only socket; it is an IPv4 destination.
        IPAddress target = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (!_engine.TryStartConnect(new IPEndPoint(target, port), _outbound.For(target.AddressFamily), _timeout, client, out PendingConnect pending))
        {
            return false;
        }

        attempt = ConnectAttempt.Started(pending);
        return true;
    }

    private static IPAddress[] Permitted(IPAddress[] addresses, string? name, ushort port, IDestinationCheck check)
    {
        // The resolver's array may be shared by the DNS cache: filter into a new one rather than in place.
        var permitted = new List<IPAddress>(addresses.Length);
        foreach (IPAddress address in addresses)
        {
            if (check.Permits(AccessCommands.Connect, name, address, port))
            {
                permitted.Add(address);
            }
        }

        return permitted.Count == addresses.Length ? addresses : [.. permitted];
    }

    /// <summary>
    /// Happy Eyeballs (RFC 8305): starts the first address, then the next one each 250 ms or as soon as an attempt fails,
    /// and keeps the first connection that succeeds; the others are cancelled and closed. A destination with a dead
    /// IPv6 address is then reached over IPv4 a quarter second later, not after the whole connect timeout.
    /// </summary>
    private async Task<ConnectResult> RaceAsync(IPAddress[] addresses, ushort port, TunnelSocket? client, RouteOptions? egress, CancellationToken cancellationToken)
    {
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var attempts = new List<Task<(TunnelSocket? Socket, SocketError Error)>>(addresses.Length);
        SocketError lastError = SocketError.HostUnreachable;
        int next = 0;

        // Descriptors taken from the budget for attempts beyond the first, which the session's own budget covers.
        int extraDescriptors = 0;
        try
        {
            while (true)
            {
                // An attempt beyond the first waits for a descriptor of the budget's, or for an attempt to end.
                if (next < addresses.Length && (attempts.Count == 0 || _descriptors.TryTake(1)))
                {
                    extraDescriptors += attempts.Count == 0 ? 0 : 1;
                    attempts.Add(ConnectOneAsync(addresses[next++], port, client, egress, race.Token));
                }

                Task delay = next < addresses.Length ? Task.Delay(ConnectionAttemptDelay, _timeProvider, race.Token) : Task.Delay(Timeout.Infinite, race.Token);
                Task finished = await Task.WhenAny([.. attempts, delay]).ConfigureAwait(false);
                if (finished == delay)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }

                var attempt = (Task<(TunnelSocket? Socket, SocketError Error)>)finished;
                attempts.Remove(attempt);
                (TunnelSocket? socket, SocketError error) = await attempt.ConfigureAwait(false);
                if (socket is not null)
                {
                    return ConnectResult.Connected(socket);
                }

                if (extraDescriptors > 0)
                {
                    // The failed attempt's socket is closed: the next one may have its descriptor.
                    _descriptors.Give(1);
                    extraDescriptors--;
                }

                lastError = error;
                if (attempts.Count == 0 && next == addresses.Length)
                {
                    return ConnectResult.Failed(lastError);
                }
            }
        }
        finally
        {
            // Close the attempts that lost, including any that connected in the same instant as the winner.
            await race.CancelAsync().ConfigureAwait(false);
            foreach (Task<(TunnelSocket? Socket, SocketError Error)> loser in attempts)
            {
                (TunnelSocket? socket, _) = await loser.ConfigureAwait(false);
                socket?.Close();
            }

            // Every socket but the winner's is closed now; the winner's is the session's own.
            _descriptors.Give(extraDescriptors);
        }
    }

    /// <summary>One connection attempt; a failure is a value, so a race can weigh it against the others.</summary>
    private Task<(TunnelSocket? Socket, SocketError Error)> ConnectOneAsync(IPAddress candidate, ushort port, TunnelSocket? client, RouteOptions? egress,
        CancellationToken cancellationToken)
    {
        // An IPv4-mapped IPv6 address would fail on an IPv6-only socket; it is an IPv4 destination.
        IPAddress target = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
        IPAddress? source = egress?.BindAddressFor(target.AddressFamily) ?? _outbound.For(target.AddressFamily);
        return _engine.ConnectAsync(new IPEndPoint(target, port), source, client, cancellationToken, egress?.Interface);
    }

    /// <summary>RFC 8305 §4: IPv6 first, then the families alternate, each keeping the resolver's order.</summary>
    private static IPAddress[] Interleave(IPAddress[] addresses)
    {
        var v6 = new Queue<IPAddress>();
        var v4 = new Queue<IPAddress>();
        foreach (IPAddress address in addresses)
        {
            (address.AddressFamily == AddressFamily.InterNetworkV6 && !address.IsIPv4MappedToIPv6 ? v6 : v4).Enqueue(address);
        }

        var ordered = new IPAddress[addresses.Length];
        for (int i = 0; i < ordered.Length; i++)
        {
            bool takeV6 = v6.Count > 0 && (i % 2 == 0 || v4.Count == 0);
            ordered[i] = takeV6 ? v6.Dequeue() : v4.Dequeue();
        }

        return ordered;
    }
}
