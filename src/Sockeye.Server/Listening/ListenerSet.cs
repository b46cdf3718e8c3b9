using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Listening;

/// <summary>
/// The server's listeners, each with the endpoint it was configured with, changed in two steps so that a reload either
/// changes them all or none: <see cref="Prepare"/> opens what is new and can fail, <see cref="Commit"/> starts accepting
/// on it and stops what is gone, and cannot. Not thread-safe: the server calls it under its reload lock.
/// </summary>
/// <remarks>
/// Listeners are matched by their configured endpoint, so a listener configured with port 0 is the same listener for as
/// long as the configuration lists that endpoint, whatever port the OS gave it; an endpoint that names the port such a
/// listener really has is served by it too. A stopped listener's sessions are not touched: they go on until they end.
/// </remarks>
internal sealed class ListenerSet
{
    private readonly TransportEngine _engine;
    private readonly ILogger _logger;
    private readonly Action<TunnelSocket, ListenerFrontDoor> _onAccepted;

    // Every accept loop started, stopped ones too until they have completed: each is awaited by StopAsync.
    private readonly List<Task> _acceptLoops = [];
    private List<Listener> _listeners = [];

    /// <param name="engine">Opens the listeners.</param>
    /// <param name="logger">Where listeners opened and stopped are reported.</param>
    /// <param name="onAccepted">Takes each client, with the PROXY protocol settings of the listener that accepted it (null: none).</param>
    public ListenerSet(TransportEngine engine, ILogger logger, Action<TunnelSocket, ListenerFrontDoor> onAccepted)
    {
        _engine = engine;
        _logger = logger;
        _onAccepted = onAccepted;
    }

    /// <summary>The endpoints really listened on, in the configured order (port 0 replaced by the port the OS chose).</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints { get; private set; } = [];

    /// <summary>
    /// Opens a listener for each of <paramref name="configured"/> that no open listener serves yet, with
    /// <paramref name="backlog"/>; nothing accepts on them, and nothing is stopped, until <see cref="Commit"/>. If one
    /// cannot be opened, those opened here are closed again and the exception goes to the caller: nothing has changed.
    /// </summary>
    /// <exception cref="SockeyeListenException">An endpoint could not be listened on (e.g. its port is in use).</exception>
    public Change Prepare(IReadOnlyList<IPEndPoint> configured, int backlog, IDictionary<IPEndPoint, ProxyProtocolOptions> proxyProtocol,
        IDictionary<IPEndPoint, ListenerProtocols> protocols)
    {
        var unmatched = new List<Listener>(_listeners);
        var next = new List<Listener>(configured.Count);
        var opened = new List<Listener>();
        try
        {
            foreach (IPEndPoint endPoint in configured)
            {
                int serving = IndexServing(unmatched, endPoint);
                if (serving >= 0)
                {
                    next.Add(unmatched[serving]);
                    unmatched.RemoveAt(serving);
                    continue;
                }

                var listener = new Listener(endPoint, _engine.Listen(endPoint, backlog));
                opened.Add(listener);
                next.Add(listener);
            }
        }
        catch
        {
            foreach (Listener listener in opened)
            {
                listener.Transport.Dispose();
            }

            throw;
        }

        var frontDoors = new ListenerFrontDoor[next.Count];
        for (int i = 0; i < next.Count; i++)
        {
            IPEndPoint endPoint = next[i].Configured;
            frontDoors[i] = new ListenerFrontDoor(
                protocols.TryGetValue(endPoint, out ListenerProtocols spoken) ? spoken : ListenerProtocolDefaults.For(endPoint),
                proxyProtocol.TryGetValue(endPoint, out ProxyProtocolOptions? proxy) ? proxy : null);
        }

        return new Change(next, opened, unmatched, frontDoors);
    }

    /// <summary>
    /// Starts accepting on the listeners <paramref name="change"/> opened and stops accepting on those it left out (their
    /// sockets close; their sessions go on). A stopped listener's accept loop may hand over one last client while it
    /// winds down; <see cref="StopAsync"/> awaits it.
    /// </summary>
    public void Commit(Change change)
    {
        _acceptLoops.RemoveAll(static loop => loop.IsCompletedSuccessfully);

        // Before any accepts: a listener that has just been told to read PROXY headers never takes a client without.
        for (int i = 0; i < change.Next.Count; i++)
        {
            change.Next[i].FrontDoor = change.FrontDoors[i];
        }

        foreach (Listener listener in change.Opened)
        {
            listener.AcceptLoop = listener.Transport.StartAccepting(client => _onAccepted(client, listener.FrontDoor));
            _acceptLoops.Add(listener.AcceptLoop);
            ServerLog.Listening(_logger, listener.Transport.LocalEndPoint);
        }

        Volatile.Write(ref _listeners, change.Next);
        var endPoints = new IPEndPoint[_listeners.Count];
        for (int i = 0; i < endPoints.Length; i++)
        {
            endPoints[i] = _listeners[i].Transport.LocalEndPoint;
        }

        LocalEndPoints = endPoints;
        foreach (Listener listener in change.Removed)
        {
            listener.Transport.Dispose();
            ServerLog.ListenerStopped(_logger, listener.Transport.LocalEndPoint);
        }
    }

    /// <summary>Closes the listeners <paramref name="change"/> opened, leaving everything as it was before <see cref="Prepare"/>.</summary>
    public static void Abandon(Change change)
    {
        foreach (Listener listener in change.Opened)
        {
            listener.Transport.Dispose();
        }
    }

    /// <summary>Stops every listener; the task completes once no accept loop will hand over another client.</summary>
    public Task StopAsync()
    {
        foreach (Listener listener in _listeners)
        {
            listener.Transport.Dispose();
        }

        Volatile.Write(ref _listeners, []);
        return Task.WhenAll(_acceptLoops);
    }

    /// <summary>The index of the listener in <paramref name="listeners"/> that serves <paramref name="endPoint"/>, or -1.</summary>
    private static int IndexServing(List<Listener> listeners, IPEndPoint endPoint)
    {
        for (int i = 0; i < listeners.Count; i++)
        {
            if (listeners[i].Configured.Equals(endPoint))
            {
                return i;
            }
        }

        // Port 0 asks the OS for any port; a named port that one of those got is still that listener's.
        for (int i = 0; endPoint.Port != 0 && i < listeners.Count; i++)
        {
            if (listeners[i].Transport.LocalEndPoint.Equals(endPoint))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Each listener's real endpoint, and whether its accept loop still runs: what a readiness check and the status
    /// report read, from any thread (the list they read is never changed once in place).
    /// </summary>
    public List<Status.ListenerStatus> Statuses()
    {
        List<Listener> listeners = Volatile.Read(ref _listeners);
        var statuses = new List<Status.ListenerStatus>(listeners.Count);
        foreach (Listener listener in listeners)
        {
            statuses.Add(new Status.ListenerStatus(listener.Transport.LocalEndPoint.ToString(), listener.AcceptLoop is { IsCompleted: false }));
        }

        return statuses;
    }

    /// <summary>A listener and the endpoint it was configured with.</summary>
    internal sealed record Listener(IPEndPoint Configured, TransportListener Transport)
    {
        private ListenerFrontDoor _frontDoor = new(ListenerProtocolDefaults.For(Configured), null);

        /// <summary>Its accept loop, once <see cref="Commit"/> has started it.</summary>
        public Task? AcceptLoop { get; set; }

        /// <summary>The protocols and PROXY protocol settings its next client is accepted with; replaced by a reload, read by the accept loop.</summary>
        public ListenerFrontDoor FrontDoor
        {
            get => Volatile.Read(ref _frontDoor);
            set => Volatile.Write(ref _frontDoor, value);
        }
    }

    /// <summary>What <see cref="Prepare"/> found: the listeners to have, those it opened for that, and those to stop.</summary>
    internal sealed class Change
    {
        private readonly List<Listener> _opened;
        private readonly List<Listener> _removed;

        internal Change(List<Listener> next, List<Listener> opened, List<Listener> removed, ListenerFrontDoor[] frontDoors)
        {
            Next = next;
            _opened = opened;
            _removed = removed;
            FrontDoors = frontDoors;
        }

        internal List<Listener> Next { get; }

        /// <summary>The front door of each of <see cref="Next"/>, in the same order.</summary>
        internal ListenerFrontDoor[] FrontDoors { get; }

        internal IReadOnlyList<Listener> Opened => _opened;

        internal IReadOnlyList<Listener> Removed => _removed;

        /// <summary>Whether the change opens or stops any listener.</summary>
        public bool ChangesAnything => _opened.Count > 0 || _removed.Count > 0;

        /// <summary>The endpoints of the listeners opened (real ports).</summary>
        public IPEndPoint[] OpenedEndPoints => EndPoints(_opened);

        /// <summary>The endpoints of the listeners to stop (real ports).</summary>
        public IPEndPoint[] RemovedEndPoints => EndPoints(_removed);

        private static IPEndPoint[] EndPoints(List<Listener> listeners)
        {
            var endPoints = new IPEndPoint[listeners.Count];
            for (int i = 0; i < endPoints.Length; i++)
            {
                endPoints[i] = listeners[i].Transport.LocalEndPoint;
            }

            return endPoints;
        }
    }
}
