using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Authentication;

/// <summary>
/// Login throttling against guesses made in parallel: before attempts were counted when they started, 1 000 simultaneous
/// wrong guesses were all checked within a second and a half, and the right password among them was accepted.
/// </summary>
public sealed class ParallelGuessingTests
{
    private const int MaxFailures = 10;

    [Fact]
    public async Task ThousandConcurrentGuesses_RightPasswordLast_RefusedAfterTheThreshold_OtherAddressUnaffected()
    {
        await using TestServer server = await TestServer.StartAsync(options =>
        {
            options.Users.Add(new SockeyeUser("alice", "secret"));
            options.Authentication.MaxFailures = MaxFailures;
            options.Authentication.FailureDelay = TimeSpan.FromMilliseconds(1);
            options.Authentication.MaxFailureDelay = TimeSpan.FromMilliseconds(16);
            options.HandshakeTimeout = TimeSpan.FromSeconds(60);
        });

        var guesses = new List<Socket>();
        try
        {
            // Every guess is on the wire before the right password; none waits for an answer before the next is sent.
            for (int i = 0; i < 1000; i++)
            {
                guesses.Add(await SendLoginAsync(server.EndPoint, IPAddress.Loopback, "alice", i == 999 ? "secret" : $"guess-{i}"));
            }

            // Meanwhile the same account from another address logs in at once.
            using Socket other = await SendLoginAsync(server.EndPoint, IPAddress.Parse("127.0.0.2"), "alice", "secret");
            Assert.Equal(0, await ReadStatusAsync(other));

            byte[] statuses = await Task.WhenAll(guesses.Select(ReadStatusAsync));

            Assert.Equal(1, statuses[999]);
            Assert.DoesNotContain((byte)0, statuses);
            Assert.InRange(CountEvent(server, 2003), MaxFailures, MaxFailures);
            Assert.Equal(1, CountEvent(server, 2007));
            Assert.Equal(1000 - MaxFailures, CountEvent(server, 2008));
        }
        finally
        {
            foreach (Socket guess in guesses)
            {
                guess.Dispose();
            }
        }
    }

    [Fact]
    public async Task ConcurrentRightPasswords_FromOneAddress_AllServed()
    {
        // The turn per address serialises verifications; it must not turn a burst of good logins (a pool of connections
        // opened at once behind one NAT) into failures.
        await using TestServer server = await TestServer.StartAsync(options => options.Users.Add(new SockeyeUser("alice", "secret")));
        var logins = new List<Socket>();
        try
        {
            for (int i = 0; i < 50; i++)
            {
                logins.Add(await SendLoginAsync(server.EndPoint, IPAddress.Loopback, "alice", "secret"));
            }

            byte[] statuses = await Task.WhenAll(logins.Select(ReadStatusAsync));
            Assert.All(statuses, status => Assert.Equal(0, status));
        }
        finally
        {
            foreach (Socket login in logins)
            {
                login.Dispose();
            }
        }
    }

    private static int CountEvent(TestServer server, int eventId) =>
        server.Logs.Lines.Count(line => line.Contains($"[{eventId}]", StringComparison.Ordinal));

    private static async Task<Socket> SendLoginAsync(IPEndPoint server, IPAddress from, string user, string password)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(from, 0));
            await socket.ConnectAsync(server).DefaultTimeout();
            await socket.SendAsync((byte[])[.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password)], SocketFlags.None).DefaultTimeout();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The RFC 1929 status (0 success), after the method selection.</summary>
    private static async Task<byte> ReadStatusAsync(Socket socket)
    {
        byte[] answer = await socket.ReceiveExactlyAsync(4).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(new byte[] { 5, 2, 1 }, answer[..3]);
        return answer[3];
    }
}
