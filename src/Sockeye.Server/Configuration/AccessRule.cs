using System.Net;
using System.Text;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Configuration;

/// <summary>What an <see cref="AccessRule"/> does with the requests it matches.</summary>
public enum AccessAction
{
    /// <summary>The request goes ahead.</summary>
    Allow,

    /// <summary>The request is refused with reply X'02' (connection not allowed by ruleset).</summary>
    Deny,
}

/// <summary>The SOCKS commands an <see cref="AccessRule"/> applies to.</summary>
[Flags]
public enum AccessCommands
{
    /// <summary>No command: a rule with this matches nothing.</summary>
    None = 0,

    /// <summary>CONNECT; the destination is the requested one, checked again on every address a name resolves to.</summary>
    Connect = 1,

    /// <summary>BIND; the destination is the peer that connects to the announced port.</summary>
    Bind = 2,

    /// <summary>UDP ASSOCIATE; the destination is that of each datagram the client sends.</summary>
    UdpAssociate = 4,

    /// <summary>Every command.</summary>
    All = Connect | Bind | UdpAssociate,
}

/// <summary>
/// One access rule. The server checks its rules in order and the first that matches a request decides it; a request no
/// rule matches is denied. Every condition left empty matches anything, so <c>new AccessRule { Action = Allow }</c>
/// allows everything that reaches it.
/// </summary>
public sealed class AccessRule
{
    /// <summary>Allow or deny.</summary>
    public AccessAction Action { get; set; }

    /// <summary>An optional label, shown in logs and by <c>sockeye check-config</c> next to the rule's number.</summary>
    public string? Name { get; set; }

    /// <summary>The client addresses the rule applies to. Empty: every client.</summary>
    public IList<IPNetwork> Clients { get; } = new List<IPNetwork>();

    /// <summary>
    /// The authenticated users the rule applies to. When both this and <see cref="Anonymous"/> are empty the rule applies
    /// to every client, authenticated or not.
    /// </summary>
    public IList<string> Users { get; } = new List<string>();

    /// <summary>Whether the rule applies to clients that did not authenticate (NO AUTH), besides the <see cref="Users"/>.</summary>
    public bool Anonymous { get; set; }

    /// <summary>The commands the rule applies to.</summary>
    /// <remarks>Defaults to <see cref="AccessCommands.All"/>.</remarks>
    public AccessCommands Commands { get; set; } = AccessCommands.All;

    /// <summary>Destination networks, exact names and <c>*.suffix</c> wildcards. Empty: every destination.</summary>
    public IList<DestinationPattern> Destinations { get; } = new List<DestinationPattern>();

    /// <summary>Destination ports and port ranges. Empty: every port.</summary>
    public IList<PortRange> Ports { get; } = new List<PortRange>();

    /// <summary>Whether each request this rule decides is logged at Information level (event 3007).</summary>
    public bool Log { get; set; }

    /// <summary>
    /// How the destinations this rule allows are reached: onward through upstream proxies, from a chosen address or
    /// interface, with a fallback. <see langword="null"/> (the default): directly, with <see cref="SockeyeServerOptions.Outbound"/>'s
    /// source addresses. Only an allow rule has one.
    /// </summary>
    /// <remarks>
    /// A rule chooses a route for a destination it matches as the client sent it (a name, or an address). A name sent
    /// to an upstream is never resolved here, so a rule that matches by address (such as the SSRF guard's) cannot judge
    /// it: the upstream resolves it.
    /// </remarks>
    public RouteOptions? Route { get; set; }

    /// <summary>The rule on one line, in the words of the configuration file.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Action == AccessAction.Allow ? "allow" : "deny ");
        text.Append("  commands ").Append(Commands == AccessCommands.All ? "any" : DescribeCommands(Commands));
        text.Append("  clients ").Append(Clients.Count == 0 ? "any" : string.Join(", ", Clients));
        text.Append("  users ").Append(DescribeUsers());
        text.Append("  destinations ").Append(Destinations.Count == 0 ? "any" : string.Join(", ", Destinations));
        text.Append("  ports ").Append(Ports.Count == 0 ? "any" : string.Join(", ", Ports));
        if (Log)
        {
            text.Append("  log");
        }

        if (Route is not null)
        {
            text.Append("  route ").Append(Route);
        }

        return text.ToString();
    }

    private string DescribeUsers()
    {
        if (Users.Count == 0)
        {
            return Anonymous ? "anonymous" : "any";
        }

        string names = string.Join(", ", Users);
        return Anonymous ? names + ", anonymous" : names;
    }

    private static string DescribeCommands(AccessCommands commands)
    {
        var names = new List<string>(3);
        if ((commands & AccessCommands.Connect) != 0)
        {
            names.Add("connect");
        }

        if ((commands & AccessCommands.Bind) != 0)
        {
            names.Add("bind");
        }

        if ((commands & AccessCommands.UdpAssociate) != 0)
        {
            names.Add("udp");
        }

        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    /// <summary>
    /// This rule, or when it names <c>@host</c> a copy whose <c>@host</c> matches the addresses
    /// <paramref name="hostAddresses"/> holds whenever it is checked.
    /// </summary>
    internal AccessRule BindHostAddresses(HostAddresses hostAddresses)
    {
        bool namesHost = false;
        foreach (DestinationPattern destination in Destinations)
        {
            namesHost |= destination.IsThisHost && destination.HostAddresses is null;
        }

        if (!namesHost)
        {
            return this;
        }

        var bound = new AccessRule { Action = Action, Name = Name, Anonymous = Anonymous, Commands = Commands, Log = Log };
        foreach (IPNetwork client in Clients)
        {
            bound.Clients.Add(client);
        }

        foreach (string user in Users)
        {
            bound.Users.Add(user);
        }

        foreach (PortRange range in Ports)
        {
            bound.Ports.Add(range);
        }

        foreach (DestinationPattern destination in Destinations)
        {
            bound.Destinations.Add(destination.IsThisHost && destination.HostAddresses is null ? DestinationPattern.ForHostAddresses(hostAddresses) : destination);
        }

        return bound;
    }
}
