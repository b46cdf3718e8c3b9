using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Rules;
using Sockeye.Server.Sessions;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Rules;

/// <summary>The rules as a real server applies them to CONNECT, the BIND peer and each UDP datagram.</summary>
public sealed class AccessRulesServerTests
{
    private static readonly byte[] NotAllowed = [5, 2, 0, 1, 0, 0, 0, 0, 0, 0];

    [Fact]
    public async Task Connect_DeniedDestination_Replies02AndCloses()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, destinations: ["127.0.0.1"], ports: [target.Port]));
            o.Rules.Add(Rule(AccessAction.Allow));
        });

        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)]);

        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        Assert.Equal(NotAllowed, await client.ReadToEndAsync());
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3006]", StringComparison.Ordinal) && line.Contains("denied by rule 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_OtherPortOfSameHost_AllowedByLaterRule()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, destinations: ["127.0.0.1"], ports: [(ushort)(target.Port == 1 ? 2 : 1)]));
            o.Rules.Add(Rule(AccessAction.Allow));
        });

        Assert.Equal(0, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
    }

    [Fact]
    public async Task Connect_NoRuleMatches_Replies02()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o => o.Rules.Add(Rule(AccessAction.Allow, destinations: ["192.0.2.0/24"])));

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3006]", StringComparison.Ordinal) && line.Contains("no rule matched", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_NameAllowedButResolvingIntoDeniedRange_Replies02()
    {
        using var target = new TcpTarget();
        var resolver = new FakeResolver(_ => [IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, destinations: ["127.0.0.0/8"]));
            o.Rules.Add(Rule(AccessAction.Allow, destinations: ["*.example.com"]));
        }, resolver);

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.ConnectDomain("intranet.example.com", target.Port)));
        Assert.Equal(["intranet.example.com"], resolver.Queries);
    }

    [Fact]
    public async Task Connect_NameWithDeniedAndAllowedAddresses_OnlyTheAllowedOneIsContacted()
    {
        using var allowed = new TcpTarget(IPAddress.Loopback);
        using var denied = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        denied.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), allowed.Port));
        denied.Listen(8);

        // The denied address comes first: without the check, the race would connect there at once and win.
        var resolver = new FakeResolver(_ => [IPAddress.Parse("127.0.0.2"), IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, destinations: ["127.0.0.2"]));
            o.Rules.Add(Rule(AccessAction.Allow));
        }, resolver);

        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain("two.example.com", allowed.Port), .. "via allowed"u8]);
        await client.ReceiveExactlyAsync(2);
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);

        using Socket accepted = await allowed.AcceptAsync();
        Assert.Equal("via allowed"u8.ToArray(), await accepted.ReceiveExactlyAsync(11));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3006]", StringComparison.Ordinal) && line.Contains("127.0.0.2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_NameDeniedByName_IsNeverResolved()
    {
        var resolver = new FakeResolver(_ => [IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, destinations: ["*.blocked.test"]));
            o.Rules.Add(Rule(AccessAction.Allow));
        }, resolver);

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.ConnectDomain("ads.blocked.test", 443)));
        Assert.Empty(resolver.Queries);
    }

    [Fact]
    public async Task Connect_ClientNetworkRule_AppliesByClientAddress()
    {
        using var target = new TcpTarget();
        Action<SockeyeServerOptions> rules = o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, clients: ["127.0.0.0/8"]));
            o.Rules.Add(Rule(AccessAction.Allow));
        };
        await using TestServer v4 = await TestServer.StartAsync(rules);
        await using TestServer v6 = await TestServer.StartAsync(rules, listenAddress: IPAddress.IPv6Loopback);

        Assert.Equal(2, await ConnectReplyAsync(v4, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Equal(0, await ConnectReplyAsync(v6, Socks5Bytes.Connect(target.EndPoint)));
    }

    [Theory]
    [InlineData("alice", 0)]
    [InlineData("bob", 2)]
    public async Task Connect_UserRule_AppliesToTheAuthenticatedUser(string user, byte expected)
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "a-secret"));
            o.Users.Add(new SockeyeUser("bob", "b-secret"));
            o.Rules.Add(Rule(AccessAction.Allow, users: ["alice"]));
        });

        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, user[0] + "-secret"), .. Socks5Bytes.Connect(target.EndPoint)]);
        Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));

        Assert.Equal(expected, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Connect_RuleWithLogFlag_LogsTheAllowAtInformation()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            AccessRule rule = Rule(AccessAction.Allow);
            rule.Log = true;
            rule.Name = "audited";
            o.Rules.Add(rule);
        });

        Assert.Equal(0, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Contains(server.Logs.Lines, line => line.StartsWith("Information", StringComparison.Ordinal) && line.Contains("[3007]", StringComparison.Ordinal)
            && line.Contains($"CONNECT to 127.0.0.1:{target.Port}", StringComparison.Ordinal) && line.Contains("allowed by rule 1 (audited)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_BuiltInGuard_DeniesLoopbackAndNamesResolvingToIt()
    {
        using var target = new TcpTarget();
        var resolver = new FakeResolver(_ => [IPAddress.Loopback]);

        // The guard a server listening on 0.0.0.0 would apply; the test server itself stays on loopback.
        IReadOnlyList<AccessRule> guard = AccessPolicyTests.GuardedOptions().GetEffectiveRules();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            foreach (AccessRule rule in guard)
            {
                o.Rules.Add(rule);
            }
        }, resolver);

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, target.Port))));
        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.ConnectDomain("localhost", target.Port)));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3007]", StringComparison.Ordinal) && line.Contains("built-in: local destinations", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(UnspecifiedAddressNames.All), MemberType = typeof(UnspecifiedAddressNames))]
    public async Task Connect_BuiltInGuard_DeniesNamesWrittenAsTheUnspecifiedAddress(string name)
    {
        // Issue 17: the system resolver throws for these names instead of answering 0.0.0.0 or ::, which Linux takes
        // as this host. They are those addresses, so the guard of a server listening on 0.0.0.0 denies them.
        IReadOnlyList<AccessRule> guard = AccessPolicyTests.GuardedOptions().GetEffectiveRules();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            foreach (AccessRule rule in guard)
            {
                o.Rules.Add(rule);
            }
        });

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.ConnectDomain(name, 22)));
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_BuiltInGuard_DeniesTheHostsOwnAddressesAndNamesResolvingToThem()
    {
        using var target = new TcpTarget(IPAddress.Parse("127.0.0.2"));
        using var elsewhere = new TcpTarget(IPAddress.Loopback);
        var resolver = new FakeResolver(_ => [IPAddress.Parse("127.0.0.2")]);
        await using TestServer server = await TestServer.StartAsync(o => AddHostAddressGuard(o, "127.0.0.2"), resolver);

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Parse("::ffff:127.0.0.2"), target.Port))));
        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.ConnectDomain("proxy-host.example", target.Port)));
        Assert.Equal(0, await ConnectReplyAsync(server, Socks5Bytes.Connect(elsewhere.EndPoint)));

        // The server answers only after its connect attempt, so a connection it had made would be queued before this one.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await probe.ConnectAsync(target.EndPoint).DefaultTimeout();
        using Socket first = await target.AcceptAsync();
        Assert.Equal(probe.LocalEndPoint, first.RemoteEndPoint);
        Assert.Equal(3, server.Logs.Lines.Count(line => line.Contains("[3007]", StringComparison.Ordinal)
            && line.Contains("denied by rule 1 (built-in: this host's addresses)", StringComparison.Ordinal)));
    }

    [Fact]
    public void BuiltInGuard_IsWhatAServerListeningBeyondLoopbackApplies()
    {
        HostAddresses hostAddresses = AccessPolicyTests.HostAddressesOf("192.0.2.10");
        var services = new SessionServices(AccessPolicyTests.GuardedOptions(), new UserDirectory([]), SystemHostResolver.Instance, TimeProvider.System,
            NullLoggerFactory.Instance, hostAddresses, Sockeye.Server.Limits.DescriptorBudget.Unlimited);

        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 1), services.Settings.Policy.Evaluate(ConnectTo(IPAddress.Loopback)));
        Assert.Equal(new AccessDecision(AccessVerdict.Deny, 2), services.Settings.Policy.Evaluate(ConnectTo(IPAddress.Parse("192.0.2.10"))));
        Assert.Equal(new AccessDecision(AccessVerdict.Allow, 3), services.Settings.Policy.Evaluate(ConnectTo(IPAddress.Parse("192.0.2.11"))));

        static AccessRequest ConnectTo(IPAddress destination) =>
            AccessRequest.To(IPAddress.Parse("192.0.2.1"), null, AccessCommands.Connect, null, destination, 22);
    }

    [Fact]
    public async Task BuiltInGuard_ServerListeningOnLoopbackOnly_NeitherListsNorWatchesTheHostsAddresses()
    {
        using var target = new TcpTarget(IPAddress.Parse("127.0.0.2"));
        var provider = new FakeHostAddressProvider(IPAddress.Parse("127.0.0.2"));
        await using TestServer server = await TestServer.StartAsync(hostAddresses: provider);

        Assert.Equal(0, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Equal(0, provider.Listings);
        Assert.Equal(0, provider.Watchers);
    }

    [Fact]
    public async Task ConfiguredRule_NamingAtHost_DeniesTheHostsAddressesAsTheServerKeepsThem()
    {
        using var target = new TcpTarget(IPAddress.Parse("127.0.0.2"));
        using var other = new TcpTarget(IPAddress.Parse("127.0.0.3"));
        var provider = new FakeHostAddressProvider(IPAddress.Parse("127.0.0.2"));
        Assert.True(DestinationPattern.TryParse("@HOST", out DestinationPattern? thisHost, out _));
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            var deny = new AccessRule { Action = AccessAction.Deny, Name = "not this host" };
            deny.Destinations.Add(thisHost!);
            o.Rules.Add(deny);
            o.Rules.Add(Rule(AccessAction.Allow));
        }, hostAddresses: provider);

        // Listening on loopback only, the server still lists and watches its addresses: a configured rule needs them.
        Assert.Equal(1, provider.Watchers);
        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(target.EndPoint)));
        Assert.Equal(0, await ConnectReplyAsync(server, Socks5Bytes.Connect(other.EndPoint)));

        // The host gains an address: the rule follows it.
        provider.Change([IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3")]);
        byte reply = 0;
        for (int attempt = 0; attempt < 100 && reply != 2; attempt++)
        {
            await Task.Delay(attempt == 0 ? 0 : 50);
            reply = await ConnectReplyAsync(server, Socks5Bytes.Connect(other.EndPoint));
        }

        Assert.Equal(2, reply);
        Assert.Equal("@host", DestinationPattern.ThisHost.ToString());
    }

    [Fact]
    public async Task Bind_RequestDeniedByCommand_FirstReply02()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, commands: AccessCommands.Bind));
            o.Rules.Add(Rule(AccessAction.Allow));
        });

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 2)));
    }

    [Theory]
    [InlineData("127.0.0.2", 2)]
    [InlineData("127.0.0.1", 0)]
    public async Task Bind_PeerCheckedAgainstRules_DeniedPeerGetsSecondReply02(string peerAddress, byte expected)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, commands: AccessCommands.Bind, destinations: ["127.0.0.2"]));
            o.Rules.Add(Rule(AccessAction.Allow));
        });
        // The announced port is an ephemeral one, which a stray connect from another test process (probing a port it
        // believes closed) can reach before our peer does. Such a stranger comes from 127.0.0.1 and is allowed, so it
        // shows as a success naming someone else, or as our peer being refused: then the attempt is made again.
        for (int attempt = 1; ; attempt++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 2)]);
            await client.ReceiveExactlyAsync(2);
            byte[] first = await client.ReceiveReplyAsync();
            Assert.Equal(0, first[1]);

            using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            peer.Bind(new IPEndPoint(IPAddress.Parse(peerAddress), 0));
            try
            {
                await peer.ConnectAsync(Socks5Bytes.BoundEndPoint(first)).DefaultTimeout();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && attempt < 3)
            {
                continue;
            }

            byte[] second = await client.ReceiveReplyAsync();
            if (second[1] == 0 && !Socks5Bytes.BoundEndPoint(second).Equals(peer.LocalEndPoint) && attempt < 3)
            {
                continue;
            }

            Assert.Equal(expected, second[1]);
            if (expected != 0)
            {
                Assert.Equal(NotAllowed, second);
                Assert.Empty(await client.ReadToEndAsync());
            }
            else
            {
                Assert.Equal(peer.LocalEndPoint, Socks5Bytes.BoundEndPoint(second));
            }

            return;
        }
    }

    [Fact]
    public async Task Udp_RequestDeniedByCommand_Replies02()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, commands: AccessCommands.UdpAssociate));
            o.Rules.Add(Rule(AccessAction.Allow));
        });

        Assert.Equal(2, await ConnectReplyAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 3)));
    }

    [Fact]
    public async Task Udp_DatagramsToDeniedDestination_DroppedAndCounted_OthersRelayed()
    {
        using var deniedEcho = new UdpEcho();
        using var allowedEcho = new UdpEcho();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, commands: AccessCommands.UdpAssociate, destinations: ["127.0.0.1"], ports: [(ushort)deniedEcho.EndPoint.Port]));
            o.Rules.Add(Rule(AccessAction.Allow));
        });
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(deniedEcho.EndPoint), .. "first"u8]);
        await client.SendAsync([.. UdpAssociateClient.Header(deniedEcho.EndPoint), .. "second"u8]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedDenied == 2);
        await client.SendAsync([.. UdpAssociateClient.Header(allowedEcho.EndPoint), .. "third"u8]);

        byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
        Assert.Equal([.. UdpAssociateClient.Header(allowedEcho.EndPoint), .. "third"u8], back!);
        Assert.Equal(0, deniedEcho.Received);
        Assert.Equal(1, server.Server.UdpStatistics.ForwardedFromClients);
    }

    [Fact]
    public async Task Udp_BuiltInGuard_DropsDatagramsToTheHostsOwnAddressesAndNamesResolvingToThem()
    {
        using var hostEcho = new UdpEcho(IPAddress.Parse("127.0.0.2"));
        using var elsewhereEcho = new UdpEcho(IPAddress.Loopback);
        var resolver = new FakeResolver(_ => [IPAddress.Parse("127.0.0.2")]);
        await using TestServer server = await TestServer.StartAsync(o => AddHostAddressGuard(o, "127.0.0.2"), resolver);
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(hostEcho.EndPoint), .. "by address"u8]);
        await client.SendAsync([.. UdpAssociateClient.Header(new IPEndPoint(IPAddress.Parse("::ffff:127.0.0.2"), hostEcho.EndPoint.Port)), .. "mapped"u8]);
        await client.SendAsync([.. UdpAssociateClient.Header("proxy-host.example", hostEcho.EndPoint.Port), .. "by name"u8]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedDenied == 3);
        await client.SendAsync([.. UdpAssociateClient.Header(elsewhereEcho.EndPoint), .. "elsewhere"u8]);

        byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
        Assert.Equal([.. UdpAssociateClient.Header(elsewhereEcho.EndPoint), .. "elsewhere"u8], back!);
        Assert.Equal(0, hostEcho.Received);
    }

    [Fact]
    public async Task Udp_NameResolvingIntoDeniedRange_DroppedAndCounted()
    {
        using var echo = new UdpEcho();
        var resolver = new FakeResolver(_ => [IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(Rule(AccessAction.Deny, destinations: ["127.0.0.0/8"], commands: AccessCommands.UdpAssociate));
            o.Rules.Add(Rule(AccessAction.Allow));
        }, resolver);
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header("echo.example.com", echo.EndPoint.Port), .. "hello"u8]);

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedDenied == 1);
        Assert.Equal(0, echo.Received);
    }

    private static Task<byte> ConnectReplyAsync(TestServer server, byte[] request) => RawClient.RequestAsync(server.EndPoint, request);

    /// <summary>
    /// Puts in the built-in rules of a server listening beyond loopback, with <paramref name="hostAddress"/> playing the
    /// host's LAN address (where a service bound to the wildcard address answers too). The loopback rule, which would
    /// deny a loopback address anyway, is left out: what decides is then what decides for a real LAN address.
    /// </summary>
    private static void AddHostAddressGuard(SockeyeServerOptions options, string hostAddress)
    {
        foreach (AccessRule rule in AccessPolicyTests.GuardedOptions().GetEffectiveRules(AccessPolicyTests.HostAddressesOf(hostAddress)))
        {
            if (rule.Name != "built-in: local destinations")
            {
                options.Rules.Add(rule);
            }
        }
    }

    private static AccessRule Rule(AccessAction action, string[]? destinations = null, ushort[]? ports = null, string[]? clients = null,
        string[]? users = null, AccessCommands commands = AccessCommands.All)
    {
        var rule = new AccessRule { Action = action, Commands = commands };
        foreach (string text in destinations ?? [])
        {
            Assert.True(DestinationPattern.TryParse(text, out DestinationPattern? pattern, out string? error), error);
            rule.Destinations.Add(pattern!);
        }

        foreach (ushort port in ports ?? [])
        {
            rule.Ports.Add(new PortRange(port, port));
        }

        foreach (string text in clients ?? [])
        {
            rule.Clients.Add(IPNetwork.Parse(text));
        }

        foreach (string user in users ?? [])
        {
            rule.Users.Add(user);
        }

        return rule;
    }

    private sealed class FakeResolver(Func<string, IPAddress[]> answer) : IHostResolver
    {
        private readonly List<string> _queries = [];

        public IReadOnlyList<string> Queries
        {
            get
            {
                lock (_queries)
                {
                    return [.. _queries];
                }
            }
        }

        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            lock (_queries)
            {
                _queries.Add(host);
            }

            return Task.FromResult(answer(host));
        }
    }
}
