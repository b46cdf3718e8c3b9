using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Server.Transport;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// The Linux engine's UDP pump with a scripted relay (every decision the test's), on real loopback sockets: bursts
/// queued in the kernel before the pump reads anything, so that each is read in batches of recvmmsg(2) and sent in
/// runs of sendmmsg(2). A datagram here is [kind][header length][sequence, 4 bytes][filler].
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LoopDatagramPumpTests
{
    private const int MaxPayloadBytes = 2048;
    private const byte ToFirst = 0;
    private const byte ToSecond = 1;
    private const byte ToName = 2;
    private const byte Drop = 3;
    private const byte ToWrongFamily = 4;

    [LinuxFact]
    public async Task ClientBurst_SixBatchesToTwoDestinationsQueuedBeforeTheFirstRead_EachArrivesInOrderAndIsCountedExactly()
    {
        using var relay = new ScriptedRelay();
        List<byte[]> sent = [];
        for (int sequence = 0; sequence < 200; sequence++)
        {
            // Runs of each destination (and so of each outbound socket, IPv4 and IPv6) mixed within every batch.
            byte kind = sequence % 17 == 5 ? Drop : sequence % 7 < 3 ? ToSecond : ToFirst;
            sent.Add(Datagram(kind, sequence, 20 + (sequence * 7 % 300)));
        }

        foreach (byte[] datagram in sent)
        {
            relay.FromClient(datagram);
        }

        await using (await PumpRunning.StartAsync(relay))
        {
            byte[][] expectedFirst = [.. sent.Where(d => d[0] == ToFirst)];
            byte[][] expectedSecond = [.. sent.Where(d => d[0] == ToSecond)];
            Assert.Equal(expectedFirst, await ReceiveAsync(relay.First, expectedFirst.Length));
            Assert.Equal(expectedSecond, await ReceiveAsync(relay.Second, expectedSecond.Length));

            byte[][] forwarded = [.. sent.Where(d => d[0] is ToFirst or ToSecond)];
            await SocketTestExtensions.WaitUntilAsync(() => relay.TakenUp == forwarded.Length);
            Assert.Equal(forwarded.Sum(d => d.Length - d[1]), relay.BytesUp);
            Assert.Equal(0, relay.RefusedUp);
        }

        Assert.Equal(Enumerable.Range(0, 200), relay.Routed.Select(r => r.Sequence));
        Assert.All(relay.Routed, r => Assert.True(r.OnLoop && r.FromClient));
    }

    [LinuxFact]
    public async Task ClientBurst_NamesToResolveInTheMiddleOfABatch_NothingLostOrReorderedAndNothingRoutedBeforeTheLookup()
    {
        using var relay = new ScriptedRelay();
        List<byte[]> sent = [];
        for (int sequence = 0; sequence < 200; sequence++)
        {
            // 40 and 41: the second waits behind the first, both in the batch that read them; 150: in a later one.
            byte kind = sequence is 40 or 41 or 150 ? ToName : ToFirst;
            sent.Add(Datagram(kind, sequence, 30 + (sequence % 50)));
        }

        foreach (byte[] datagram in sent)
        {
            relay.FromClient(datagram);
        }

        await using (await PumpRunning.StartAsync(relay))
        {
            Assert.Equal(sent.Take(40).ToArray(), await ReceiveAsync(relay.First, 40));
            await SocketTestExtensions.WaitUntilAsync(() => relay.Lookups == 1);

            // The batch that read 40 went on to read those behind it, but routes none of them before the lookup.
            Assert.Equal(41, relay.Routed.Count);

            // Datagrams that come while the lookup waits stay in the kernel, behind those already read.
            for (int sequence = 200; sequence < 210; sequence++)
            {
                sent.Add(Datagram(ToFirst, sequence, 40));
                relay.FromClient(sent[^1]);
            }

            relay.AnswerLookups();
            Assert.Equal(sent.Skip(40).ToArray(), await ReceiveAsync(relay.First, 170));
            await SocketTestExtensions.WaitUntilAsync(() => relay.TakenUp == 210);
            Assert.Equal(sent.Sum(d => d.Length - d[1]), relay.BytesUp);
        }

        Assert.Equal(3, relay.Lookups);
        Assert.Equal(Enumerable.Range(0, 210), relay.Routed.Select(r => r.Sequence));
        Assert.All(relay.Routed, r => Assert.True(r.OnLoop && r.FromClient));
    }

    [LinuxFact]
    public async Task ClientBurst_DatagramsTheKernelRefusesInTheMiddle_CountedNotTakenAndThoseBehindThemStillSent()
    {
        using var relay = new ScriptedRelay();
        List<byte[]> sent = [];
        for (int sequence = 0; sequence < 100; sequence++)
        {
            // An IPv6 address on the IPv4 socket: sendmmsg(2) stops there, and the rest must still go.
            sent.Add(Datagram(sequence is 10 or 11 or 50 or 99 ? ToWrongFamily : ToFirst, sequence, 64));
            relay.FromClient(sent[^1]);
        }

        await using (await PumpRunning.StartAsync(relay))
        {
            byte[][] expected = [.. sent.Where(d => d[0] == ToFirst)];
            Assert.Equal(expected, await ReceiveAsync(relay.First, expected.Length));
            await SocketTestExtensions.WaitUntilAsync(() => relay.TakenUp + relay.RefusedUp == 100);
            Assert.Equal(96, relay.TakenUp);
            Assert.Equal(4, relay.RefusedUp);
            Assert.Equal(expected.Sum(d => d.Length - d[1]), relay.BytesUp);

            // All queued before the first read, to one socket: one report per recvmmsg(2), refusals included.
            Assert.Equal((100 + DatagramBatch.Capacity - 1) / DatagramBatch.Capacity, relay.ReportsUp);
        }
    }

    [LinuxFact]
    public async Task ClientBurst_OversizeDatagramInTheMiddle_TruncatedToTheLargestFromAClientAsByRecvfrom()
    {
        using var relay = new ScriptedRelay();
        int largest = DatagramPump.LargestFromClient(MaxPayloadBytes);
        byte[][] sent = [Datagram(ToFirst, 0, 100), Datagram(ToFirst, 1, largest + 700), Datagram(ToFirst, 2, largest), Datagram(ToFirst, 3, 100)];
        foreach (byte[] datagram in sent)
        {
            relay.FromClient(datagram);
        }

        await using (await PumpRunning.StartAsync(relay))
        {
            byte[][] expected = [sent[0], sent[1][..largest], sent[2], sent[3]];
            Assert.Equal(expected, await ReceiveAsync(relay.First, 4));
        }

        Assert.Equal(new[] { 100, largest, largest, 100 }, relay.Routed.Select(r => r.Length));
    }

    [LinuxFact]
    public async Task DestinationBurst_SixBatchesQueuedBeforeTheFirstRead_ArriveAtTheClientInOrderWithTheirHeaderAndCountedExactly()
    {
        using var relay = new ScriptedRelay();
        using var remote = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        remote.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        List<byte[]> sent = [];
        for (int sequence = 0; sequence < 200; sequence++)
        {
            sent.Add(Datagram(sequence % 13 == 4 ? Drop : ToFirst, sequence, 20 + (sequence * 11 % 400)));
        }

        // Over the largest payload: read truncated to it, as recvfrom(2) read it.
        sent[120] = Datagram(ToFirst, 120, MaxPayloadBytes + 500);
        foreach (byte[] datagram in sent)
        {
            remote.SendTo(datagram, relay.First.LocalEndPoint!);
        }

        await using (PumpRunning pump = await PumpRunning.StartAsync(relay))
        {
            pump.Pump.AddDestination(relay.First);
            byte[][] expected = [.. sent.Where(d => d[0] != Drop).Select(d => (byte[])[0xAB, 0xCD, .. d[..Math.Min(d.Length, MaxPayloadBytes)]])];
            Assert.Equal(expected, await ReceiveAsync(relay.Client, expected.Length));
            await SocketTestExtensions.WaitUntilAsync(() => relay.TakenDown == expected.Length);
            Assert.Equal(expected.Sum(d => d.Length - 2 - d[3]), relay.BytesDown);
            Assert.Equal(0, relay.RefusedDown);
            Assert.Equal((200 + DatagramBatch.Capacity - 1) / DatagramBatch.Capacity, relay.ReportsDown);
        }

        Assert.Equal(200, relay.Prepared.Count);
        Assert.Equal(MaxPayloadBytes, relay.Prepared.ElementAt(120));
        Assert.All(relay.Routed, r => Assert.True(r.OnLoop));
    }

    [LinuxFact]
    public async Task ClientBurst_OfOneLengthToOneDestination_LeavesSegmented_AndWithoutGroArrivesAsTheSameDatagrams()
    {
        using var relay = new ScriptedRelay();

        // With UDP_GRO on, a segmented message over loopback arrives whole: a read longer than one datagram shows that
        // the pump sent several as one.
        relay.First.SetRawSocketOption(17, 104, BitConverter.GetBytes(1));
        List<byte[]> sent = [];
        for (int sequence = 0; sequence < 120; sequence++)
        {
            byte[] datagram = Datagram(ToFirst, sequence, 600);
            datagram[1] = 2; // Counted bytes, one length for all.
            sent.Add(datagram);
            relay.FromClient(datagram);
        }

        byte[] expected = [.. sent.SelectMany(d => d)];
        await using (await PumpRunning.StartAsync(relay))
        {
            (byte[] received, List<int> reads) = await ReceiveCoalescedAsync(relay.First, expected.Length, sent.Count);

            Assert.Equal(expected, received);
            Assert.Contains(reads, read => read > 600);
            Assert.All(reads, read => Assert.Equal(0, read % 600));
            await SocketTestExtensions.WaitUntilAsync(() => relay.TakenUp == sent.Count);
            Assert.Equal(0, relay.RefusedUp);
        }

        // The same burst to a receiver without GRO: one datagram per read, in order, whole.
        using var plain = new ScriptedRelay();
        foreach (byte[] datagram in sent)
        {
            plain.FromClient(datagram);
        }

        await using (await PumpRunning.StartAsync(plain))
        {
            Assert.Equal(sent, await ReceiveAsync(plain.First, sent.Count));
        }
    }

    [LinuxFact]
    public async Task SegmentationOff_ARunOfOneLength_LeavesOneDatagramPerMessage()
    {
        using var relay = new ScriptedRelay();
        relay.First.SetRawSocketOption(17, 104, BitConverter.GetBytes(1)); // UDP_GRO: a segmented message would arrive whole.
        List<byte[]> sent = [];
        for (int sequence = 0; sequence < 60; sequence++)
        {
            byte[] datagram = Datagram(ToFirst, sequence, 400);
            datagram[1] = 2;
            sent.Add(datagram);
            relay.FromClient(datagram);
        }

        await using (await PumpRunning.StartAsync(relay, segment: false))
        {
            Assert.Equal(sent, await ReceiveAsync(relay.First, sent.Count));
        }
    }

    [LinuxFact]
    public async Task DestinationBurst_OfOneLength_LeavesForTheClientSegmented()
    {
        using var relay = new ScriptedRelay();
        relay.Client.SetRawSocketOption(17, 104, BitConverter.GetBytes(1)); // UDP_GRO: a segmented message arrives whole.
        using var remote = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        remote.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        List<byte[]> sent = [.. Enumerable.Range(0, 100).Select(sequence => Datagram(ToFirst, sequence, 300))];
        foreach (byte[] datagram in sent)
        {
            remote.SendTo(datagram, relay.First.LocalEndPoint!);
        }

        byte[] expected = [.. sent.SelectMany(d => (byte[])[0xAB, 0xCD, .. d])];
        await using (PumpRunning pump = await PumpRunning.StartAsync(relay))
        {
            pump.Pump.AddDestination(relay.First);
            (byte[] received, List<int> reads) = await ReceiveCoalescedAsync(relay.Client, expected.Length, sent.Count);

            Assert.Equal(expected, received);
            Assert.Contains(reads, read => read > 302);
            await SocketTestExtensions.WaitUntilAsync(() => relay.TakenDown == sent.Count);
        }
    }

    [LinuxFact]
    public void NativeLayouts_MatchLinuxOn64BitArchitectures()
    {
        Assert.Equal(16, System.Runtime.CompilerServices.Unsafe.SizeOf<Sockeye.Server.Interop.Libc.IoVec>());
        Assert.Equal(56, System.Runtime.CompilerServices.Unsafe.SizeOf<Sockeye.Server.Interop.Libc.MsgHdr>());
        Assert.Equal(64, System.Runtime.CompilerServices.Unsafe.SizeOf<Sockeye.Server.Interop.Libc.MMsgHdr>());
        Assert.Equal(8, (int)System.Runtime.InteropServices.Marshal.OffsetOf<Sockeye.Server.Interop.Libc.IoVec>("Length"));
        (string Field, int Offset)[] msghdr = [("Name", 0), ("NameLength", 8), ("Iov", 16), ("IovLength", 24), ("Control", 32), ("ControlLength", 40), ("Flags", 48)];
        foreach ((string field, int offset) in msghdr)
        {
            Assert.Equal(offset, (int)System.Runtime.InteropServices.Marshal.OffsetOf<Sockeye.Server.Interop.Libc.MsgHdr>(field));
        }

        Assert.Equal(56, (int)System.Runtime.InteropServices.Marshal.OffsetOf<Sockeye.Server.Interop.Libc.MMsgHdr>("Length"));
    }

    [LinuxFact]
    public void ScratchBytes_ForASlot_GivesABatchOfThatSlot()
    {
        int slot = DatagramPump.BufferBytesForEitherDirection(65507);
        byte[] scratch = GC.AllocateArray<byte>(DatagramBatch.ScratchBytes(slot), pinned: true);
        Assert.Equal(slot, new DatagramBatch(scratch).SlotBytes);
    }

    private static byte[] Datagram(byte kind, int sequence, int length)
    {
        byte[] datagram = new byte[length];
        datagram[0] = kind;
        datagram[1] = (byte)(sequence % 5);
        BinaryPrimitives.WriteInt32BigEndian(datagram.AsSpan(2), sequence);
        for (int i = 6; i < length; i++)
        {
            datagram[i] = (byte)(sequence + i);
        }

        return datagram;
    }

    private static async Task<byte[][]> ReceiveAsync(Socket socket, int count)
    {
        byte[][] received = new byte[count][];
        byte[] buffer = new byte[65536];
        for (int i = 0; i < count; i++)
        {
            SocketReceiveFromResult result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0)).DefaultTimeout();
            received[i] = buffer[..result.ReceivedBytes];
        }

        return received;
    }

    /// <summary>
    /// Reads <paramref name="bytes"/> from a socket with UDP_GRO on, in at most <paramref name="maxReads"/> reads:
    /// everything that came, and the length of each read (a segmented message arrives as one).
    /// </summary>
    private static async Task<(byte[] Received, List<int> Reads)> ReceiveCoalescedAsync(Socket socket, int bytes, int maxReads)
    {
        List<int> reads = [];
        byte[] received = new byte[bytes];
        byte[] buffer = new byte[65536];
        for (int got = 0; got < bytes && reads.Count < maxReads;)
        {
            int read = (await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout()).ReceivedBytes;
            buffer.AsSpan(0, Math.Min(read, bytes - got)).CopyTo(received.AsSpan(got));
            got += read;
            reads.Add(read);
        }

        return (received, reads);
    }

    private static Socket Bound(IPAddress address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp)
        {
            // Room for a whole burst: the kernel caps it at twice net.core.rmem_max, some 400 small datagrams.
            ReceiveBufferSize = 4 << 20,
        };
        socket.Bind(new IPEndPoint(address, 0));
        return socket;
    }

    /// <summary>A pump on a loop of its own, running until disposed.</summary>
    private sealed class PumpRunning : IAsyncDisposable
    {
        private readonly EpollLoop _loop;
        private readonly CancellationTokenSource _end = new();
        private Task _run = Task.CompletedTask;

        private PumpRunning(ScriptedRelay relay, bool segment)
        {
            _loop = new EpollLoop("pump-test", DatagramBatch.ScratchBytes(DatagramPump.BufferBytesForEitherDirection(MaxPayloadBytes)), NullLogger.Instance);
            Pump = new LoopDatagramPump(_loop, relay, segment);
        }

        internal LoopDatagramPump Pump { get; }

        public static async Task<PumpRunning> StartAsync(ScriptedRelay relay, bool segment = true)
        {
            var running = new PumpRunning(relay, segment);
            running._run = running.Pump.RunAsync(running._end.Token);
            await SocketTestExtensions.WaitUntilAsync(() => running._loop.Count > 0);
            return running;
        }

        public async ValueTask DisposeAsync()
        {
            await _end.CancelAsync();
            await _run.DefaultTimeout();
            Pump.Dispose();
            _loop.Dispose();
            _end.Dispose();
        }
    }

    /// <summary>Every decision the test's: where a datagram goes is its first byte, what it counts as its second.</summary>
    private sealed class ScriptedRelay : IDatagramRelay, IDisposable
    {
        private readonly Socket _clientSocket = Bound(IPAddress.Loopback);
        private readonly Socket _outbound = Bound(IPAddress.Loopback);
        private readonly Socket _outboundV6 = Bound(IPAddress.IPv6Loopback);
        private readonly SocketAddress _firstAddress;
        private readonly SocketAddress _secondAddress;
        private readonly SocketAddress _clientAddress;
        private readonly SocketAddress _wrongFamily = new IPEndPoint(IPAddress.IPv6Loopback, 9).Serialize();
        private readonly TaskCompletionSource _lookupsAnswered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _takenUp;
        private long _refusedUp;
        private long _bytesUp;
        private long _takenDown;
        private long _refusedDown;
        private long _bytesDown;
        private long _reportsUp;
        private long _reportsDown;
        private int _lookups;

        public ScriptedRelay()
        {
            _firstAddress = First.LocalEndPoint!.Serialize();
            _secondAddress = Second.LocalEndPoint!.Serialize();
            _clientAddress = Client.LocalEndPoint!.Serialize();
        }

        public Socket First { get; } = Bound(IPAddress.Loopback);

        public Socket Second { get; } = Bound(IPAddress.IPv6Loopback);

        public Socket Client { get; } = Bound(IPAddress.Loopback);

        public ConcurrentQueue<(int Sequence, int Length, bool OnLoop, bool FromClient)> Routed { get; } = new();

        public ConcurrentQueue<int> Prepared { get; } = new();

        public long TakenUp => Interlocked.Read(ref _takenUp);

        public long RefusedUp => Interlocked.Read(ref _refusedUp);

        public long BytesUp => Interlocked.Read(ref _bytesUp);

        public long TakenDown => Interlocked.Read(ref _takenDown);

        public long RefusedDown => Interlocked.Read(ref _refusedDown);

        public long BytesDown => Interlocked.Read(ref _bytesDown);

        /// <summary>Calls of <see cref="OnSentToDestination"/>: one per run sent, not one per datagram.</summary>
        public long ReportsUp => Interlocked.Read(ref _reportsUp);

        /// <summary>Calls of <see cref="OnSentToClient"/>.</summary>
        public long ReportsDown => Interlocked.Read(ref _reportsDown);

        public int Lookups => Volatile.Read(ref _lookups);

        public Socket ClientSocket => _clientSocket;

        public int MaxPayloadBytes => LoopDatagramPumpTests.MaxPayloadBytes;

        public int ClientFramingBytes => 0;

        public void FromClient(byte[] datagram) => Client.SendTo(datagram, _clientSocket.LocalEndPoint!);

        public void AnswerLookups() => _lookupsAnswered.SetResult();

        public ClientDatagramRoute RouteFromClient(Span<byte> datagram, SocketAddress source)
        {
            Routed.Enqueue((BinaryPrimitives.ReadInt32BigEndian(datagram[2..]), datagram.Length, EpollLoop.IsOnLoopThread, source.Equals(_clientAddress)));
            return datagram[0] switch
            {
                ToFirst => ClientDatagramRoute.SendWithHeaderTo(_outbound, _firstAddress, datagram.Length, datagram[1]),
                ToSecond => ClientDatagramRoute.SendWithHeaderTo(_outboundV6, _secondAddress, datagram.Length, datagram[1]),
                ToWrongFamily => ClientDatagramRoute.SendWithHeaderTo(_outbound, _wrongFamily, datagram.Length, datagram[1]),
                ToName => ClientDatagramRoute.ResolveFirst("name.test", 9, 0, datagram.Length),
                _ => ClientDatagramRoute.Dropped,
            };
        }

        public async ValueTask<ClientDatagramRoute> ResolveAsync(ReadOnlyMemory<byte> datagram, ClientDatagramRoute route, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _lookups);
            await _lookupsAnswered.Task.WaitAsync(cancellationToken);
            return ClientDatagramRoute.SendWithHeaderTo(_outbound, _firstAddress, datagram.Length, datagram.Span[1]);
        }

        public void OnSentToDestination(int taken, long takenBytes, int refused) =>
            Count(taken, takenBytes, refused, ref _takenUp, ref _refusedUp, ref _bytesUp, ref _reportsUp);

        public int PrepareForClient(Span<byte> buffer, int payloadLength, SocketAddress source, out SocketAddress? client, out int length, out int countedBytes)
        {
            Span<byte> payload = buffer.Slice(DatagramPump.ReplyHeaderRoom, payloadLength);
            Prepared.Enqueue(payloadLength);
            Routed.Enqueue((BinaryPrimitives.ReadInt32BigEndian(payload[2..]), payloadLength, EpollLoop.IsOnLoopThread, false));
            client = _clientAddress;
            length = payloadLength + 2;
            countedBytes = payloadLength - payload[1];
            if (payload[0] == Drop)
            {
                return -1;
            }

            int start = DatagramPump.ReplyHeaderRoom - 2;
            buffer[start] = 0xAB;
            buffer[start + 1] = 0xCD;
            return start;
        }

        public void OnSentToClient(int taken, long takenBytes, int refused) =>
            Count(taken, takenBytes, refused, ref _takenDown, ref _refusedDown, ref _bytesDown, ref _reportsDown);

        public void Dispose()
        {
            foreach (Socket socket in (Socket[])[_clientSocket, _outbound, _outboundV6, First, Second, Client])
            {
                socket.Dispose();
            }
        }

        private static void Count(int taken, long takenBytes, int refused, ref long takenCount, ref long refusedCount, ref long bytes, ref long reports)
        {
            Assert.True(taken + refused > 0, "a report of nothing sent");
            Assert.True(taken > 0 || takenBytes == 0, "bytes without a datagram");
            Interlocked.Add(ref refusedCount, refused);
            Interlocked.Add(ref takenCount, taken);
            Interlocked.Add(ref bytes, takenBytes);
            Interlocked.Increment(ref reports);
        }
    }
}
