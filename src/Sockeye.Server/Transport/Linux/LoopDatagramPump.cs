using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The Linux engine's <see cref="DatagramPump"/>: the association's sockets on a UDP <see cref="EpollLoop"/>, each
/// datagram handled on the loop's thread the moment its socket is readable, without a hand-off to the thread pool per
/// wake-up.
/// </summary>
/// <remarks>
/// Datagrams are read into the loop's own buffer, so an association holds no buffer at all, up to
/// <see cref="DatagramBatch.Capacity"/> per recvmmsg(2), and those that go on leave a run per sendmmsg(2): one system
/// call each way for a burst rather than two per datagram; within a run, datagrams of one length to one address go as
/// one segmented message (<see cref="DatagramBatch.SendSegmented"/>), one pass through the network stack for them all.
/// A datagram to a name not in the route cache is the one exception to running on the loop: it and the datagrams read
/// with it behind it are copied, the client socket is paused, and the name is resolved on the thread pool; the datagram
/// is then forwarded, the rest are routed in order on the loop, and the client socket resumed, so datagrams still leave
/// in the order they came and a burst waits in the kernel's buffer, as with the portable pump.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class LoopDatagramPump(EpollLoop loop, IDatagramRelay relay, bool segment) : DatagramPump(relay)
{
    // Datagrams one socket may handle per wake-up before the loop serves its other sockets (level-triggered: the rest
    // are handled on the next turn).
    private const int DatagramsPerTurn = 32;

    private readonly Lock _registrationLock = new();
    private readonly List<EpollRegistration> _registrations = [];
    private EpollRegistration? _clientRegistration;
    private Task _pendingResolution = Task.CompletedTask;
    private volatile bool _waitingForLookup;
    private TaskCompletionSource? _ended;
    private CancellationToken _cancellationToken;
    private bool _leftLoop;
    private volatile bool _faulted;

    // Runs of datagrams of one length to one address leave as one segmented message (UDP GSO) where the kernel can
    // (DatagramBatch.SegmentationSupported) and the settings allow (udp.segmentationOffload), in each direction until
    // the kernel refuses it there (a path whose MTU is below the datagrams, a device that cannot segment). Loop-only.
    private bool _segmentToDestinations = segment;
    private bool _segmentToClient = segment;

    /// <summary>Whether a socket was taken off the loop after a fault (the loop failed, or a handler threw).</summary>
    public override bool Faulted => _faulted;

    public override async Task RunAsync(CancellationToken cancellationToken)
    {
        _cancellationToken = cancellationToken;
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _ended, ended);
        using (cancellationToken.UnsafeRegister(static state => ((TaskCompletionSource)state!).TrySetResult(), ended))
        {
            lock (_registrationLock)
            {
                if (!_leftLoop && !cancellationToken.IsCancellationRequested)
                {
                    _clientRegistration = loop.Register(Relay.ClientSocket, new ClientReadiness(this));
                    _registrations.Add(_clientRegistration);

                    // Datagrams already queued are handled as soon as the socket is on the loop, before the line above
                    // has stored its registration: a lookup that started meanwhile could not pause it.
                    if (_waitingForLookup)
                    {
                        _clientRegistration.Pause();
                    }
                }
            }

            await ended.Task.ConfigureAwait(false);
        }

        LeaveLoop();
        try
        {
            await _pendingResolution.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A lookup cut short by the end of the association.
        }
    }

    public override void AddDestination(Socket socket)
    {
        lock (_registrationLock)
        {
            if (!_leftLoop)
            {
                _registrations.Add(loop.Register(socket, new DestinationReadiness(this, socket)));
            }
        }
    }

    /// <summary>Takes every socket of the association off the loop.</summary>
    public override void Dispose() => LeaveLoop();

    private void LeaveLoop()
    {
        lock (_registrationLock)
        {
            _leftLoop = true;
            foreach (EpollRegistration registration in _registrations)
            {
                registration.Dispose();
            }

            _registrations.Clear();
        }
    }

    /// <summary>A socket of the association was taken off its loop after a fault: the relay ends here.</summary>
    private void OnLoopFault()
    {
        _faulted = true;
        Volatile.Read(ref _ended)?.TrySetResult();
    }

    /// <summary>
    /// Routes the <paramref name="count"/> datagrams <paramref name="batch"/> received on the relay socket, in order, and
    /// sends those that go somewhere, a run of them per sendmmsg(2). Returns false when the client socket was paused for
    /// a name lookup: the datagram that needs it and those behind it, already read, are copied and handled after the
    /// lookup, in order, and nothing more may be read from the socket on this turn.
    /// </summary>
    private bool OnClientDatagrams(DatagramBatch batch, int count, SocketAddress source)
    {
        Socket? outbound = null;
        int outgoing = 0;
        for (int i = 0; i < count; i++)
        {
            batch.CopySource(i, source);
            ClientDatagramRoute route = Relay.RouteFromClient(batch.Slot(i)[..batch.ReceivedLength(i)], source);
            if (route.NeedsResolving)
            {
                // Those routed before it leave first: datagrams leave in the order they came.
                SendToDestinations(batch, outbound, outgoing);
                PauseClient();
                _pendingResolution = ResolveThenForwardAsync(WaitingDatagrams.CopyFrom(batch, i, count, source.Family), route);
                return false;
            }

            if (!route.CanSend)
            {
                continue;
            }

            // One call sends on one socket: the run so far leaves before one for the other family's socket.
            if (outgoing > 0 && route.Outbound != outbound)
            {
                SendToDestinations(batch, outbound, outgoing);
                outgoing = 0;
            }

            outbound = route.Outbound;
            batch.SetOutgoing(outgoing++, i, route.PayloadOffset, route.PayloadLength, route.Destination, route.CountedBytes);
        }

        SendToDestinations(batch, outbound, outgoing);
        return true;
    }

    /// <summary>Sends the first <paramref name="count"/> outgoing messages of <paramref name="batch"/> on <paramref name="outbound"/>, and reports them.</summary>
    private void SendToDestinations(DatagramBatch batch, Socket? outbound, int count)
    {
        if (count > 0)
        {
            (int taken, long takenBytes) = SendAll(batch, outbound!, count, ref _segmentToDestinations);
            Relay.OnSentToDestination(taken, takenBytes, count - taken);
        }
    }

    /// <summary>Sends the first <paramref name="count"/> outgoing messages of <paramref name="batch"/> to the client, and reports them.</summary>
    private void SendToClient(DatagramBatch batch, int count)
    {
        if (count > 0)
        {
            (int taken, long takenBytes) = SendAll(batch, Relay.ClientSocket, count, ref _segmentToClient);
            Relay.OnSentToClient(taken, takenBytes, count - taken);
        }
    }

    /// <summary>
    /// Sends the first <paramref name="count"/> outgoing messages of <paramref name="batch"/> on <paramref name="socket"/>
    /// (<see cref="OutgoingDatagrams.SendAll"/>), and returns how many the kernel took and the sum of their tags.
    /// </summary>
    private static (int Taken, long TakenBytes) SendAll(DatagramBatch batch, Socket socket, int count, ref bool segment)
    {
        var messages = new BatchOnSocket(batch, socket, ref segment);
        return OutgoingDatagrams.SendAll(ref messages, count);
    }

    /// <summary>
    /// Resolves the first of <paramref name="waiting"/> (<paramref name="route"/> names it), forwards it, then routes the
    /// rest in order, each one that needs a lookup waiting for it; the client socket is resumed once all are handled.
    /// </summary>
    private async Task ResolveThenForwardAsync(WaitingDatagrams waiting, ClientDatagramRoute route)
    {
        try
        {
            int next = 0;
            while (true)
            {
                route = await Relay.ResolveAsync(waiting.Datagram(next), route, _cancellationToken).ConfigureAwait(false);
                Forward(waiting.Datagram(next).Span, route);
                if (++next == waiting.Count)
                {
                    return;
                }

                // Every datagram from the client is routed on the loop's thread, as RouteFromClient expects (it unwraps
                // GSSAPI's datagrams with the context the loop wraps with): the rest of the batch is routed there too.
                await loop.Yield();
                if (_cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                for (; next < waiting.Count; next++)
                {
                    route = Relay.RouteFromClient(waiting.Datagram(next).Span, waiting.Source(next));
                    if (route.NeedsResolving)
                    {
                        break;
                    }

                    Forward(waiting.Datagram(next).Span, route);
                }

                if (next == waiting.Count)
                {
                    return;
                }
            }
        }
        finally
        {
            waiting.Dispose();
            ResumeClient();
        }
    }

    /// <summary>Stops reading the client socket while a lookup waits (rare: under the registration lock).</summary>
    private void PauseClient()
    {
        lock (_registrationLock)
        {
            _waitingForLookup = true;
            _clientRegistration?.Pause();
        }
    }

    private void ResumeClient()
    {
        lock (_registrationLock)
        {
            _waitingForLookup = false;
            _clientRegistration?.Resume();
        }
    }

    private void Forward(ReadOnlySpan<byte> datagram, ClientDatagramRoute route)
    {
        if (route.CanSend)
        {
            // Not taken: a destination that answered with ICMP unreachable, a full buffer, no route. UDP drops, and the
            // association goes on.
            ReadOnlySpan<byte> payload = datagram.Slice(route.PayloadOffset, route.PayloadLength);
            ReportSentToDestination(RawDatagram.SendTo(route.Outbound, payload, route.Destination), route.CountedBytes);
        }
    }

    /// <summary>
    /// A batch's outgoing messages on one socket, sent segmented while <c>segment</c> says so; a kernel that refuses
    /// segmenting on this path clears it for good.
    /// </summary>
    private ref struct BatchOnSocket : IOutgoingDatagrams
    {
        private readonly DatagramBatch _batch;
        private readonly Socket _socket;
        private ref bool _segment;

        public BatchOnSocket(DatagramBatch batch, Socket socket, ref bool segment)
        {
            _batch = batch;
            _socket = socket;
            _segment = ref segment;
        }

        public int Send(int first, int count, out int errno)
        {
            if (!_segment || count == 1)
            {
                return _batch.Send(_socket, first, count, out errno);
            }

            int sent = _batch.SendSegmented(_socket, first, count, out bool refused, out errno);
            _segment = !refused;
            return sent;
        }

        public readonly int Tag(int message) => _batch.Tag(message);
    }

    /// <summary>Client → destination, on the loop's thread, a batch of datagrams per system call.</summary>
    private sealed class ClientReadiness(LoopDatagramPump pump) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(pump.Relay.ClientSocket.AddressFamily);

        public void OnReadable(Span<byte> scratch)
        {
            if (pump._waitingForLookup)
            {
                // Called again before RunAsync could pause the socket: nothing is read until the lookup is done.
                return;
            }

            Socket relaySocket = pump.Relay.ClientSocket;
            var batch = new DatagramBatch(scratch);
            int room = Math.Min(batch.SlotBytes, LargestFromClient(pump.Relay.MaxPayloadBytes));
            for (int budget = DatagramsPerTurn; budget > 0;)
            {
                int asked = Math.Min(budget, DatagramBatch.Capacity);
                int received = batch.Receive(relaySocket, asked, 0, room, out SocketError error);
                if (received < 0)
                {
                    if (error == SocketError.SocketError)
                    {
                        // An error queued for an earlier datagram (ICMP): consumed by that read; go on.
                        budget--;
                        continue;
                    }

                    return;
                }

                budget -= received;
                if (!pump.OnClientDatagrams(batch, received, _source) || received < asked)
                {
                    // Paused for a lookup, or the queue ran dry: level-triggered, the loop calls again when more comes.
                    return;
                }
            }
        }

        public void OnRemovedAfterFault() => pump.OnLoopFault();
    }

    /// <summary>
    /// Destination → client, a batch of datagrams per system call: each datagram is read behind room for its header,
    /// which is then written in place.
    /// </summary>
    private sealed class DestinationReadiness(LoopDatagramPump pump, Socket socket) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(socket.AddressFamily);

        public void OnReadable(Span<byte> scratch)
        {
            IDatagramRelay relay = pump.Relay;
            var batch = new DatagramBatch(scratch);
            int room = Math.Min(batch.SlotBytes - ReplyHeaderRoom - relay.ClientFramingBytes, relay.MaxPayloadBytes);
            for (int budget = DatagramsPerTurn; budget > 0;)
            {
                int asked = Math.Min(budget, DatagramBatch.Capacity);
                int received = batch.Receive(socket, asked, ReplyHeaderRoom, room, out SocketError error);
                if (received < 0)
                {
                    if (error == SocketError.SocketError)
                    {
                        budget--;
                        continue;
                    }

                    return;
                }

                budget -= received;
                int outgoing = 0;
                for (int i = 0; i < received; i++)
                {
                    batch.CopySource(i, _source);
                    int start = relay.PrepareForClient(batch.Slot(i), batch.ReceivedLength(i), _source, out SocketAddress? client, out int length, out int counted);
                    if (start >= 0)
                    {
                        batch.SetOutgoing(outgoing++, i, start, length, client!, counted);
                    }
                }

                pump.SendToClient(batch, outgoing);
                if (received < asked)
                {
                    return;
                }
            }
        }

        public void OnRemovedAfterFault() => pump.OnLoopFault();
    }

    /// <summary>
    /// Datagrams from the client that a batch had read when one of them needed a name looked up: copied, with their
    /// sources, into one pooled array for the length of the lookup (the loop's buffer is the next socket's as soon as the
    /// handler returns). The one allocation of the datagram path, and only for a name not in the route cache.
    /// </summary>
    private sealed class WaitingDatagrams : IDisposable
    {
        private readonly SocketAddress[] _sources;
        private readonly int[] _offsets;
        private readonly int[] _lengths;
        private byte[]? _data;

        private WaitingDatagrams(int count, int bytes, AddressFamily family)
        {
            Count = count;
            _sources = new SocketAddress[count];
            for (int i = 0; i < count; i++)
            {
                _sources[i] = new SocketAddress(family);
            }

            _offsets = new int[count];
            _lengths = new int[count];
            _data = ArrayPool<byte>.Shared.Rent(bytes);
        }

        public int Count { get; }

        /// <summary>Datagrams <paramref name="first"/> to <paramref name="end"/> (excluded) of <paramref name="batch"/>, copied.</summary>
        public static WaitingDatagrams CopyFrom(DatagramBatch batch, int first, int end, AddressFamily family)
        {
            int bytes = 0;
            for (int i = first; i < end; i++)
            {
                bytes += batch.ReceivedLength(i);
            }

            var waiting = new WaitingDatagrams(end - first, bytes, family);
            for (int i = first, offset = 0; i < end; i++)
            {
                int length = batch.ReceivedLength(i);
                batch.Slot(i)[..length].CopyTo(waiting._data.AsSpan(offset));
                batch.CopySource(i, waiting._sources[i - first]);
                waiting._offsets[i - first] = offset;
                waiting._lengths[i - first] = length;
                offset += length;
            }

            return waiting;
        }

        public Memory<byte> Datagram(int index) => _data.AsMemory(_offsets[index], _lengths[index]);

        public SocketAddress Source(int index) => _sources[index];

        public void Dispose()
        {
            byte[]? data = _data;
            _data = null;
            if (data is not null)
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }
    }
}
