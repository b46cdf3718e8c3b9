using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Configuration;
using Sockeye.Server.Rules;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Rules;

public sealed class AccessPolicyTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.168.1.10");

    [Fact]
    public void NoRuleMatches_Denied()
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Ports.Add(new PortRange(443, 443))));

        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 0), policy.Evaluate(To("192.0.2.1", 80)));
    }

    [Fact]
    public void FirstMatchWins_InBothOrders()
    {
        AccessRule deny = Rule(AccessAction.Deny, r => r.Destinations.Add(Pattern("192.0.2.0/24")));
        AccessRule allow = Rule(AccessAction.Allow);

        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 1), Policy(deny, allow).Evaluate(To("192.0.2.1", 80)));
        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 1), Policy(allow, deny).Evaluate(To("192.0.2.1", 80)));
        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 2), Policy(deny, allow).Evaluate(To("198.51.100.1", 80)));
    }

    [Theory]
    [InlineData("192.168.0.0/16", true)]
    [InlineData("192.168.1.10", true)]
    [InlineData("10.0.0.0/8", false)]
    [InlineData("::1", false)]
    public void ClientField_MatchesTheClientAddress(string network, bool matches)
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Clients.Add(Pattern(network).Network!.Value)));

        Assert.Equal(matches ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("192.0.2.1", 80)).Verdict);
    }

    [Fact]
    public void ClientField_IPv4MappedClientMatchesIPv4Network()
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Clients.Add(IPNetwork.Parse("192.168.0.0/16"))));
        var request = AccessRequest.To(IPAddress.Parse("::ffff:192.168.1.10"), null, AccessCommands.Connect, null, IPAddress.Parse("192.0.2.1"), 80);

        Assert.Equal(AccessVerdict.Allow, policy.Evaluate(request).Verdict);
    }

    [Theory]
    [InlineData("alice", true)]
    [InlineData("bob", false)]
    [InlineData(null, false)]
    public void UsersField_MatchesNamedUsersOnly(string? user, bool allowed)
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Users.Add("alice")));

        Assert.Equal(allowed ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("192.0.2.1", 80, user: user)).Verdict);
    }

    [Theory]
    [InlineData("alice", false)]
    [InlineData(null, true)]
    public void UsersField_AnonymousMatchesClientsWithoutUser(string? user, bool allowed)
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Anonymous = true));

        Assert.Equal(allowed ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("192.0.2.1", 80, user: user)).Verdict);
    }

    [Theory]
    [InlineData("alice")]
    [InlineData(null)]
    public void UsersField_EmptyMatchesEveryone(string? user)
    {
        Assert.Equal(AccessVerdict.Allow, Policy(Rule(AccessAction.Allow)).Evaluate(To("192.0.2.1", 80, user: user)).Verdict);
    }

    [Theory]
    [InlineData(AccessCommands.Connect, true)]
    [InlineData(AccessCommands.Bind, false)]
    [InlineData(AccessCommands.UdpAssociate, true)]
    public void CommandsField_MatchesListedCommands(AccessCommands command, bool allowed)
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Commands = AccessCommands.Connect | AccessCommands.UdpAssociate));

        Assert.Equal(allowed ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("192.0.2.1", 80, command: command)).Verdict);
    }

    [Theory]
    [InlineData("example.com", "example.com", true)]
    [InlineData("example.com", "EXAMPLE.com.", true)]
    [InlineData("example.com", "www.example.com", false)]
    [InlineData("*.example.com", "www.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "badexample.com", false)]
    [InlineData("*.example.com", "example.com.evil.net", false)]
    public void DestinationField_MatchesNames(string pattern, string name, bool matches)
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Destinations.Add(Pattern(pattern))));

        Assert.Equal(matches ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(ToName(name, 443)).Verdict);
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.20.30.40", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("2001:db8::/32", "2001:db8::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("127.0.0.0/8", "::ffff:127.0.0.1", true)]
    [InlineData("example.com", "93.184.216.34", false)]
    public void DestinationField_MatchesAddresses(string pattern, string address, bool matches)
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Destinations.Add(Pattern(pattern))));

        Assert.Equal(matches ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To(address, 443)).Verdict);
    }

    [Theory]
    [InlineData(80, true)]
    [InlineData(443, true)]
    [InlineData(8000, true)]
    [InlineData(8999, true)]
    [InlineData(9000, false)]
    [InlineData(22, false)]
    public void PortsField_MatchesListAndRanges(int port, bool matches)
    {
        var policy = Policy(Rule(AccessAction.Allow, r =>
        {
            r.Ports.Add(new PortRange(80, 80));
            r.Ports.Add(new PortRange(443, 443));
            r.Ports.Add(new PortRange(8000, 8999));
        }));

        Assert.Equal(matches ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("192.0.2.1", port)).Verdict);
    }

    [Fact]
    public void Name_DeniedRangeRuleFirst_UndecidedUntilResolved_ThenEachAddressJudged()
    {
        // The case: *.example.com allowed, but not when it resolves into a denied private range.
        var policy = Policy(
            Rule(AccessAction.Deny, r => r.Destinations.Add(Pattern("10.0.0.0/8"))),
            Rule(AccessAction.Allow, r => r.Destinations.Add(Pattern("*.example.com"))));

        Assert.Equal(AccessVerdict.Undecided, policy.Evaluate(ToName("www.example.com", 443)).Verdict);
        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 1), policy.Evaluate(ToName("www.example.com", 443, "10.0.0.5")));
        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 2), policy.Evaluate(ToName("www.example.com", 443, "93.184.216.34")));
    }

    [Fact]
    public void Name_AllowedByAddressOnly_UndecidedUntilResolved()
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Destinations.Add(Pattern("203.0.113.0/24"))));

        Assert.Equal(AccessVerdict.Undecided, policy.Evaluate(ToName("svc.internal", 80)).Verdict);
        Assert.Equal(AccessVerdict.Allow, policy.Evaluate(ToName("svc.internal", 80, "203.0.113.9")).Verdict);
        Assert.Equal(AccessVerdict.Deny, policy.Evaluate(ToName("svc.internal", 80, "198.51.100.1")).Verdict);
    }

    [Fact]
    public void Name_DeniedByName_DecidedBeforeResolving()
    {
        var policy = Policy(
            Rule(AccessAction.Allow, r => r.Destinations.Add(Pattern("203.0.113.0/24")), r => r.Ports.Add(new PortRange(22, 22))),
            Rule(AccessAction.Deny, r => r.Destinations.Add(Pattern("*.blocked.test"))),
            Rule(AccessAction.Allow));

        // The first rule cannot match port 443 whatever the address, so the name alone decides.
        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 2), policy.Evaluate(ToName("x.blocked.test", 443)));
        Assert.Equal(AccessVerdict.Undecided, policy.Evaluate(ToName("x.blocked.test", 22)).Verdict);
    }

    [Fact]
    public void Pending_BindOrUdp_UndecidedWhenDestinationMatters_DecidedWhenNot()
    {
        var byDestination = Policy(Rule(AccessAction.Deny, r => r.Destinations.Add(Pattern("10.0.0.0/8"))), Rule(AccessAction.Allow));
        var byCommand = Policy(Rule(AccessAction.Deny, r => r.Commands = AccessCommands.Bind), Rule(AccessAction.Allow));

        Assert.Equal(AccessVerdict.Undecided, byDestination.Evaluate(AccessRequest.Pending(Client, null, AccessCommands.Bind)).Verdict);
        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 1), byCommand.Evaluate(AccessRequest.Pending(Client, null, AccessCommands.Bind)));
        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 2), byCommand.Evaluate(AccessRequest.Pending(Client, null, AccessCommands.UdpAssociate)));
    }

    [Fact]
    public void Pending_OnlyPortRestrictedAllow_StaysUndecided()
    {
        var policy = Policy(Rule(AccessAction.Allow, r => r.Ports.Add(new PortRange(53, 53))));

        Assert.Equal(AccessVerdict.Undecided, policy.Evaluate(AccessRequest.Pending(Client, null, AccessCommands.UdpAssociate)).Verdict);
        Assert.Equal(AccessVerdict.Allow, policy.Evaluate(To("192.0.2.53", 53, command: AccessCommands.UdpAssociate)).Verdict);
        Assert.Equal(AccessVerdict.Deny, policy.Evaluate(To("192.0.2.53", 123, command: AccessCommands.UdpAssociate)).Verdict);
    }

    [Fact]
    public void AllowEverythingFirst_ShortCircuits()
    {
        Assert.True(Policy(Rule(AccessAction.Allow), Rule(AccessAction.Deny)).AllowsEverything);
        Assert.False(Policy(Rule(AccessAction.Allow, r => r.Log = true)).AllowsEverything);
        Assert.False(Policy(Rule(AccessAction.Deny), Rule(AccessAction.Allow)).AllowsEverything);
    }

    [Fact]
    public void DefaultRules_LoopbackListenersOnly_AllowEverything()
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new IPEndPoint(IPAddress.Loopback, 1080));
        options.Listeners.Add(new IPEndPoint(IPAddress.IPv6Loopback, 1080));

        var policy = new AccessPolicy(options.GetEffectiveRules());

        Assert.True(policy.AllowsEverything);
        Assert.Equal(AccessVerdict.Allow, policy.Evaluate(To("127.0.0.1", 22)).Verdict);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.5.6.7")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("fe80::1")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    public void DefaultRules_NonLoopbackListener_DenyLocalDestinations(string destination)
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules());

        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 1), policy.Evaluate(To(destination, 80)));
        Assert.True(policy[1].Log);
    }

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("10.1.2.3")]
    [InlineData("2001:db8::1")]
    public void DefaultRules_NonLoopbackListener_AllowOtherDestinations(string destination)
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules(HostAddressesOf("192.0.2.10", "2001:db8::10")));

        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 3), policy.Evaluate(To(destination, 80)));
    }

    [Theory]
    [InlineData("192.0.2.10")]
    [InlineData("::ffff:192.0.2.10")]
    [InlineData("2001:db8::10")]
    public void DefaultRules_NonLoopbackListener_DenyTheHostsOwnAddresses(string destination)
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules(HostAddressesOf("192.0.2.10", "2001:db8::10")));

        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 2), policy.Evaluate(To(destination, 80)));
        Assert.Equal("built-in: this host's addresses", policy[2].Name);
        Assert.True(policy[2].Log);
    }

    [Theory]
    [InlineData(AccessCommands.Connect, false)]
    [InlineData(AccessCommands.UdpAssociate, false)]
    [InlineData(AccessCommands.Bind, true)]
    public void DefaultRules_HostAddressGuard_CoversConnectAndUdpNotBindPeers(AccessCommands command, bool allowed)
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules(HostAddressesOf("192.0.2.10")));

        Assert.Equal(allowed ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("192.0.2.10", 80, command: command)).Verdict);
    }

    [Fact]
    public void DefaultRules_NameResolvingToAHostAddress_UndecidedThenDenied()
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules(HostAddressesOf("192.0.2.10")));

        Assert.Equal(AccessVerdict.Undecided, policy.Evaluate(ToName("proxy-host.example", 80)).Verdict);
        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 2), policy.Evaluate(ToName("proxy-host.example", 80, "192.0.2.10")));
        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 3), policy.Evaluate(ToName("proxy-host.example", 80, "192.0.2.11")));
    }

    [Fact]
    public void DefaultRules_HostAddressesChange_TheSamePolicyFollows()
    {
        var provider = new FakeHostAddressProvider(IPAddress.Parse("192.0.2.10"));
        using var host = new HostAddresses(provider, TimeProvider.System, NullLogger.Instance);
        host.Start();
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules(host));

        provider.Change([IPAddress.Parse("192.0.2.99")]);

        Assert.Equal(AccessVerdict.Allow, policy.Evaluate(To("192.0.2.10", 80)).Verdict);
        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 2), policy.Evaluate(To("192.0.2.99", 80)));
    }

    [Theory]
    [InlineData(AccessCommands.Connect, false)]
    [InlineData(AccessCommands.UdpAssociate, false)]
    [InlineData(AccessCommands.Bind, true)]
    public void DefaultRules_NonLoopbackListener_GuardCoversConnectAndUdpNotBindPeers(AccessCommands command, bool allowed)
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules());

        Assert.Equal(allowed ? AccessVerdict.Allow : AccessVerdict.Deny, policy.Evaluate(To("127.0.0.1", 80, command: command)).Verdict);
    }

    [Fact]
    public void DefaultRules_NameResolvingToLoopback_Denied()
    {
        var policy = new AccessPolicy(GuardedOptions().GetEffectiveRules());

        Assert.Equal(AccessVerdict.Undecided, policy.Evaluate(ToName("localhost", 80)).Verdict);
        Assert.Equal(AccessVerdict.Deny, policy.Evaluate(ToName("localhost", 80, "127.0.0.1")).Verdict);
    }

    [Fact]
    public void DefaultRules_ConfiguredRulesReplaceThem()
    {
        SockeyeServerOptions options = GuardedOptions();
        options.Rules.Add(Rule(AccessAction.Allow));

        IReadOnlyList<AccessRule> rules = options.GetEffectiveRules();

        Assert.Same(options.Rules[0], Assert.Single(rules));
    }

    /// <summary>"The host's addresses", listed once.</summary>
    internal static HostAddresses HostAddressesOf(params string[] addresses)
    {
        var host = new HostAddresses(new FakeHostAddressProvider([.. addresses.Select(IPAddress.Parse)]), TimeProvider.System, NullLogger.Instance);
        host.Refresh();
        return host;
    }

    internal static SockeyeServerOptions GuardedOptions()
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new IPEndPoint(IPAddress.Loopback, 1080));
        options.Listeners.Add(new IPEndPoint(IPAddress.Any, 1080));
        return options;
    }

    private static AccessPolicy Policy(params AccessRule[] rules) => new(rules);

    private static AccessRule Rule(AccessAction action, params Action<AccessRule>[] configure)
    {
        var rule = new AccessRule { Action = action };
        foreach (Action<AccessRule> step in configure)
        {
            step(rule);
        }

        return rule;
    }

    private static DestinationPattern Pattern(string text)
    {
        Assert.True(DestinationPattern.TryParse(text, out DestinationPattern? pattern, out string? error), error);
        return pattern!;
    }

    private static AccessRequest To(string address, int port, string? user = null, AccessCommands command = AccessCommands.Connect) =>
        AccessRequest.To(Client, user, command, null, IPAddress.Parse(address), port);

    private static AccessRequest ToName(string name, int port, string? resolved = null) =>
        AccessRequest.To(Client, null, AccessCommands.Connect, name, resolved is null ? null : IPAddress.Parse(resolved), port);
}
