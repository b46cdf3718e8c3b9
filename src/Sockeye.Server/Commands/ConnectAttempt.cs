using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>
/// A CONNECT started by <see cref="ConnectCommand.TryStartFast"/>: decided at once (denied, or failed), or a connect
/// under way. The caller awaits <see cref="WhenDoneAsync"/> in its own state machine, then calls <see cref="Finish"/>
/// exactly once.
/// </summary>
internal readonly struct ConnectAttempt
{
    private readonly PendingConnect _connect;
    private readonly ConnectResult _decided;
    private readonly bool _started;

    private ConnectAttempt(PendingConnect connect, ConnectResult decided, bool started)
    {
        _connect = connect;
        _decided = decided;
        _started = started;
    }

    internal static ConnectAttempt Decided(ConnectResult result) => new(default, result, started: false);

    internal static ConnectAttempt Started(PendingConnect connect) => new(connect, default, started: true);

    /// <summary>
    /// Completes when the connect has an outcome; throws <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires or the connect timeout passes, which <see cref="Finish"/> reports.
    /// </summary>
    public ValueTask WhenDoneAsync(CancellationToken cancellationToken) =>
        _started ? _connect.WhenDoneAsync(cancellationToken) : ValueTask.CompletedTask;

    /// <summary>The outcome: the connected socket, or the reply code of what happened (X'06' for the timeout).</summary>
    public ConnectResult Finish()
    {
        if (!_started)
        {
            return _decided;
        }

        (TunnelSocket? socket, System.Net.Sockets.SocketError error) = _connect.Finish();
        return socket is null ? ConnectResult.Failed(error) : ConnectResult.Connected(socket);
    }
}
