using System.Runtime.Versioning;
using Sockeye.Server.Relay;

namespace Sockeye.Server.Commands;

/// <summary>
/// A CONNECT to an IP destination on an event loop, started by <see cref="ConnectCommand.TryStartOnLoop"/>: either
/// already decided, or a connect under way with its deadline on the loop. The caller awaits
/// <see cref="WhenDoneAsync"/> in its own state machine when <see cref="IsPending"/>, then calls <see cref="Finish"/>
/// exactly once.
/// </summary>
[SupportedOSPlatform("linux")]
internal readonly struct LoopConnect
{
    private readonly EpollTunnelSocket? _connecting;
    private readonly long _deadline;
    private readonly ConnectResult _decided;

    private LoopConnect(EpollTunnelSocket? connecting, long deadline, ConnectResult decided)
    {
        _connecting = connecting;
        _deadline = deadline;
        _decided = decided;
    }

    /// <summary>Whether the connect is under way: await <see cref="WhenDoneAsync"/> before <see cref="Finish"/>.</summary>
    public bool IsPending => _connecting is not null;

    internal static LoopConnect Decided(ConnectResult result) => new(null, 0, result);

    internal static LoopConnect Pending(EpollTunnelSocket connecting, long deadline) => new(connecting, deadline, default);

    /// <summary>
    /// Completes when the connect has an outcome; throws <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires or the connect timeout passes, which <see cref="Finish"/> reports.
    /// </summary>
    public ValueTask WhenDoneAsync(CancellationToken cancellationToken) =>
        _connecting is null ? ValueTask.CompletedTask : _connecting.WhenConnectedAsync(cancellationToken);

    /// <summary>The outcome: the connected socket, or the reply code of what happened (X'06' for the timeout).</summary>
    public ConnectResult Finish()
    {
        if (_connecting is null)
        {
            return _decided;
        }

        _connecting.Loop.RemoveDeadline(_deadline, _connecting);
        (EpollTunnelSocket? socket, System.Net.Sockets.SocketError error) = _connecting.FinishConnect();
        return socket is null ? ConnectResult.Failed(error) : ConnectResult.Connected(socket);
    }
}
