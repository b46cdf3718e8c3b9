using System.Net;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Diagnostics;

/// <summary>
/// Issue 17: names and user names come from the client, and an operator tails the log in a terminal. Every line a real
/// server writes about them must be free of control characters, with the client's text still readable in escaped form.
/// </summary>
public sealed class ClientTextLoggingTests
{
    // Clears the screen, then returns the cursor to the start of the line to overwrite what the log printed before it.
    private const string ClearScreenThenCarriageReturn = "\u001b[2J\r";

    [Fact]
    public async Task Connect_NameWithEscapeSequenceAndCarriageReturn_AccessAndConnectLinesEscaped()
    {
        await using TestServer server = await TestServer.StartAsync(resolver: new FixedResolver([]));

        byte reply = await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.ConnectDomain(ClearScreenThenCarriageReturn + "host.test", 80));
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);

        Assert.Equal(4, reply);
        string access = Assert.Single(server.Logs.Lines, line => line.Contains("[2900]", StringComparison.Ordinal));
        Assert.Contains(@" Connect \x1B[2J\x0Dhost.test:80 reply=HostUnreachable", access, StringComparison.Ordinal);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3001]", StringComparison.Ordinal) && line.Contains(@"\x1B[2J\x0Dhost.test:80", StringComparison.Ordinal));
        AssertNoControlCharacters(server);
    }

    [Fact]
    public async Task Connect_NameWithEscapeSequenceDeniedByLoggedRule_RuleLineEscaped()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Rules.Add(LoggedDenial("*.blocked.test")), new FixedResolver([]));

        byte reply = await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.ConnectDomain(ClearScreenThenCarriageReturn + ".blocked.test", 443));
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);

        Assert.Equal(2, reply);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3007]", StringComparison.Ordinal) && line.Contains(@"CONNECT to \x1B[2J\x0D.blocked.test:443", StringComparison.Ordinal));
        AssertNoControlCharacters(server);
    }

    [Fact]
    public async Task Udp_DatagramToNameWithEscapeSequenceDeniedByLoggedRule_RuleLineEscaped()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(LoggedDenial("*.blocked.test"));
            o.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        }, new FixedResolver([IPAddress.Parse("192.0.2.1")]));
        using (UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint))
        {
            await client.SendAsync([.. UdpAssociateClient.Header(ClearScreenThenCarriageReturn + ".blocked.test", 53), .. "query"u8]);
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpStatistics.DroppedDenied == 1);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[3007]", StringComparison.Ordinal) && line.Contains(@"UDP to \x1B[2J\x0D.blocked.test (192.0.2.1:53)", StringComparison.Ordinal));
        AssertNoControlCharacters(server);
    }

    [Fact]
    public async Task Login_UserNameWithNewline_FailureAndBanLinesHaveNoRawNewline()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Authentication.FailureDelay = TimeSpan.Zero;
            o.Authentication.MaxFailures = 1;
        });
        // A forged line: without escaping, it would look like a successful session of alice's in the access log.
        const string ForgingUser = "mallory\nInformation Sockeye.Access[2900] 192.0.2.1:1 user=alice";

        // The first failure bans the address; the second attempt is refused as banned, and logged as such.
        for (int attempt = 0; attempt < 2; attempt++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(ForgingUser, "guess")]);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReadToEndAsync());
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        string escaped = @"mallory\x0AInformation Sockeye.Access[2900] 192.0.2.1:1 user=alice";
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2003]", StringComparison.Ordinal) && line.EndsWith(escaped, StringComparison.Ordinal));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2008]", StringComparison.Ordinal) && line.Contains(escaped, StringComparison.Ordinal));
        AssertNoControlCharacters(server);
    }

    [Fact]
    public async Task Login_UserNameNotUtf8_LoggedAsHex()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Authentication.FailureDelay = TimeSpan.Zero;
        });
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            // 0xFF never occurs in UTF-8; the ESC after it must not reach the log raw either.
            await client.SendAsync([.. Socks5Bytes.PasswordGreeting, 1, 3, 0xFF, 0x1B, (byte)'c', 1, (byte)'x']);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReadToEndAsync());
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2003]", StringComparison.Ordinal) && line.EndsWith("user FF1B63", StringComparison.Ordinal));
        AssertNoControlCharacters(server);
    }

    private static AccessRule LoggedDenial(string destination)
    {
        Assert.True(DestinationPattern.TryParse(destination, out DestinationPattern? pattern, out string? error), error);
        var rule = new AccessRule { Action = AccessAction.Deny, Log = true, Name = "blocked" };
        rule.Destinations.Add(pattern!);
        return rule;
    }

    private static void AssertNoControlCharacters(TestServer server)
    {
        foreach (string line in server.Logs.Lines)
        {
            foreach (char c in line)
            {
                Assert.False(char.IsControl(c), $"U+{(int)c:X4} in: {string.Concat(line.Select(ch => char.IsControl(ch) ? '?' : ch))}");
            }
        }
    }

    /// <summary>Answers every name with the same addresses, so that no name is ever looked up for real.</summary>
    private sealed class FixedResolver(IPAddress[] answer) : IHostResolver
    {
        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) => Task.FromResult(answer);
    }
}
