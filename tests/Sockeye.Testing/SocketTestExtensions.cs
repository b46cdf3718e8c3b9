using System.Net.Sockets;

namespace Sockeye.Testing;

/// <summary>Reading helpers for tests on real sockets; every wait is bounded by <see cref="TestTimeouts.Default"/>.</summary>
public static class SocketTestExtensions
{
    /// <summary>Reads exactly <paramref name="count"/> bytes; an early close is an <see cref="EndOfStreamException"/> showing what did arrive.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(this Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        int offset = 0;
        while (offset < count)
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(offset), SocketFlags.None).DefaultTimeout();
            if (read == 0)
            {
                throw new EndOfStreamException($"The peer closed after {offset} of {count} expected bytes: {Convert.ToHexString(buffer, 0, offset)}");
            }

            offset += read;
        }

        return buffer;
    }

    /// <summary>Reads until the peer closes and returns everything it sent. A reset after the data counts as a close.</summary>
    public static async Task<byte[]> ReadToEndAsync(this Socket socket, int limit = 1 << 20)
    {
        using var collected = new MemoryStream();
        byte[] buffer = new byte[4096];
        try
        {
            while (collected.Length < limit)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
                if (read == 0)
                {
                    break;
                }

                collected.Write(buffer, 0, read);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // A reset ends the stream too.
        }

        return collected.ToArray();
    }

    /// <summary>Polls <paramref name="condition"/> for up to five seconds, for state a server updates just after the event a test saw.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert(condition());
    }

    private static void Assert(bool condition)
    {
        if (!condition)
        {
            throw new TimeoutException("The condition did not become true within 5 s.");
        }
    }

    /// <summary>Sends all of <paramref name="bytes"/>, then FIN: one direction of a tunnel, from its source's side.</summary>
    public static async Task SendAllThenShutdownAsync(this Socket socket, byte[] bytes)
    {
        for (int sent = 0; sent < bytes.Length;)
        {
            sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
        }

        socket.Shutdown(SocketShutdown.Send);
    }
}
