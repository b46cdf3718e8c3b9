using Sockeye.Server.Interop;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// What a batch's sends do with the kernel's refusals. A full send buffer (EAGAIN) cannot be made on loopback, where a
/// datagram leaves its sender's buffer as it is sent, so the kernel is scripted here: which message it refuses, and why.
/// </summary>
public sealed class OutgoingDatagramsTests
{
    [Fact]
    public void AFullSendBuffer_RefusesEveryMessageBehindIt_WithoutACallForEach()
    {
        // The buffer fills after five messages: sendmmsg(2) takes five, and the next call is refused with EAGAIN.
        var kernel = new ScriptedKernel(messages: 20, refuse: index => index >= 5 ? Errno.EAGAIN : 0);

        (int taken, long takenBytes) = OutgoingDatagrams.SendAll(ref kernel, 20);

        Assert.Equal(5, taken);
        Assert.Equal(kernel.BytesOf(0, 1, 2, 3, 4), takenBytes);
        Assert.Equal([(0, 20), (5, 15)], kernel.Calls);
    }

    [Fact]
    public void AMessageRefusedForItself_IsLeftOut_AndThoseBehindItStillGo()
    {
        // Per message, as an address of the other family or a destination with no route is.
        var kernel = new ScriptedKernel(messages: 10, refuse: index => index is 3 or 7 ? Errno.EAFNOSUPPORT : 0);

        (int taken, long takenBytes) = OutgoingDatagrams.SendAll(ref kernel, 10);

        Assert.Equal(8, taken);
        Assert.Equal(kernel.BytesOf(0, 1, 2, 4, 5, 6, 8, 9), takenBytes);
        Assert.Equal([(0, 10), (3, 7), (4, 6), (7, 3), (8, 2)], kernel.Calls);
    }

    [Fact]
    public void AClosedSocket_TakesNothing_AndIsTriedOnce()
    {
        var kernel = new ScriptedKernel(messages: 8, refuse: _ => 0, closed: true);

        (int taken, long takenBytes) = OutgoingDatagrams.SendAll(ref kernel, 8);

        Assert.Equal(0, taken);
        Assert.Equal(0, takenBytes);
        Assert.Equal([(0, 8)], kernel.Calls);
    }

    [Fact]
    public void AFullBufferAfterAMessageRefusedForItself_StopsThere()
    {
        var kernel = new ScriptedKernel(messages: 12, refuse: index => index == 2 ? Errno.EHOSTUNREACH : index >= 6 ? Errno.EAGAIN : 0);

        (int taken, long takenBytes) = OutgoingDatagrams.SendAll(ref kernel, 12);

        Assert.Equal(5, taken);
        Assert.Equal(kernel.BytesOf(0, 1, 3, 4, 5), takenBytes);
        Assert.Equal([(0, 12), (2, 10), (3, 9), (6, 6)], kernel.Calls);
    }

    /// <summary>
    /// sendmmsg(2) as Linux answers it: the messages up to the first refused are taken; if the first is refused, the call
    /// fails with that message's errno.
    /// </summary>
    private sealed class ScriptedKernel(int messages, Func<int, int> refuse, bool closed = false) : IOutgoingDatagrams
    {
        public List<(int First, int Count)> Calls { get; } = [];

        public int Send(int first, int count, out int errno)
        {
            Assert.InRange(first + count, 1, messages);
            Calls.Add((first, count));
            errno = 0;
            if (closed)
            {
                return 0;
            }

            int sent = 0;
            while (sent < count && refuse(first + sent) == 0)
            {
                sent++;
            }

            if (sent == 0)
            {
                errno = refuse(first);
            }

            return sent;
        }

        public int Tag(int message) => 100 + message;

        public long BytesOf(params int[] taken) => taken.Sum(message => (long)Tag(message));
    }
}
