using System.Net;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Diagnostics;

/// <summary>
/// Issue 19: a failed login, a client offering no acceptable method and a client speaking another protocol left no line
/// at the default level. Each is now told at Information, the first from an address per minute, then a count.
/// </summary>
public sealed class ClientNoticesTests
{
    [Theory]
    [InlineData("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "HTTP/1.1 403 Forbidden", "HTTP is not spoken on this listener (listeners[].protocols)")]
    [InlineData("\u0004\u0001\u0000\u0050\u007f\u0000\u0000\u0001\u0000", "\0[\0\0\0\0\0\0", "SOCKS4 is not spoken on this listener (listeners[].protocols)")]
    public async Task ClientSpeaksAProtocolTheListenerDoesNot_AnsweredInIt_AndToldAtInformation(string firstBytes, string replyStart, string reason)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks5);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. firstBytes.Select(c => (byte)c)]);

        byte[] reply = await client.ReadToEndAsync();
        Assert.StartsWith(replyStart, new string([.. reply.Select(b => (char)b)]), StringComparison.Ordinal);
        string line = await InformationLineAsync(server, 2018);
        Assert.Contains("Client 127.0.0.1 was turned away: " + reason, line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\u0016\u0003\u0001\u0000\u0005", "starts a TLS handshake")]
    [InlineData("\u0001\u0001\u0000\u0005", "its first byte is X'01', where SOCKS5's is X'05'")]
    public async Task ClientSpeaksAnotherProtocol_ToldAtInformation_WithWhatItLooksLike(string firstBytes, string hint)
    {
        // A listener that speaks SOCKS5 alone (as a public one does by default): the others' first bytes are its errors.
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks5);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. firstBytes.Select(c => (byte)c)]);
        Assert.Empty(await client.ReadToEndAsync());

        string line = await InformationLineAsync(server, 2011);
        Assert.Contains("Client 127.0.0.1 sent a malformed Greeting (UnsupportedVersion)", line, StringComparison.Ordinal);
        Assert.Contains(hint, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedLogin_And_NoAcceptableMethod_ToldAtInformation()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "wrong")]);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReceiveExactlyAsync(4));
        }

        Assert.Contains("Client 127.0.0.1: login failed for user alice", await InformationLineAsync(server, 2009), StringComparison.Ordinal);

        // Another address: the first address's window would hold this one back.
        await using TestServer second = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using (RawClient client = await RawClient.ConnectAsync(second.EndPoint))
        {
            await client.SendAsync(Socks5Bytes.NoAuthGreeting);
            Assert.Equal(new byte[] { 5, 0xFF }, await client.ReceiveExactlyAsync(2));
        }

        Assert.Contains("expects USERNAME/PASSWORD (X'02')", await InformationLineAsync(second, 2010), StringComparison.Ordinal);
    }

    [Fact]
    public async Task FloodFromOneAddress_OneLineThenACountWhenTheMinuteHasPassed()
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks5, timeProvider: time);
        for (int i = 0; i < 20; i++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([0x16, 3]);
            Assert.Empty(await client.ReadToEndAsync());
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Logs.Lines.Count(line => line.Contains("Sockeye.Session[2001]", StringComparison.Ordinal)) == 20);
        Assert.Single(server.Logs.Lines, line => line.StartsWith("Information Sockeye.Session[2011]", StringComparison.Ordinal));

        time.Advance(ClientNotices.Window);

        string count = await InformationLineAsync(server, 2012);
        Assert.StartsWith("Information Sockeye.Session[2012] 19 more handshake(s) from 127.0.0.1 turned away in the last 00:01:00", count, StringComparison.Ordinal);
    }

    [Fact]
    public void ManyAddresses_BeyondTheTable_CountedTogetherAsOthers_AndTheTableIsEmptiedEachWindow()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory();
        using var notices = new ClientNotices(logs.CreateLogger("Sockeye.Session"), time);
        for (int i = 0; i < ClientNotices.MaxAddresses + 50; i++)
        {
            Assert.Equal(i < ClientNotices.MaxAddresses, notices.ShouldNotice(new IPAddress(0x0A000000 + i)));
        }

        time.Advance(ClientNotices.Window);
        Assert.Contains(logs.Lines, line => line.Contains("50 more handshake(s) from others", StringComparison.Ordinal));

        // The table was emptied: a new address is followed again.
        Assert.True(notices.ShouldNotice(IPAddress.Parse("192.0.2.1")));
        Assert.True(notices.ShouldNotice(new IPAddress(0x0A000000)));
    }

    [Fact]
    public void Disposed_ItsTimerStops_NothingMoreIsWritten()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerFactory();
        var notices = new ClientNotices(logs.CreateLogger("Sockeye.Session"), time);
        Assert.True(notices.ShouldNotice(IPAddress.Loopback));
        Assert.False(notices.ShouldNotice(IPAddress.Loopback));

        notices.Dispose();
        time.Advance(TimeSpan.FromMinutes(5));

        Assert.Empty(logs.Lines);
    }

    private static async Task<string> InformationLineAsync(TestServer server, int eventId)
    {
        string prefix = $"Information Sockeye.Session[{eventId}] ";
        await SocketTestExtensions.WaitUntilAsync(() => server.Logs.Lines.Any(line => line.StartsWith(prefix, StringComparison.Ordinal)));
        return server.Logs.Lines.First(line => line.StartsWith(prefix, StringComparison.Ordinal));
    }
}
