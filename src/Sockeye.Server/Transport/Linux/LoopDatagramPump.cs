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
/// Datagrams are read into the loop's own buffer, so an association holds no buffer at all. A datagram to a name not in
/// the route cache is the one exception to running on the loop: it is copied, the client socket is paused, and the name
/// is resolved on the thread pool; the datagram is then forwarded and the client socket resumed, so datagrams still
/// leave in the order they came and a burst waits in the kernel's buffer, as with the portable pump.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class LoopDatagramPump(EpollLoop loop, IDatagramRelay relay) : DatagramPump(relay)
{
    // Datagrams one socket may handle per wake-up before the loop serves its other sockets (level-triggered: the rest
    // are handled on the next turn).
    private const int DatagramsPerTurn = 32;

    private readonly Lock _registrationLock = new();
    private readonly List<EpollRegistration> _registrations = [];
    private EpollRegistration? _clientRegistration;
    private Task _pendingResolution = Task.CompletedTask;
    private TaskCompletionSource? _ended;
    private CancellationToken _cancellationToken;
    private bool _leftLoop;
    private volatile bool _faulted;

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
    /// Handles one datagram from the relay socket. Returns false when the client socket was paused for a name lookup,
    /// in which case nothing more may be read from it on this turn.
    /// </summary>
    private bool OnClientDatagram(Span<byte> datagram, SocketAddress source)
    {
        ClientDatagramRoute route = Relay.RouteFromClient(datagram, source);
        if (route.NeedsResolving)
        {
            _clientRegistration?.Pause();
            byte[] copy = ArrayPool<byte>.Shared.Rent(datagram.Length);
            datagram.CopyTo(copy);
            _pendingResolution = ResolveThenForwardAsync(copy, datagram.Length, route);
            return false;
        }

        Forward(datagram, route);
        return true;
    }

    private async Task ResolveThenForwardAsync(byte[] datagram, int length, ClientDatagramRoute route)
    {
        try
        {
            route = await Relay.ResolveAsync(datagram.AsMemory(0, length), route, _cancellationToken).ConfigureAwait(false);
            Forward(datagram.AsSpan(0, length), route);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram);
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
            Relay.OnSentToDestination(RawDatagram.SendTo(route.Outbound, payload, route.Destination), route.CountedBytes);
        }
    }

    /// <summary>Client → destination, on the loop's thread.</summary>
    private sealed class ClientReadiness(LoopDatagramPump pump) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(pump.Relay.ClientSocket.AddressFamily);

        public void OnReadable(Span<byte> scratch)
        {
            Socket relaySocket = pump.Relay.ClientSocket;
            Span<byte> buffer = scratch[..Math.Min(scratch.Length, LargestFromClient(pump.Relay.MaxPayloadBytes))];
            for (int turn = 0; turn < DatagramsPerTurn; turn++)
            {
                int received = RawDatagram.ReceiveFrom(relaySocket, buffer, _source, out SocketError error);
                if (received < 0)
                {
                    if (error == SocketError.SocketError)
                    {
                        // An error queued for an earlier datagram (ICMP): consumed by that read; go on.
                        continue;
                    }

                    return;
                }

                if (!pump.OnClientDatagram(buffer[..received], _source))
                {
                    return;
                }
            }
        }

        public void OnRemovedAfterFault() => pump.OnLoopFault();
    }

    /// <summary>Destination → client: the datagram is read behind room for its header, which is then written in place.</summary>
    private sealed class DestinationReadiness(LoopDatagramPump pump, Socket socket) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(socket.AddressFamily);

        public void OnReadable(Span<byte> scratch)
        {
            IDatagramRelay relay = pump.Relay;
            int room = Math.Min(scratch.Length - ReplyHeaderRoom - relay.ClientFramingBytes, relay.MaxPayloadBytes);
            for (int turn = 0; turn < DatagramsPerTurn; turn++)
            {
                int received = RawDatagram.ReceiveFrom(socket, scratch.Slice(ReplyHeaderRoom, room), _source, out SocketError error);
                if (received < 0)
                {
                    if (error == SocketError.SocketError)
                    {
                        continue;
                    }

                    return;
                }

                int start = relay.PrepareForClient(scratch, received, _source, out SocketAddress? client, out int length, out int counted);
                if (start < 0)
                {
                    continue;
                }

                // Not taken: the client's port is gone or its buffer is full. UDP drops, the association goes on.
                relay.OnSentToClient(RawDatagram.SendTo(relay.ClientSocket, scratch.Slice(start, length), client!), counted);
            }
        }

        public void OnRemovedAfterFault() => pump.OnLoopFault();
    }
}
