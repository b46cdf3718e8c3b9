using System.Net.Sockets;
using Sockeye.Server.Transport.Portable;

namespace Sockeye.Server.Tests.Transport.Portable;

/// <summary>Replies go out with one non-blocking send when they fit, and the awaitable send covers every other case.</summary>
public sealed class NonBlockingSendTests
{
    [Fact]
    public async Task SendAsync_SmallReply_ArrivesWhole()
    {
        (Socket sender, Socket receiver) = await LoopbackPair.ConnectAsync();
        using (sender)
        using (receiver)
        {
            byte[] reply = [5, 0, 0, 1, 127, 0, 0, 1, 0x1F, 0x90];

            ValueTask send = NonBlockingSend.SendAsync(sender, reply, CancellationToken.None);

            Assert.True(send.IsCompletedSuccessfully);
            Assert.Equal(reply, await receiver.ReceiveExactlyAsync(reply.Length));
        }
    }

    [Fact]
    public async Task SendAsync_MoreThanTheBuffersHold_WaitsForThePeerAndDeliversEverythingInOrder()
    {
        (Socket sender, Socket receiver) = await LoopbackPair.ConnectAsync();
        using (sender)
        using (receiver)
        {
            byte[] data = new byte[32 << 20];
            new Random(7).NextBytes(data);

            ValueTask send = NonBlockingSend.SendAsync(sender, data, CancellationToken.None);

            // 32 MiB is several times what loopback's send and receive buffers can hold together: the rest has to wait.
            Assert.False(send.IsCompleted);
            byte[] received = await receiver.ReceiveExactlyAsync(data.Length);
            await send.DefaultTimeout();
            Assert.Equal(data, received);
        }
    }

    [Fact]
    public async Task SendAsync_PeerHasReset_ThrowsSocketException()
    {
        (Socket sender, Socket receiver) = await LoopbackPair.ConnectAsync();
        using (sender)
        {
            receiver.LingerState = new LingerOption(true, 0);
            receiver.Dispose();
            byte[] probe = new byte[1];

            // The first send after the RST may still be taken by the kernel; a later one must report the reset.
            SocketException? error = null;
            for (int attempt = 0; attempt < 10 && error is null; attempt++)
            {
                try
                {
                    await NonBlockingSend.SendAsync(sender, probe, CancellationToken.None).DefaultTimeout();
                    await Task.Delay(20);
                }
                catch (SocketException e)
                {
                    error = e;
                }
            }

            Assert.NotNull(error);
            Assert.True(error.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted,
                error.SocketErrorCode.ToString());
        }
    }

    [Fact]
    public async Task SendAsync_SocketDisposed_ThrowsObjectDisposedException()
    {
        (Socket sender, Socket receiver) = await LoopbackPair.ConnectAsync();
        using (receiver)
        {
            sender.Dispose();

            await Assert.ThrowsAsync<ObjectDisposedException>(() => NonBlockingSend.SendAsync(sender, new byte[4], CancellationToken.None).AsTask());
        }
    }
}
