using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Server.Tests.Robustness;

namespace Sockeye.Server.Tests.Sessions;

[Collection(ProcessWideResources.Name)]
public sealed class HostileClientTests
{
    [Fact]
    public async Task HostileBatch_EverySocketIsReleased()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromMilliseconds(300);
            o.Users.Add(new SockeyeUser("alice", "secret"));

            // This test is about sockets: the wrong passwords of the batch must not ban the address its good clients share.
            o.Authentication.FailureDelay = TimeSpan.Zero;
            o.Authentication.MaxFailures = 0;
        });
        int closedPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            closedPort = ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
        }

        int before = ResourceBaseline.CountSockets();
        using var target = new TcpTarget();
        var random = new Random(1928);
        var clients = new List<Task>();
        for (int i = 0; i < 300; i++)
        {
            int behaviour = i % 10;
            byte[] noise = new byte[random.Next(1, 600)];
            random.NextBytes(noise);
            clients.Add(Task.Run(() => BehaveBadlyAsync(server, target, closedPort, behaviour, noise)));
        }

        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromMinutes(1));

        // Tunnels to the target end when the target side closes them too.
        target.Dispose();

        // The server closes what is left on its own (handshake timeout, linger after failure); give it a bounded while.
        int after = int.MaxValue;
        for (int attempt = 0; attempt < 200; attempt++)
        {
            after = ResourceBaseline.CountSockets();
            if (server.Server.ActiveSessionCount == 0 && after <= before)
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal(0, server.Server.ActiveSessionCount);
        Assert.True(after <= before, $"{after - before} socket(s) leaked ({before} before, {after} after)");
    }

    private static async Task BehaveBadlyAsync(TestServer server, TcpTarget target, int closedPort, int behaviour, byte[] noise)
    {
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        switch (behaviour)
        {
            case 0: // Connect and leave at once.
                break;
            case 1: // Garbage.
                await client.SendAsync(noise);
                break;
            case 2: // Garbage that starts like SOCKS5, then reset.
                await client.SendAsync([5, .. noise]);
                client.Socket.LingerState = new LingerOption(true, 0);
                break;
            case 3: // Half a greeting, then silence until the handshake timeout.
                await client.SendAsync([5, 2]);
                await client.ReadToEndAsync();
                break;
            case 4: // Wrong password.
                await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "guess")]);
                await client.ReadToEndAsync();
                break;
            case 5: // Authenticated, then a request that is refused.
                await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"),
                    .. Socks5Bytes.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, closedPort))]);
                await client.ReadToEndAsync();
                break;
            case 6: // Authenticated tunnel, then a reset from the client.
                await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"),
                    .. Socks5Bytes.Connect(target.EndPoint), .. noise]);
                await client.ReceiveExactlyAsync(4);
                await client.ReceiveReplyAsync();
                client.Socket.LingerState = new LingerOption(true, 0);
                break;
            case 7: // Unknown command with a trailing flood.
                await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"), 5, 0x7F, 0, 1, 1, 2, 3, 4, 0, 80, .. noise]);
                await client.ReadToEndAsync();
                break;
            case 8: // NMETHODS = 0.
                await client.SendAsync([5, 0]);
                await client.ReadToEndAsync();
                break;
            default: // A full greeting, then half-close before authenticating.
                await client.SendAsync(Socks5Bytes.PasswordGreeting);
                client.Socket.Shutdown(SocketShutdown.Send);
                await client.ReadToEndAsync();
                break;
        }
    }
}
