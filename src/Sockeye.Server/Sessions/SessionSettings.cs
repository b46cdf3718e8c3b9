using Sockeye.Protocol.Http;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Sessions;

/// <summary>
/// What a session works with from accept to close, as it was when the session was accepted: the accounts, the access
/// rules, the timeouts and the commands' settings. A reload builds a new one and swaps it in whole
/// (<see cref="SessionServices.Settings"/>); a session keeps the one it started with, so that it never negotiates under
/// one configuration and is checked, timed or connected under another. One object per reload: a session only holds a
/// reference.
/// </summary>
/// <remarks>
/// What sessions share rather than snapshot (the session caps, the per-user bandwidth buckets, the login throttle's
/// records, the DNS cache) is reconfigured in place by a reload; see <see cref="SockeyeServer.Reload"/>.
/// </remarks>
internal sealed class SessionSettings
{
    /// <param name="options">The options to take the settings from; copied, so later changes to them do not leak in.</param>
    /// <param name="users">The accounts; none means clients connect without authentication.</param>
    /// <param name="policy">The access rules in force: the configured ones, or the built-in default.</param>
    /// <param name="connect">CONNECT, with the connect timeout and source addresses of <paramref name="options"/>.</param>
    /// <param name="bind">BIND, with the BIND settings of <paramref name="options"/>.</param>
    /// <param name="maxDatagramBytes">The UDP payload limit the engine was started with (a restart-only setting).</param>
    public SessionSettings(SockeyeServerOptions options, UserDirectory users, AccessPolicy policy, ConnectCommand connect, BindCommand bind, int maxDatagramBytes)
    {
        Users = users;
        Policy = policy;
        Connect = connect;
        Bind = bind;
        HandshakeTimeout = Enabled(options.HandshakeTimeout);
        IdleTimeout = Enabled(options.IdleTimeout);
        UdpIdleTimeout = Enabled(options.Udp.IdleTimeout);
        Udp = new UdpOptions
        {
            AdvertiseAddressV4 = options.Udp.AdvertiseAddressV4,
            AdvertiseAddressV6 = options.Udp.AdvertiseAddressV6,
            PortRange = options.Udp.PortRange,
            IdleTimeout = options.Udp.IdleTimeout,
            MaxDatagramBytes = maxDatagramBytes,
        };
        Outbound = CopyOf(options.Outbound);
        var socks4 = new Socks4Options();
        foreach (string user in options.Socks4.AllowWithUsers)
        {
            socks4.AllowWithUsers.Add(user);
        }

        Socks4 = socks4;
        Http = new HttpProxyOptions
        {
            MaxRequestLineBytes = options.Http.MaxRequestLineBytes,
            MaxHeaderBytes = options.Http.MaxHeaderBytes,
            Via = options.Http.Via,
            Realm = options.Http.Realm,
        };
        HttpLimits = new HttpHeadLimits(options.Http.MaxRequestLineBytes, options.Http.MaxHeaderBytes, MaxHttpFields);
        Gssapi = options.Gssapi is { } gssapi
            ? new GssapiOptions { ServiceName = gssapi.ServiceName, Keytab = gssapi.Keytab, StripRealm = gssapi.StripRealm, MinimumProtection = gssapi.MinimumProtection }
            : null;
    }

    // Generous beside what browsers send (20 to 40), and a bound on the work one head costs.
    private const int MaxHttpFields = 100;

    /// <summary>Settings of HTTP proxy clients.</summary>
    public HttpProxyOptions Http { get; }

    /// <summary>The bounds of an HTTP request or response head, from <see cref="Http"/>.</summary>
    public HttpHeadLimits HttpLimits { get; }

    /// <summary>Settings of SOCKS4 clients: which accounts they may name in USERID.</summary>
    public Socks4Options Socks4 { get; }

    /// <summary>The accounts; none means clients connect without authentication, unless <see cref="Gssapi"/> is on.</summary>
    public UserDirectory Users { get; }

    /// <summary>GSSAPI authentication (RFC 1961); null when it is off.</summary>
    public GssapiOptions? Gssapi { get; }

    /// <summary>
    /// Whether every client must authenticate: accounts are configured, or GSSAPI is on (then a client without either
    /// is refused, SOCKS4 and HTTP clients included, which cannot do GSSAPI).
    /// </summary>
    public bool RequiresAuthentication => Users.RequiresAuthentication || Gssapi is not null;

    /// <summary>The access rules in force: the configured ones, or the built-in default.</summary>
    public AccessPolicy Policy { get; }

    /// <summary>CONNECT, with this configuration's connect timeout and source addresses.</summary>
    public ConnectCommand Connect { get; }

    /// <summary>BIND, with this configuration's advertised address and accept timeout.</summary>
    public BindCommand Bind { get; }

    /// <summary>From accept to a complete request; <see cref="TimeSpan.Zero"/> when disabled.</summary>
    public TimeSpan HandshakeTimeout { get; }

    /// <summary>A tunnel with no data for this long is closed; <see cref="TimeSpan.Zero"/> when disabled.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>A UDP association with no datagram for this long is closed; <see cref="TimeSpan.Zero"/> when disabled.</summary>
    public TimeSpan UdpIdleTimeout { get; }

    /// <summary>UDP ASSOCIATE's settings.</summary>
    public UdpOptions Udp { get; }

    /// <summary>The source addresses of UDP associations' datagrams (CONNECT has its own in <see cref="Connect"/>).</summary>
    public OutboundOptions Outbound { get; }

    /// <summary>A copy of <paramref name="outbound"/>, for a command that keeps it.</summary>
    public static OutboundOptions CopyOf(OutboundOptions outbound) =>
        new() { BindAddressV4 = outbound.BindAddressV4, BindAddressV6 = outbound.BindAddressV6 };

    /// <summary>A copy of <paramref name="bind"/>, for a command that keeps it.</summary>
    public static BindOptions CopyOf(BindOptions bind) =>
        new() { AdvertiseAddress = bind.AdvertiseAddress, AcceptTimeout = bind.AcceptTimeout };

    /// <summary>A copy of <paramref name="authentication"/>, for the login throttle, which keeps it.</summary>
    public static AuthenticationOptions CopyOf(AuthenticationOptions authentication)
    {
        var copy = new AuthenticationOptions
        {
            FailureDelay = authentication.FailureDelay,
            MaxFailureDelay = authentication.MaxFailureDelay,
            MaxFailures = authentication.MaxFailures,
            BanDuration = authentication.BanDuration,
            VerifiedCacheTtl = authentication.VerifiedCacheTtl,
        };
        foreach (System.Net.IPNetwork network in authentication.BanExempt)
        {
            copy.BanExempt.Add(network);
        }

        return copy;
    }

    // Timeout.InfiniteTimeSpan is negative, so it counts as disabled too.
    private static TimeSpan Enabled(TimeSpan timeout) => timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero;
}
