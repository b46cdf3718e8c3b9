using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Batches of clients that choose GSSAPI and then send what is no context token, or give up: each is answered with the
/// abort (or, having aborted or left, with nothing) and closed, and once they are gone the server holds no socket and
/// no more memory than before. No Kerberos is needed: none of these reaches the acceptor, so these tests leave the
/// process's Kerberos environment alone (no keytab is configured, so the server sets nothing either).
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class GssapiGarbageTests
{
    private const int BatchSize = 200;

    public static TheoryData<byte[], byte[]> Garbage => new()
    {
        // What the client sends after the greeting, and all it gets back after the method selection.
        { [1, 1, 0xFF, 0xFF], [1, 0xFF] },
        // LEN 12 289, one past the bound: refused at the header, without waiting for the token.
        { [1, 1, 0x30, 0x01, 0x60], [1, 0xFF] },
        { [5, 1, 0, 1, 127, 0, 0, 1, 0, 80], [1, 0xFF] },
        { [1, 0x09, 0, 1, 0], [1, 0xFF] },
        { [1, 1, 0, 0], [1, 0xFF] },
        { [1, 0xFF], [] },
        { [], [] },
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public async Task GssapiChosen_ThenGarbage_AbortedAndClosed_NothingLeaks(byte[] garbage, byte[] expected)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Gssapi = new GssapiOptions());
        ResourceBaseline baseline = ResourceBaseline.Capture();

        for (int i = 0; i < BatchSize; i++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([5, 1, 1, .. garbage]);
            if (garbage.Length == 0)
            {
                // Leaves in the middle of the exchange: the FIN is the whole answer.
                Assert.Equal([5, 1], await client.ReceiveExactlyAsync(2));
                client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
                Assert.Empty(await client.ReadToEndAsync());
                continue;
            }

            Assert.Equal([5, 1, .. expected], await client.ReadToEndAsync());
        }

        await baseline.AssertReturnedAsync(server.Server);
    }
}
