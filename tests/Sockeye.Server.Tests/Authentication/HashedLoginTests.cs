using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Authentication;

/// <summary>RFC 1929 logins against accounts stored as password hashes, through a real server on loopback.</summary>
public sealed class HashedLoginTests
{
    private const int TestIterations = 1_000;

    private static void WithHashedCarol(SockeyeServerOptions options)
    {
        options.MinHashIterations = TestIterations;
        options.Users.Add(SockeyeUser.FromPasswordHash("carol", PasswordHash.Create("correct horse"u8, TestIterations)));
    }

    [Fact]
    public async Task Login_HashedUserRightPassword_ConnectsEachTime()
    {
        await using TestServer server = await TestServer.StartAsync(WithHashedCarol);
        using var target = new TcpTarget();

        for (int i = 0; i < 2; i++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("carol", "correct horse"), .. Socks5Bytes.Connect(target.EndPoint)]);
            Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket accepted = await target.AcceptAsync();
        }
    }

    [Theory]
    [InlineData("carol", "correct horse ")]
    [InlineData("carol", "secret")]
    [InlineData("mallory", "correct horse")]
    public async Task Login_HashedUserWrongCredentials_RepliesFailureAndCloses(string user, string password)
    {
        await using TestServer server = await TestServer.StartAsync(WithHashedCarol);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password)]);

        Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReadToEndAsync());
    }

    [Fact]
    public void Server_HashBelowTheProductionMinimum_RefusedByValidation()
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        options.Users.Add(SockeyeUser.FromPasswordHash("carol", PasswordHash.Create("correct horse"u8, TestIterations)));

        var e = Assert.Throws<OptionsValidationException>(() => new SockeyeServer(options));

        Assert.Contains(e.Failures, f => f.StartsWith("users[0].passwordHash:", StringComparison.Ordinal) && f.Contains("too few", StringComparison.Ordinal));
    }

    [Fact]
    public void Server_PasswordAndHashBoth_RefusedByValidation()
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        options.Users.Add(new SockeyeUser("carol", "secret") { PasswordHash = PasswordHash.Create("secret") });

        var e = Assert.Throws<OptionsValidationException>(() => new SockeyeServer(options));

        Assert.Contains(e.Failures, f => f.Contains("not both", StringComparison.Ordinal));
    }
}
