using System.Net;

namespace Sockeye.Server;

/// <summary>What a <see cref="SockeyeServer.Reload"/> changed, for the caller to report.</summary>
public sealed class ServerReloadResult
{
    internal ServerReloadResult(IReadOnlyList<string> applied, IReadOnlyList<string> needsRestart, IReadOnlyList<IPEndPoint> listenersOpened,
        IReadOnlyList<IPEndPoint> listenersStopped)
    {
        Applied = applied;
        NeedsRestart = needsRestart;
        ListenersOpened = listenersOpened;
        ListenersStopped = listenersStopped;
    }

    /// <summary>A reload that changed nothing (one after <see cref="SockeyeServer.StopAsync"/>).</summary>
    internal static ServerReloadResult Nothing { get; } = new([], [], [], []);

    /// <summary>
    /// The settings whose value changed and is now in force, by their key in a config file (<c>limits.maxSessions</c>,
    /// <c>listeners</c>, …). Users and rules are replaced by every reload and are not listed.
    /// </summary>
    public IReadOnlyList<string> Applied { get; }

    /// <summary>
    /// The settings whose value changed but that a running server cannot change (<c>relay.engine</c>,
    /// <c>relayBufferBytes</c>, <c>eventLoopPoll</c>, <c>listenBacklog</c>, <c>udp.maxDatagramBytes</c>): the value the
    /// server started with stays in force until it is restarted. Each is also logged as a warning (event 1018).
    /// </summary>
    public IReadOnlyList<string> NeedsRestart { get; }

    /// <summary>The listeners the reload opened, with the ports they really have.</summary>
    public IReadOnlyList<IPEndPoint> ListenersOpened { get; }

    /// <summary>The listeners the reload stopped; the sessions they had accepted go on until they end.</summary>
    public IReadOnlyList<IPEndPoint> ListenersStopped { get; }
}
