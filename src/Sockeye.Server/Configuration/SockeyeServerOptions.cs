using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Configuration;

/// <summary>Everything a <see cref="SockeyeServer"/> needs to know. Validate with <see cref="SockeyeServerOptionsValidator"/>.</summary>
public sealed class SockeyeServerOptions
{
    /// <summary>The endpoints to accept SOCKS5 clients on. Port 0 asks the OS for a free port.</summary>
    /// <remarks>Defaults to none; the <c>sockeye</c> executable adds 127.0.0.1:1080 when none is configured.</remarks>
    public IList<IPEndPoint> Listeners { get; } = new List<IPEndPoint>();

    /// <summary>The accounts allowed to use the proxy. When any is configured, clients must authenticate (RFC 1929).</summary>
    /// <remarks>Defaults to none: no authentication. Anyone who can reach a listener can then use the proxy.</remarks>
    public IList<SockeyeUser> Users { get; } = new List<SockeyeUser>();

    /// <summary>Time a client has, from accept to a complete request, before it is disconnected.</summary>
    /// <remarks>Defaults to 10 seconds. <see cref="Timeout.InfiniteTimeSpan"/> disables it; then half-open handshakes hold sockets forever.</remarks>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time allowed to resolve a destination and connect to it, over all of its addresses.</summary>
    /// <remarks>Defaults to 10 seconds. When it runs out the client gets reply X'06' (TTL expired).</remarks>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a destination name's addresses are reused, for CONNECT and UDP alike, before it is resolved again. The
    /// system resolver does not report DNS TTLs, so this is the cap applied to every answer; failures are not cached.
    /// </summary>
    /// <remarks>Defaults to 60 seconds. <see cref="TimeSpan.Zero"/> resolves every time.</remarks>
    public TimeSpan DnsCacheTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A tunnel with no data in either direction for this long is closed.</summary>
    /// <remarks>Defaults to 5 minutes. <see cref="TimeSpan.Zero"/> or <see cref="Timeout.InfiniteTimeSpan"/> disables it.</remarks>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>On shutdown, how long open tunnels may go on before they are closed.</summary>
    /// <remarks>Defaults to 10 seconds.</remarks>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The accept backlog of each listener.</summary>
    /// <remarks>Defaults to 512.</remarks>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>The size of the pooled buffer each direction of a busy tunnel uses. An idle tunnel holds none.</summary>
    /// <remarks>Defaults to 64 KiB, the size YARP's stream copier settled on; issue 5's benchmark will revisit it.</remarks>
    public int RelayBufferBytes { get; set; } = 64 * 1024;

    /// <summary>The engine under the sessions: Sockeye's own event loops with splice(2) on Linux, or the runtime's sockets.</summary>
    /// <remarks>Defaults to <see cref="RelayEngine.Auto"/>: the Linux engine on Linux, the portable one elsewhere.</remarks>
    public RelayEngine RelayEngine { get; set; } = RelayEngine.Auto;

    /// <summary>
    /// The window an event-loop thread may poll for its next event, after it has handled some, before it sleeps in
    /// epoll_wait(2). Only the Linux engine's loops poll (TCP sessions and UDP associations).
    /// </summary>
    /// <remarks>
    /// Defaults to <see cref="DefaultEventLoopPoll"/> (40 µs). <see cref="TimeSpan.Zero"/> sleeps at once. Polling saves
    /// the wake-up a sleeping thread pays for its next event, which on a virtual machine costs tens of microseconds of
    /// latency, at the price of CPU time for as long as it polls. So a loop polls only while it spends at least half its
    /// time handling events (a bulk stream, a busy loop; a lone client's round trips leave it mostly waiting) and
    /// nearly every recent gap between its events ended within the window, and sleeps when they do not (a light or
    /// paced load, whose polls would mostly run out), or when its batches often hold several events (a concurrent load,
    /// which a sleeping loop serves several events per wake-up): docs/performance-notes.md, "Polling before sleep". At
    /// most 10 ms.
    /// </remarks>
    public TimeSpan EventLoopPoll { get; set; } = DefaultEventLoopPoll;

    /// <summary>The default of <see cref="EventLoopPoll"/>: 40 µs.</summary>
    public static TimeSpan DefaultEventLoopPoll { get; } = TimeSpan.FromMicroseconds(40);

    /// <summary>
    /// Whether the meter also publishes each user's sessions and bytes (<c>sockeye.user.sessions</c>,
    /// <c>sockeye.user.bytes</c>, tagged <c>sockeye.user</c>). Off by default: every configured account becomes a series,
    /// and that cardinality is the operator's choice. <see cref="SockeyeServer.GetStatus"/> reports users either way.
    /// Set when the server is created.
    /// </summary>
    public bool PerUserMetrics { get; set; }

    /// <summary>
    /// Access rules, checked in order for every CONNECT, BIND peer and UDP datagram: the first rule that matches decides,
    /// and a request no rule matches is denied with reply X'02'.
    /// </summary>
    /// <remarks>
    /// Defaults to none, which means the built-in rules of <see cref="GetEffectiveRules()"/>: everything allowed, except
    /// loopback, link-local and unspecified destinations and the proxy host's own addresses while any listener is on a
    /// non-loopback address.
    /// </remarks>
    public IList<AccessRule> Rules { get; } = new List<AccessRule>();

    /// <summary>
    /// The listeners, by their endpoint as <see cref="Listeners"/> gives it, that sit behind a load balancer speaking the
    /// PROXY protocol, and the balancers they trust. A listener not in this map reads SOCKS5 from its first byte.
    /// </summary>
    public IDictionary<IPEndPoint, ProxyProtocolOptions> ProxyProtocol { get; } = new Dictionary<IPEndPoint, ProxyProtocolOptions>();

    /// <summary>
    /// The protocols each listener speaks, by its endpoint as <see cref="Listeners"/> gives it. A listener not in this map
    /// speaks what <see cref="ListenerProtocolDefaults.For"/> says: all of them on loopback, SOCKS5 alone elsewhere.
    /// </summary>
    public IDictionary<IPEndPoint, ListenerProtocols> Protocols { get; } = new Dictionary<IPEndPoint, ListenerProtocols>();

    /// <summary>Settings of SOCKS4 and SOCKS4a clients.</summary>
    public Socks4Options Socks4 { get; } = new();

    /// <summary>Settings of HTTP proxy clients.</summary>
    public HttpProxyOptions Http { get; } = new();

    /// <summary>The source addresses of the server's own connections to destinations.</summary>
    public OutboundOptions Outbound { get; } = new();

    /// <summary>
    /// GSSAPI authentication (RFC 1961) with Kerberos; null (the default) turns it off. When set, SOCKS5 clients that
    /// offer X'01' use it; NO AUTHENTICATION REQUIRED is then never accepted, whether users are configured or not.
    /// </summary>
    public GssapiOptions? Gssapi { get; set; }

    /// <summary>Login throttling and bans for failed RFC 1929 authentication.</summary>
    public AuthenticationOptions Authentication { get; } = new();

    /// <summary>Caps on handshakes and sessions held at once.</summary>
    public LimitsOptions Limits { get; } = new();

    /// <summary>Settings of the BIND command.</summary>
    public BindOptions Bind { get; } = new();

    /// <summary>Settings of the UDP ASSOCIATE command.</summary>
    public UdpOptions Udp { get; } = new();

    /// <summary>
    /// The rules the server applies: <see cref="Rules"/> when any are configured. Otherwise the built-in default, which
    /// allows everything but, as soon as a listener is on a non-loopback address, first denies destinations in the
    /// loopback, link-local and unspecified ranges, then the proxy host's own addresses (every unicast address of every
    /// interface, IPv4 and IPv6, in IPv4-mapped form too). So a client on the network cannot use the proxy to reach a
    /// service on the proxy host, whether it listens on loopback or on every address behind a firewall that only keeps
    /// out traffic from elsewhere, nor a cloud metadata endpoint (server-side request forgery). A name is judged by each
    /// address it resolves to. BIND peers are not affected.
    /// </summary>
    /// <remarks>
    /// The rules returned hold the host's addresses as they are at the call. A running server keeps its own copy current:
    /// it lists them again whenever the system reports an address change, and every 30 seconds in case it does not.
    /// </remarks>
    public IReadOnlyList<AccessRule> GetEffectiveRules()
    {
        var hostAddresses = new HostAddresses(SystemHostAddressProvider.Instance, TimeProvider.System, NullLogger.Instance);
        if (UsesHostAddresses(Listeners))
        {
            hostAddresses.Refresh();
        }

        return GetEffectiveRules(Listeners, hostAddresses);
    }

    /// <summary>As <see cref="GetEffectiveRules()"/>, with the host's addresses those <paramref name="hostAddresses"/> holds whenever a rule is checked.</summary>
    internal IReadOnlyList<AccessRule> GetEffectiveRules(HostAddresses hostAddresses) => GetEffectiveRules(Listeners, hostAddresses);

    /// <summary>As <see cref="GetEffectiveRules(HostAddresses)"/>, with the built-in rules chosen for <paramref name="listeners"/>.</summary>
    internal IReadOnlyList<AccessRule> GetEffectiveRules(IEnumerable<IPEndPoint> listeners, HostAddresses hostAddresses)
    {
        if (Rules.Count > 0)
        {
            var rules = new List<AccessRule>(Rules.Count);
            foreach (AccessRule rule in Rules)
            {
                rules.Add(rule.BindHostAddresses(hostAddresses));
            }

            return rules;
        }

        var allowAll = new AccessRule { Action = AccessAction.Allow, Name = "built-in: allow the rest" };
        if (!GuardsLocalDestinations(listeners))
        {
            return [allowAll];
        }

        // BIND is left out: its "destination" is a peer that chose to connect to the client, not a service the client
        // reaches through the proxy.
        const AccessCommands Guarded = AccessCommands.Connect | AccessCommands.UdpAssociate;
        var localDestinations = new AccessRule { Action = AccessAction.Deny, Name = "built-in: local destinations", Commands = Guarded, Log = true };
        foreach (string network in GuardedNetworks)
        {
            localDestinations.Destinations.Add(DestinationPattern.ForNetwork(IPNetwork.Parse(network)));
        }

        // A service bound to the wildcard address answers on the host's LAN address as well as on loopback, and a
        // firewall that filters what comes from outside never sees the proxy connecting to its own host (issue 17).
        var hostDestinations = new AccessRule { Action = AccessAction.Deny, Name = "built-in: this host's addresses", Commands = Guarded, Log = true };
        hostDestinations.Destinations.Add(DestinationPattern.ForHostAddresses(hostAddresses));
        return [localDestinations, hostDestinations, allowAll];
    }

    /// <summary>
    /// Whether the rules in force with <paramref name="listeners"/> need the host's addresses: configured rules that name
    /// <c>@host</c>, or the built-in ones beyond loopback.
    /// </summary>
    internal bool UsesHostAddresses(IEnumerable<IPEndPoint> listeners)
    {
        if (Rules.Count == 0)
        {
            return GuardsLocalDestinations(listeners);
        }

        foreach (AccessRule rule in Rules)
        {
            foreach (DestinationPattern destination in rule.Destinations)
            {
                if (destination.IsThisHost)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Whether the built-in rules guard local destinations: whether any of <paramref name="listeners"/> is beyond loopback.</summary>
    internal static bool GuardsLocalDestinations(IEnumerable<IPEndPoint> listeners)
    {
        foreach (IPEndPoint listener in listeners)
        {
            if (listener is not null && !IPAddress.IsLoopback(listener.Address))
            {
                return true;
            }
        }

        return false;
    }

    // Loopback, link-local (169.254.169.254 is the cloud metadata service) and "this network"/unspecified, which
    // Linux treats as the local host: 0.0.0.0 and :: connect to the proxy's own loopback services.
    private static readonly string[] GuardedNetworks = ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128"];

    /// <summary>The fewest PBKDF2 iterations a <see cref="SockeyeUser.PasswordHash"/> may use. Only tests lower it, to hash fast.</summary>
    internal int MinHashIterations { get; set; } = Sockeye.Server.Authentication.PasswordHash.MinIterations;
}
