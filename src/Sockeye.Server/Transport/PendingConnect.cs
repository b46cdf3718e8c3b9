using System.Net.Sockets;

namespace Sockeye.Server.Transport;

/// <summary>A connect under way that an engine can finish without a task of its own (<see cref="TransportEngine.TryStartConnect"/>).</summary>
internal interface IPendingConnect
{
    /// <summary>Completes when the connect has an outcome; throws <see cref="OperationCanceledException"/> on a timeout or a cancellation.</summary>
    ValueTask WhenConnectedAsync(CancellationToken cancellationToken);

    /// <summary>The outcome, once <see cref="WhenConnectedAsync"/> completed or threw; <paramref name="ticket"/> is the one it was started with.</summary>
    (TunnelSocket? Socket, SocketError Error) FinishConnect(long ticket);
}

/// <summary>
/// A connect started by <see cref="TransportEngine.TryStartConnect"/>: either decided at once, or under way. The caller
/// awaits <see cref="WhenDoneAsync"/> in its own state machine when <see cref="IsPending"/>, then calls
/// <see cref="Finish"/> exactly once.
/// </summary>
/// <remarks>A struct, and the pending connect is the socket itself: the common CONNECT costs no object beyond its socket.</remarks>
internal readonly struct PendingConnect
{
    private readonly IPendingConnect? _connecting;
    private readonly long _ticket;
    private readonly TunnelSocket? _connected;
    private readonly SocketError _error;

    private PendingConnect(IPendingConnect? connecting, long ticket, TunnelSocket? connected, SocketError error)
    {
        _connecting = connecting;
        _ticket = ticket;
        _connected = connected;
        _error = error;
    }

    /// <summary>Whether the connect is under way: await <see cref="WhenDoneAsync"/> before <see cref="Finish"/>.</summary>
    public bool IsPending => _connecting is not null;

    /// <summary>A connect that already has its outcome: the socket, or the error.</summary>
    public static PendingConnect Completed(TunnelSocket? connected, SocketError error) => new(null, 0, connected, error);

    /// <summary>A connect under way; <paramref name="ticket"/> goes back to <see cref="IPendingConnect.FinishConnect"/>.</summary>
    public static PendingConnect Started(IPendingConnect connecting, long ticket) => new(connecting, ticket, null, SocketError.Success);

    /// <summary>
    /// Completes when the connect has an outcome; throws <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires or the timeout passes, which <see cref="Finish"/> reports.
    /// </summary>
    public ValueTask WhenDoneAsync(CancellationToken cancellationToken) =>
        _connecting is null ? ValueTask.CompletedTask : _connecting.WhenConnectedAsync(cancellationToken);

    /// <summary>The connected socket, or the error (<see cref="SocketError.TimedOut"/> for a timeout or a cancellation).</summary>
    public (TunnelSocket? Socket, SocketError Error) Finish() =>
        _connecting is null ? (_connected, _error) : _connecting.FinishConnect(_ticket);
}
