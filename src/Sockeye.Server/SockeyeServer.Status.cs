using Sockeye.Server.Diagnostics;
using Sockeye.Server.Sessions;
using Sockeye.Server.Status;
using Sockeye.Server.Transport;

namespace Sockeye.Server;

public sealed partial class SockeyeServer
{
    // The phases' names in status reports, by HandshakePhase value.
    private static readonly string[] PhaseNames = ["greeting", "authentication", "request", "connecting", "awaiting_peer", "relaying", "proxy_header", "gssapi"];
    private static readonly string[] CommandNames = SessionAccounting.CommandNames;

    private DateTimeOffset? _startedAt;

    /// <summary>
    /// Whether the server is ready for clients: started, not draining, and every listener accepting. What a load
    /// balancer's or an orchestrator's readiness check asks.
    /// </summary>
    public bool IsReady => Volatile.Read(ref _state) == 1 && AllListenersAccepting();

    /// <summary>
    /// What the server is doing now: its listeners, open sessions by command and phase, bytes relayed, each user's and
    /// the busiest clients' sessions and bytes, the throughput of the last ten minutes, the last refusals, and whether the
    /// per-user limits are shared across instances now.
    /// </summary>
    /// <param name="topClients">How many client addresses to list, busiest first.</param>
    /// <remarks>
    /// Reads the counters the server keeps anyway; it costs one pass over the open sessions, and the sessions are not
    /// held up by it. Every list is bounded, whatever clients do.
    /// </remarks>
    public ServerStatus GetStatus(int topClients = 20)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(topClients);
        int state = Volatile.Read(ref _state);
        SessionAccounting accounting = _services.Accounting;

        int[] groups = new int[CommandNames.Length * PhaseNames.Length];
        int active = 0;
        foreach (ProxySession session in _registry.Sessions)
        {
            active++;
            int phase = Math.Clamp((int)session.Phase, 0, PhaseNames.Length - 1);
            groups[(SessionAccounting.CommandIndex(session.Command) * PhaseNames.Length) + phase]++;
        }

        var sessions = new List<SessionGroup>();
        for (int i = 0; i < groups.Length; i++)
        {
            if (groups[i] != 0)
            {
                sessions.Add(new SessionGroup(CommandNames[i / PhaseNames.Length], PhaseNames[i % PhaseNames.Length], groups[i]));
            }
        }

        long[] bytes = accounting.RelayedBytes(_registry);
        long up = 0;
        long down = 0;
        for (int i = 0; i < bytes.Length; i += 2)
        {
            up += bytes[i];
            down += bytes[i + 1];
        }

        (List<ClientActivity> clients, ClientActivity others) = accounting.Clients(_registry, topClients);
        return new ServerStatus(
            _timeProvider.GetUtcNow(),
            _startedAt,
            state == 1 && AllListenersAccepting(),
            state == 2,
            ListenerStatuses(state),
            active,
            sessions,
            up,
            down,
            accounting.Users(_registry),
            clients,
            others,
            accounting.Throughput(),
            accounting.RefusalCount,
            accounting.RecentRefusals(),
            SharedLimitsState);
    }

    private List<ListenerStatus> ListenerStatuses(int state)
    {
        List<ListenerStatus> listeners = _listeners.Statuses();
        if (state != 1)
        {
            // Stopping: an accept loop may still be winding down, but no client is served any more.
            for (int i = 0; i < listeners.Count; i++)
            {
                listeners[i] = listeners[i] with { Accepting = false };
            }
        }

        return listeners;
    }

    private bool AllListenersAccepting()
    {
        List<ListenerStatus> listeners = _listeners.Statuses();
        return listeners.Count > 0 && listeners.TrueForAll(static listener => listener.Accepting);
    }

    /// <summary>Takes a throughput sample now (tests drive the sampler with a fake clock or call this).</summary>
    internal void SampleThroughput() => _services.Accounting.Sample(_registry);
}
