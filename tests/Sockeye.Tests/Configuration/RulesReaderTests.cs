using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Sockeye.Configuration;
using Sockeye.Server.Configuration;

namespace Sockeye.Tests.Configuration;

public class RulesReaderTests
{
    [Fact]
    public void Read_EveryField_IsRead()
    {
        const string json = """
            {
              "users": [ { "name": "alice", "password": "secret" } ],
              "rules": [
                { "action": "deny", "name": "no intranet", "destinations": [ "10.0.0.0/8", "fd00::/8" ], "log": true },
                {
                  "action": "allow",
                  "clients": [ "192.168.0.0/16", "::1" ],
                  "users": [ "alice" ],
                  "commands": [ "connect", "udp" ],
                  "destinations": [ "example.com", "*.example.com", "203.0.113.7" ],
                  "ports": [ 80, "443", "8000-8999" ]
                },
                { "action": "allow", "users": "anonymous", "commands": "bind" },
                { "action": "deny", "users": "any" }
              ]
            }
            """;
        (SockeyeSettings? settings, List<string> errors) = Read(json);

        Assert.Empty(errors);
        IList<AccessRule> rules = settings!.Server.Rules;
        Assert.Equal(4, rules.Count);

        Assert.Equal(AccessAction.Deny, rules[0].Action);
        Assert.Equal("no intranet", rules[0].Name);
        Assert.True(rules[0].Log);
        Assert.Equal(["10.0.0.0/8", "fd00::/8"], rules[0].Destinations.Select(d => d.ToString()));
        Assert.Equal(AccessCommands.All, rules[0].Commands);

        Assert.Equal(AccessAction.Allow, rules[1].Action);
        Assert.Equal([IPNetwork.Parse("192.168.0.0/16"), IPNetwork.Parse("::1/128")], rules[1].Clients);
        Assert.Equal(["alice"], rules[1].Users);
        Assert.False(rules[1].Anonymous);
        Assert.Equal(AccessCommands.Connect | AccessCommands.UdpAssociate, rules[1].Commands);
        Assert.Equal(["example.com", "*.example.com", "203.0.113.7/32"], rules[1].Destinations.Select(d => d.ToString()));
        Assert.Equal([new PortRange(80, 80), new PortRange(443, 443), new PortRange(8000, 8999)], rules[1].Ports);
        Assert.False(rules[1].Log);

        Assert.True(rules[2].Anonymous);
        Assert.Empty(rules[2].Users);
        Assert.Equal(AccessCommands.Bind, rules[2].Commands);

        Assert.False(rules[3].Anonymous);
        Assert.Empty(rules[3].Users);
    }

    [Fact]
    public void Read_Routes_ChainFallbackAndEgress()
    {
        const string json = """
            {
              "rules": [
                { "action": "allow", "destinations": "*.corp.example", "route": "direct", "bindAddress": [ "192.0.2.10", "2001:db8::10" ], "interface": "lo" },
                { "action": "allow", "route": [ "socks5://alice:secret@upstream.example:1080", "http://proxy.example:3128" ], "fallback": "socks4a://other.example" },
                { "action": "allow", "route": "direct" }
              ]
            }
            """;
        (SockeyeSettings? settings, List<string> errors) = Read(json);

        Assert.Empty(errors);
        IList<AccessRule> rules = settings!.Server.Rules;
        RouteOptions corp = rules[0].Route!;
        Assert.True(corp.IsDirect);
        Assert.Equal(IPAddress.Parse("192.0.2.10"), corp.BindAddressV4);
        Assert.Equal(IPAddress.Parse("2001:db8::10"), corp.BindAddressV6);
        Assert.Equal("lo", corp.Interface);

        RouteOptions chain = rules[1].Route!;
        Assert.Equal([Sockeye.Client.ProxyKind.Socks5, Sockeye.Client.ProxyKind.Http], chain.Upstreams.Select(u => u.Kind));
        Assert.Equal("alice", chain.Upstreams[0].Credential!.UserName);
        Assert.Equal(3128, chain.Upstreams[1].Port);
        Assert.Equal(Sockeye.Client.ProxyKind.Socks4a, chain.Fallback!.Upstreams.Single().Kind);
        Assert.Equal("socks5://upstream.example:1080 -> http://proxy.example:3128, else socks4a://other.example:1080", chain.ToString());
        Assert.DoesNotContain("secret", rules[1].ToString(), StringComparison.Ordinal);
        Assert.True(rules[2].Route!.IsDirect);
    }

    [Fact]
    public void Read_ListsAsCommaSeparatedStrings_AsEnvironmentVariablesGiveThem()
    {
        (SockeyeSettings? settings, List<string> errors) = Read(new Dictionary<string, string?>
        {
            ["rules:0:action"] = "allow",
            ["rules:0:destinations"] = "10.0.0.0/8, *.corp.test",
            ["rules:0:ports"] = "22,443",
            ["rules:0:commands"] = "connect,bind",
        });

        Assert.Empty(errors);
        AccessRule rule = Assert.Single(settings!.Server.Rules);
        Assert.Equal(2, rule.Destinations.Count);
        Assert.Equal([new PortRange(22, 22), new PortRange(443, 443)], rule.Ports);
        Assert.Equal(AccessCommands.Connect | AccessCommands.Bind, rule.Commands);
    }

    [Fact]
    public void Read_NoRules_EmptyList()
    {
        (SockeyeSettings? settings, List<string> errors) = Read("{}");

        Assert.Empty(errors);
        Assert.Empty(settings!.Server.Rules);
    }

    [Theory]
    [InlineData("""{ "rules": [ { "action": "deny", "route": "socks5://upstream:1080" } ] }""", "rules[0]: route, fallback, bindAddress and interface belong to allow rules")]
    [InlineData("""{ "rules": [ { "action": "allow", "route": "ftp://upstream:21" } ] }""", "rules[0].route: 'ftp://upstream:21' is not an upstream proxy")]
    [InlineData("""{ "rules": [ { "action": "allow", "route": "socks5://bob:hunter2@" } ] }""", "rules[0].route: 'socks5://***@' is not an upstream proxy")]
    [InlineData("""{ "rules": [ { "action": "allow", "route": [ "direct", "socks5://upstream:1080" ] } ] }""", "rules[0].route: 'direct' cannot be part of a chain")]
    [InlineData("""{ "rules": [ { "action": "allow", "bindAddress": "somewhere" } ] }""", "rules[0].bindAddress: 'somewhere' is not an IP address")]
    [InlineData("""{ "rules": [ { "action": "allow", "bindAddress": [ "192.0.2.1", "192.0.2.2" ] } ] }""", "rules[0].bindAddress: give at most one IPv4 and one IPv6 address")]
    [InlineData("""{ "rules": [ { "action": "allow", "interface": "eth0; rm" } ] }""", "rules[0].interface: 'eth0; rm' is not an interface name")]
    public void Read_BadRoute_OneErrorNamingTheKey(string json, string expected)
    {
        (_, List<string> errors) = Read(json);

        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{ "rules": [ { "destinations": [ "10.0.0.0/8" ] } ] }""", "rules[0].action: every rule needs an action, allow or deny.")]
    [InlineData("""{ "rules": [ { "action": "permit" } ] }""", "rules[0].action: 'permit' is not allow or deny.")]
    [InlineData("""{ "rules": [ { "action": "allow", "colour": "red" } ] }""", "rules[0].colour: unknown rule setting")]
    [InlineData("""{ "rules": [ { "action": "allow", "clients": [ "example.com" ] } ] }""", "rules[0].clients: 'example.com' is not a network")]
    [InlineData("""{ "rules": [ { "action": "allow", "clients": [ "10.1.0.0/8" ] } ] }""", "rules[0].clients: '10.1.0.0/8' has bits set after its /8 prefix (the network would be 10.0.0.0/8).")]
    [InlineData("""{ "rules": [ { "action": "allow", "destinations": [ "*" ] } ] }""", "rules[0].destinations: '*' is not a destination")]
    [InlineData("""{ "rules": [ { "action": "allow", "destinations": [ "bad name" ] } ] }""", "rules[0].destinations: 'bad name' is not a network")]
    [InlineData("""{ "rules": [ { "action": "allow", "ports": [ "70000" ] } ] }""", "rules[0].ports: '70000' is not a port")]
    [InlineData("""{ "rules": [ { "action": "allow", "ports": [ "90-80" ] } ] }""", "rules[0].ports: '90-80' is an empty range")]
    [InlineData("""{ "rules": [ { "action": "allow", "commands": [ "ftp" ] } ] }""", "rules[0].commands: 'ftp' is not connect, bind or udp.")]
    [InlineData("""{ "rules": [ { "action": "allow", "users": "alice" } ] }""", "rules[0].users: 'alice' is not any or anonymous; list user names as an array")]
    [InlineData("""{ "rules": [ { "action": "allow", "users": [ "mallory" ] } ] }""", "rules[0].users[0]: 'mallory' is not a configured user")]
    [InlineData("""{ "rules": [ { "action": "allow", "log": "yes" } ] }""", "rules[0].log: 'yes' is not true or false.")]
    [InlineData("""{ "rules": "allow" }""", "rules: must be a list of rules")]
    public void Read_BadRule_OneErrorNamingTheKey(string json, string expected)
    {
        (SockeyeSettings? settings, List<string> errors) = Read(json);

        Assert.Null(settings);
        Assert.StartsWith(expected, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_SeveralBadRules_EveryProblemReported()
    {
        (_, List<string> errors) = Read("""{ "rules": [ { "action": "allow", "ports": "x" }, { "action": "nope", "destinations": "*" } ] }""");

        Assert.Equal(3, errors.Count);
        Assert.StartsWith("rules[0].ports", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("rules[1].action", errors[1], StringComparison.Ordinal);
        Assert.StartsWith("rules[1].destinations", errors[2], StringComparison.Ordinal);
    }

    private static (SockeyeSettings? Settings, List<string> Errors) Read(string json)
    {
        var errors = new List<string>();
        IConfiguration configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        return (SettingsReader.Read(configuration, new CommandLineValues(), errors), errors);
    }

    private static (SockeyeSettings? Settings, List<string> Errors) Read(Dictionary<string, string?> values)
    {
        var errors = new List<string>();
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return (SettingsReader.Read(configuration, new CommandLineValues(), errors), errors);
    }
}
