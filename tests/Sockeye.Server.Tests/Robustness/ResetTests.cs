using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Clients that reset (a crash, a kill, a middlebox) at every point of a session: the server must release everything
/// the session held, and keep serving.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class ResetTests
{
    private const int BatchSize = 100;

    public enum Stage
    {
        MidGreeting,
        AfterMethodSelection,
        MidCredentials,
        AfterAuthentication,
        MidRequest,
        WhileConnecting,
    }

    [Theory]
    [InlineData(Stage.MidGreeting)]
    [InlineData(Stage.AfterMethodSelection)]
    [InlineData(Stage.MidCredentials)]
    [InlineData(Stage.AfterAuthentication)]
    [InlineData(Stage.MidRequest)]
    public async Task ClientReset_MidHandshake_EverythingReleased_AndServerStillServes(Stage stage)
    {
        await ResetBatchAsync(stage, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ClientReset_WhileItsDestinationResolves_ReleasedByTheConnectTimeout_AndServerStillServes()
    {
        // The server does not read from the client while it resolves and connects (a read there would take the
        // client's pipelined payload, and watch every connect for a rare case), so it learns of the reset only when
        // the attempt ends: the connect timeout is what bounds the hold, and it must then release everything.
        await ResetBatchAsync(Stage.WhileConnecting, TimeSpan.FromSeconds(2));
    }

    private static async Task ResetBatchAsync(Stage stage, TimeSpan connectTimeout)
    {
        // A name whose resolution never ends: a request for it waits in Connecting until the connect timeout.
        var resolver = new StallingResolver();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.ConnectTimeout = connectTimeout;
        }, resolver);
        ResourceBaseline baseline = ResourceBaseline.Capture();

        var clients = new Socket[BatchSize];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, BatchSize), new ParallelOptions { MaxDegreeOfParallelism = 20 }, async (i, _) =>
            {
                clients[i] = await Hostile.ConnectAsync(server.EndPoint);
                await HandshakeUntilAsync(clients[i], stage, i);
            }).DefaultTimeout();
            if (stage == Stage.WhileConnecting)
            {
                // Every session is waiting for its destination when the resets come.
                await SocketTestExtensions.WaitUntilAsync(() => resolver.Started == BatchSize);
            }

            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == BatchSize);
        }
        finally
        {
            foreach (Socket client in clients)
            {
                if (client is not null)
                {
                    Hostile.Reset(client);
                }
            }
        }

        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server, "alice", "secret");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClientReset_MidTransferWithDataInFlight_TunnelAndTargetReleased_AndServerStillServes(bool upstream)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        ResourceBaseline baseline = ResourceBaseline.Capture();
        byte[] chunk = TestData.RandomBytes(64 * 1024, seed: 3);

        await Parallel.ForEachAsync(Enumerable.Range(0, 50), new ParallelOptions { MaxDegreeOfParallelism = 10 }, async (_, _) =>
        {
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            using Socket accepted = await target.AcceptAsync();

            // One direction busy, with more queued than the buffers on the way can hold, and the reset lands while bytes
            // are still in flight through the server: some sent and not yet relayed, some relayed and not yet read.
            Socket sender = upstream ? client.Socket : accepted;
            Socket receiver = upstream ? accepted : client.Socket;
            Task pushing = PushAsync(sender, chunk, 4096);
            Assert.Equal(chunk, await receiver.ReceiveExactlyAsync(chunk.Length));
            Hostile.Reset(client.Socket);

            // The server passes the reset on: the target sees its connection end, whichever way, and soon.
            await accepted.ReadToEndAsync(limit: int.MaxValue);
            Exception failed = await Assert.ThrowsAnyAsync<Exception>(() => pushing.WaitAsync(TestTimeouts.Default));
            Assert.True(failed is SocketException or ObjectDisposedException, $"the sender ended with {failed}");
        }).DefaultTimeout();

        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server);
    }

    private static async Task PushAsync(Socket socket, byte[] chunk, int times)
    {
        for (int i = 0; i < times; i++)
        {
            await socket.SendAsync(chunk, SocketFlags.None).DefaultTimeout();
        }
    }

    private static async Task HandshakeUntilAsync(Socket client, Stage stage, int index)
    {
        byte[] credentials = Socks5Bytes.Credentials("alice", "secret");
        switch (stage)
        {
            case Stage.MidGreeting:
                await client.SendAsync(new byte[] { 5, 3, 2 });
                return;
            case Stage.AfterMethodSelection:
                await client.SendAsync(Socks5Bytes.PasswordGreeting);
                Assert.Equal(new byte[] { 5, 2 }, await client.ReceiveExactlyAsync(2));
                return;
            case Stage.MidCredentials:
                await client.SendAsync(Socks5Bytes.PasswordGreeting);
                Assert.Equal(new byte[] { 5, 2 }, await client.ReceiveExactlyAsync(2));
                await client.SendAsync(credentials.AsMemory(0, 4));
                return;
        }

        byte[] authenticated = [.. Socks5Bytes.PasswordGreeting, .. credentials];
        await client.SendAsync(authenticated);
        Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
        switch (stage)
        {
            case Stage.MidRequest:
                await client.SendAsync(new byte[] { 5, 1, 0, 3, 20, (byte)'e', (byte)'x' });
                break;
            case Stage.WhileConnecting:
                // A name of its own for each, so that no lookup is shared.
                await client.SendAsync(Socks5Bytes.ConnectDomain($"{index}.{StallingResolver.Domain}", 80));
                break;
        }
    }

    /// <summary>Resolves nothing, ever (until canceled); counts the lookups begun.</summary>
    private sealed class StallingResolver : Sockeye.Server.Commands.IHostResolver
    {
        public const string Domain = "never.resolves.test";
        private int _started;

        public int Started => Volatile.Read(ref _started);

        public async Task<System.Net.IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("A delay without end ended.");
        }
    }
}
