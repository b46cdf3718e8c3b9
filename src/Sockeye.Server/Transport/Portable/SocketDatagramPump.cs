using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Transport.Portable;

/// <summary>
/// The portable engine's <see cref="DatagramPump"/>: one awaiting receive loop for the relay socket and one for each
/// destination socket, on the thread pool.
/// </summary>
/// <remarks>
/// Each loop holds one pooled buffer for the association's life: a zero-byte receive would consume a datagram, so UDP
/// cannot wait without one. Addresses go through the <see cref="SocketAddress"/> overloads, which allocate nothing.
/// </remarks>
internal sealed class SocketDatagramPump(IDatagramRelay relay) : DatagramPump(relay)
{
    private readonly Lock _destinationLock = new();
    private readonly List<Task> _destinationLoops = [];
    private CancellationToken _cancellationToken;

    public override async Task RunAsync(CancellationToken cancellationToken)
    {
        _cancellationToken = cancellationToken;
        try
        {
            await ClientLoopAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Task[] loops;
            lock (_destinationLock)
            {
                loops = [.. _destinationLoops];
            }

            await Task.WhenAll(loops).ConfigureAwait(false);
        }
    }

    public override void AddDestination(Socket socket)
    {
        lock (_destinationLock)
        {
            _destinationLoops.Add(DestinationLoopAsync(socket, _cancellationToken));
        }
    }

    /// <summary>Nothing to stop: closing the sockets, which follows, ends every receive.</summary>
    public override void Dispose()
    {
    }

    /// <summary>Client → destination.</summary>
    private async Task ClientLoopAsync(CancellationToken cancellationToken)
    {
        Socket relaySocket = Relay.ClientSocket;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(LargestFromClient(Relay.MaxPayloadBytes));
        var source = new SocketAddress(relaySocket.AddressFamily);
        try
        {
            while (true)
            {
                int received = await relaySocket.ReceiveFromAsync(buffer, SocketFlags.None, source, cancellationToken).ConfigureAwait(false);
                ClientDatagramRoute route = Relay.RouteFromClient(buffer.AsSpan(0, received), source);

                // Only a name seen for the first time (or expired from the route cache) costs a call, and maybe a lookup.
                if (route.NeedsResolving)
                {
                    route = await Relay.ResolveAsync(buffer.AsMemory(0, received), route, cancellationToken).ConfigureAwait(false);
                }

                if (!route.CanSend)
                {
                    continue;
                }

                bool taken;
                try
                {
                    await route.Outbound.SendToAsync(buffer.AsMemory(route.PayloadOffset, route.PayloadLength), SocketFlags.None, route.Destination, cancellationToken).ConfigureAwait(false);
                    taken = true;
                }
                catch (SocketException)
                {
                    // A destination that answered an earlier datagram with ICMP unreachable, a full send buffer, or no
                    // route: UDP gives no promise of delivery, so the datagram is dropped and the association goes on.
                    taken = false;
                }

                ReportSentToDestination(taken, route.CountedBytes);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The control connection ended: so does the association.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while receiving: the association is over.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Destination → client: each datagram is read behind room for its header, which is then written in place.</summary>
    private async Task DestinationLoopAsync(Socket socket, CancellationToken cancellationToken)
    {
        Socket relaySocket = Relay.ClientSocket;
        int maxPayloadBytes = Relay.MaxPayloadBytes;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReplyHeaderRoom + maxPayloadBytes + Relay.ClientFramingBytes);
        var source = new SocketAddress(socket.AddressFamily);
        try
        {
            while (true)
            {
                int received;
                try
                {
                    received = await socket.ReceiveFromAsync(buffer.AsMemory(ReplyHeaderRoom, maxPayloadBytes), SocketFlags.None, source, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
                {
                    // An ICMP error for an earlier datagram of ours; nothing to relay.
                    continue;
                }

                int start = Relay.PrepareForClient(buffer, received, source, out SocketAddress? client, out int length, out int countedBytes);
                if (start < 0)
                {
                    continue;
                }

                bool taken;
                try
                {
                    await relaySocket.SendToAsync(buffer.AsMemory(start, length), SocketFlags.None, client!, cancellationToken).ConfigureAwait(false);
                    taken = true;
                }
                catch (SocketException)
                {
                    // The client's port is gone or its buffer is full: UDP drops, the association goes on.
                    taken = false;
                }

                ReportSentToClient(taken, countedBytes);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The association ended.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while receiving: the association is over.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
