using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Server.Interop;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Server.Transport.Linux;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// Segmented sends (UDP GSO) on real loopback sockets. A receiver with UDP_GRO on gets a segmented message whole, as one
/// read of the run's bytes, so its reads show which datagrams left together; a receiver without it gets the datagrams
/// one by one, as from plain sends.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class DatagramBatchTests
{
    private const int UdpGro = 104;
    private const int SoNoCheck = 11;
    private const int SlotBytes = 2048;

    [LinuxFact]
    public void SegmentedSend_RunsOfOneLengthToOneAddress_LeaveTogether_ALongerOneOrAnotherAddressStartsANewRun()
    {
        Assert.True(DatagramBatch.SegmentationSupported, "this kernel has UDP_SEGMENT (Linux 4.18 and later)");
        using Socket sender = Bound();
        using Socket first = Bound(gro: true);
        using Socket second = Bound(gro: true);

        // Runs: [300 × 3, 120] (the last may be shorter) | [300] (a longer one after a shorter) | [1 200 × 2] to the
        // second | [500] back to the first | [0] (empty: never segmented) | [64 × 4].
        (Socket To, int Length)[] datagrams =
        [
            (first, 300), (first, 300), (first, 300), (first, 120), (first, 300),
            (second, 1200), (second, 1200), (first, 500), (first, 0),
            (first, 64), (first, 64), (first, 64), (first, 64),
        ];

        byte[] scratch = GC.AllocateArray<byte>(DatagramBatch.ScratchBytes(SlotBytes), pinned: true);
        var batch = new DatagramBatch(scratch);
        List<byte[]> toFirst = [];
        List<byte[]> toSecond = [];
        for (int i = 0; i < datagrams.Length; i++)
        {
            byte[] payload = Payload(i, datagrams[i].Length);
            payload.CopyTo(batch.Slot(i));
            (datagrams[i].To == first ? toFirst : toSecond).Add(payload);
            batch.SetOutgoing(i, i, 0, payload.Length, datagrams[i].To.LocalEndPoint!.Serialize(), tag: i);
        }

        int sent = batch.SendSegmented(sender, 0, datagrams.Length, out bool refused, out _);

        Assert.Equal(datagrams.Length, sent);
        Assert.False(refused);
        Assert.Equal([3 * 300 + 120, 300, 500, 0, 4 * 64], ReadLengths(first, 5));
        Assert.Equal([2 * 1200], ReadLengths(second, 1));
    }

    [LinuxFact]
    public void SegmentedSend_ToAReceiverWithoutGro_ArrivesAsTheSameDatagramsInOrder()
    {
        using Socket sender = Bound();
        using Socket receiver = Bound();
        byte[] scratch = GC.AllocateArray<byte>(DatagramBatch.ScratchBytes(SlotBytes), pinned: true);
        var batch = new DatagramBatch(scratch);
        byte[][] payloads = [.. Enumerable.Range(0, DatagramBatch.Capacity).Select(i => Payload(i, i == DatagramBatch.Capacity - 1 ? 700 : 1400))];
        for (int i = 0; i < payloads.Length; i++)
        {
            payloads[i].CopyTo(batch.Slot(i));
            batch.SetOutgoing(i, i, 0, payloads[i].Length, receiver.LocalEndPoint!.Serialize(), tag: i);
        }

        Assert.Equal(payloads.Length, batch.SendSegmented(sender, 0, payloads.Length, out bool refused, out _));

        Assert.False(refused);
        Assert.Equal(payloads, ReadAll(receiver, payloads.Length));
    }

    [LinuxFact]
    public void SegmentedSend_OnASocketThatCannotSegment_SaysSoAndSendsTheRunOneByOne()
    {
        using Socket sender = Bound();

        // Without UDP checksums the kernel refuses to segment (EINVAL); plain sends still go.
        sender.SetRawSocketOption(Libc.SolSocket, SoNoCheck, BitConverter.GetBytes(1));
        using Socket receiver = Bound();
        byte[] scratch = GC.AllocateArray<byte>(DatagramBatch.ScratchBytes(SlotBytes), pinned: true);
        var batch = new DatagramBatch(scratch);
        byte[][] payloads = [.. Enumerable.Range(0, 6).Select(i => Payload(i, 200))];
        for (int i = 0; i < payloads.Length; i++)
        {
            payloads[i].CopyTo(batch.Slot(i));
            batch.SetOutgoing(i, i, 0, payloads[i].Length, receiver.LocalEndPoint!.Serialize(), tag: i);
        }

        int sent = batch.SendSegmented(sender, 0, payloads.Length, out bool refused, out _);

        Assert.True(refused);
        Assert.Equal(payloads.Length, sent);
        Assert.Equal(payloads, ReadAll(receiver, payloads.Length));
    }

    [LinuxFact]
    public void SegmentedSend_ARunRefusedForAnotherReason_IsTriedOneByOne_WithoutGivingUpSegmenting()
    {
        using Socket sender = Bound();
        byte[] scratch = GC.AllocateArray<byte>(DatagramBatch.ScratchBytes(SlotBytes), pinned: true);
        var batch = new DatagramBatch(scratch);

        // An IPv6 destination on an IPv4 socket: refused whole (EAFNOSUPPORT), as each of its datagrams would be.
        SocketAddress wrongFamily = new IPEndPoint(IPAddress.IPv6Loopback, 9).Serialize();
        for (int i = 0; i < 4; i++)
        {
            Payload(i, 100).CopyTo(batch.Slot(i));
            batch.SetOutgoing(i, i, 0, 100, wrongFamily, tag: i);
        }

        Assert.Equal(0, batch.SendSegmented(sender, 0, 4, out bool refused, out int errno));
        Assert.False(refused);

        // The refusal of the first datagram sent on its own, which the batch's sender reads to decide what to try next.
        Assert.Equal(Errno.EAFNOSUPPORT, errno);
    }

    private static byte[] Payload(int index, int length)
    {
        byte[] payload = new byte[length];
        for (int i = 0; i < length; i++)
        {
            payload[i] = (byte)((index * 31) + i);
        }

        return payload;
    }

    private static int[] ReadLengths(Socket socket, int reads) => [.. ReadAll(socket, reads).Select(d => d.Length)];

    private static byte[][] ReadAll(Socket socket, int count)
    {
        socket.ReceiveTimeout = (int)TestTimeouts.Default.TotalMilliseconds;
        byte[] buffer = new byte[65536];
        byte[][] received = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            received[i] = buffer[..socket.Receive(buffer)];
        }

        Assert.False(socket.Poll(0, SelectMode.SelectRead), "more arrived than expected");
        return received;
    }

    private static Socket Bound(bool gro = false)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 1 << 20 };
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        if (gro)
        {
            socket.SetRawSocketOption(Libc.SolUdp, UdpGro, BitConverter.GetBytes(1));
        }

        return socket;
    }
}
