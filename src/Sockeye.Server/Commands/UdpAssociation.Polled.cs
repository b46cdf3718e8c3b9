using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Commands;

/// <summary>
/// The association's datagrams handled on an <see cref="EpollLoop"/> (Linux): the same checks and counts as the awaiting
/// loops, run on the loop's thread the moment a socket is readable, without a hand-off to the thread pool per wake-up.
/// </summary>
/// <remarks>
/// Datagrams are read into the loop's own buffer, so an association holds no buffer at all. A datagram to a name not in
/// the route cache is the one exception to running on the loop: it is copied, the client socket is paused, and the name
/// is resolved on the thread pool; the datagram is then forwarded and the client socket resumed, so datagrams still
/// leave in the order they came and a burst waits in the kernel's buffer, as with the awaiting loop.
/// </remarks>
internal sealed partial class UdpAssociation
{
    // Datagrams one socket may handle per wake-up before the loop serves its other sockets (level-triggered: the rest
    // are handled on the next turn).
    private const int DatagramsPerTurn = 32;

    private readonly List<EpollRegistration> _registrations = [];
    private EpollRegistration? _clientRegistration;
    private Task _pendingResolution = Task.CompletedTask;
    private TaskCompletionSource? _loopEnded;
    private bool _leftLoop;
    private volatile bool _loopFaulted;

    /// <summary>
    /// Whether the association stopped relaying because its event loop failed (or a handler of it threw): its session
    /// must end, since no datagram will be relayed again.
    /// </summary>
    public bool LoopFaulted => _loopFaulted;

    [SupportedOSPlatform("linux")]
    private async Task RunOnLoopAsync(EpollLoop loop, CancellationToken cancellationToken)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _loopEnded, ended);
        using (cancellationToken.UnsafeRegister(static state => ((TaskCompletionSource)state!).TrySetResult(), ended))
        {
            lock (_destinationLock)
            {
                if (!_leftLoop && !cancellationToken.IsCancellationRequested)
                {
                    _clientRegistration = loop.Register(_clientSocket, new ClientReadiness(this));
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

    [SupportedOSPlatform("linux")]
    private void RegisterDestination(EpollLoop loop, Socket socket)
    {
        // Called under _destinationLock by GetDestinationSocket.
        if (!_leftLoop)
        {
            _registrations.Add(loop.Register(socket, new DestinationReadiness(this, socket)));
        }
    }

    /// <summary>A socket of the association was taken off its loop after a fault: the relay ends here.</summary>
    private void OnLoopFault()
    {
        _loopFaulted = true;
        Volatile.Read(ref _loopEnded)?.TrySetResult();
    }

    /// <summary>Takes every socket of the association off the loop; idempotent.</summary>
    [SupportedOSPlatform("linux")]
    private void LeaveLoop()
    {
        lock (_destinationLock)
        {
            _leftLoop = true;
            foreach (EpollRegistration registration in _registrations)
            {
                registration.Dispose();
            }

            _registrations.Clear();
        }
    }

    /// <summary>
    /// Handles one datagram from the relay socket. Returns false when the client socket was paused for a name lookup,
    /// in which case nothing more may be read from it on this turn.
    /// </summary>
    [SupportedOSPlatform("linux")]
    private bool OnClientDatagram(Span<byte> datagram, SocketAddress source)
    {
        FromClient action = DecideFromClient(datagram, source, out int payloadOffset, out SocketAddress? destination, out Socks5Address? domain, out ushort port);
        if (action == FromClient.Drop)
        {
            return true;
        }

        if (action == FromClient.Resolve)
        {
            _clientRegistration?.Pause();
            byte[] copy = ArrayPool<byte>.Shared.Rent(datagram.Length);
            datagram.CopyTo(copy);
            _pendingResolution = ResolveThenForwardAsync(copy, datagram.Length, payloadOffset, domain!.Value, port);
            return false;
        }

        Forward(datagram[payloadOffset..], destination!);
        return true;
    }

    [SupportedOSPlatform("linux")]
    private async Task ResolveThenForwardAsync(byte[] datagram, int length, int payloadOffset, Socks5Address domain, ushort port)
    {
        try
        {
            SocketAddress? destination = await ResolveRouteAsync(datagram.AsMemory(3, payloadOffset - 3), domain, port, _cancellationToken).ConfigureAwait(false);
            if (destination is not null)
            {
                Forward(datagram.AsSpan(payloadOffset, length - payloadOffset), destination);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram);
            _clientRegistration?.Resume();
        }
    }

    [SupportedOSPlatform("linux")]
    private void Forward(ReadOnlySpan<byte> payload, SocketAddress destination)
    {
        if (OutboundFor(destination, payload.Length) is not { } outbound)
        {
            return;
        }

        // Not taken (a destination that answered with ICMP unreachable, a full buffer, no route): UDP drops, and the
        // association goes on.
        if (RawDatagram.SendTo(outbound, payload, destination))
        {
            _statistics.CountFromClient();
        }
        else
        {
            _statistics.CountUnroutable();
        }
    }

    /// <summary>Client → destination, on the loop's thread.</summary>
    [SupportedOSPlatform("linux")]
    private sealed class ClientReadiness(UdpAssociation association) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(association._clientSocket.AddressFamily);

        public void OnReadable(Span<byte> scratch)
        {
            Span<byte> buffer = scratch[..Math.Min(scratch.Length, Socks5Limits.MaxUdpHeaderLength + association._options.MaxDatagramBytes)];
            for (int turn = 0; turn < DatagramsPerTurn; turn++)
            {
                int received = RawDatagram.ReceiveFrom(association._clientSocket, buffer, _source, out SocketError error);
                if (received < 0)
                {
                    if (error == SocketError.SocketError)
                    {
                        // An error queued for an earlier datagram (ICMP): consumed by that read; go on.
                        continue;
                    }

                    return;
                }

                if (!association.OnClientDatagram(buffer[..received], _source))
                {
                    return;
                }
            }
        }

        public void OnRemovedAfterFault() => association.OnLoopFault();
    }

    /// <summary>Destination → client: the datagram is read behind room for its header, which is then written in place.</summary>
    [SupportedOSPlatform("linux")]
    private sealed class DestinationReadiness(UdpAssociation association, Socket socket) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(socket.AddressFamily);
        private readonly SourceHeaders _headers = new();

        public void OnReadable(Span<byte> scratch)
        {
            int room = Math.Min(scratch.Length - ReplyHeaderRoom, association._options.MaxDatagramBytes);
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

                int start = association.PrepareForClient(scratch, received, _source, _headers, out SocketAddress? client);
                if (start < 0)
                {
                    continue;
                }

                if (RawDatagram.SendTo(association._clientSocket, scratch.Slice(start, ReplyHeaderRoom - start + received), client!))
                {
                    association._statistics.CountToClient();
                }
                else
                {
                    // The client's port is gone or its buffer is full: UDP drops, the association goes on.
                    association._statistics.CountUnroutable();
                }
            }
        }

        public void OnRemovedAfterFault() => association.OnLoopFault();
    }
}
