using Sockeye.Server.Interop;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The outgoing messages of one batch on one socket, as <see cref="OutgoingDatagrams.SendAll"/> sends them: a
/// <see cref="DatagramBatch"/> in the pump, a script in tests.
/// </summary>
internal interface IOutgoingDatagrams
{
    /// <summary>
    /// Sends messages from <paramref name="first"/> on, up to <paramref name="count"/> of them, without waiting. Returns
    /// how many the kernel took, in order; 0 when it refused the first, with the refusal's <paramref name="errno"/>
    /// (<see cref="Errno.EAGAIN"/> for a full send buffer, 0 for a closed socket).
    /// </summary>
    int Send(int first, int count, out int errno);

    /// <summary>The number given with message <paramref name="message"/>: the bytes it counts for.</summary>
    int Tag(int message);
}

/// <summary>How a batch's outgoing messages are sent when the kernel refuses some of them.</summary>
internal static class OutgoingDatagrams
{
    /// <summary>
    /// Sends the first <paramref name="count"/> of <paramref name="messages"/> and returns how many the kernel took and
    /// the sum of their tags. A message refused for itself (no route, an address of the other family, the client's
    /// port gone) is not taken, and those behind it get their own try, as each would have with a sendto(2) of its own:
    /// UDP drops, and the association goes on. A full send buffer (EAGAIN) or a closed socket refuses every message
    /// behind it as well, so those are not tried: under overload a batch costs one refused call, not one per datagram.
    /// </summary>
    public static (int Taken, long TakenBytes) SendAll<TMessages>(scoped ref TMessages messages, int count)
        where TMessages : IOutgoingDatagrams, allows ref struct
    {
        int taken = 0;
        long takenBytes = 0;
        int next = 0;
        while (next < count)
        {
            int sent = messages.Send(next, count - next, out int errno);
            if (sent == 0)
            {
                if (errno is 0 or Errno.EAGAIN)
                {
                    break;
                }

                next++;
                continue;
            }

            taken += sent;
            for (int end = next + sent; next < end; next++)
            {
                takenBytes += messages.Tag(next);
            }
        }

        return (taken, takenBytes);
    }
}
