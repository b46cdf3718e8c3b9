using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Transport.Linux;
using Sockeye.Server.Transport.Portable;

namespace Sockeye.Server.Transport;

/// <summary>
/// The one thing the rest of the server knows about the network: it accepts, connects, relays, waits for BIND's peer and
/// pumps datagrams. Sessions, commands, listeners and <see cref="SockeyeServer"/> are written against this class alone;
/// which engine is below it (<see cref="LinuxEngine"/>'s event loops, or <see cref="PortableEngine"/>'s runtime sockets)
/// is decided once, here, from <see cref="SockeyeServerOptions.RelayEngine"/> and the OS.
/// </summary>
/// <remarks>
/// Every method may be called from any thread. Failures that the protocol answers with a reply code (a refused connect,
/// no descriptor left for a socket) are values; only bugs throw.
/// </remarks>
internal abstract class TransportEngine : IDisposable
{
    /// <summary>The engine <paramref name="options"/> ask for on this OS: Linux's unless told otherwise, portable elsewhere.</summary>
    public static TransportEngine Create(SockeyeServerOptions options, DescriptorBudget descriptors, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        bool linux = options.RelayEngine == RelayEngine.Linux || (options.RelayEngine == RelayEngine.Auto && OperatingSystem.IsLinux());
        return linux && OperatingSystem.IsLinux()
            ? new LinuxEngine(options, descriptors, timeProvider, loggerFactory)
            : new PortableEngine(options, timeProvider, loggerFactory);
    }

    /// <summary>The engine's name in <c>relay.engine</c> and in logs: <c>linux</c> or <c>portable</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Binds <paramref name="endPoint"/> and listens; nothing is accepted until <see cref="TransportListener.StartAccepting"/>.</summary>
    /// <exception cref="Listening.SockeyeListenException">The endpoint cannot be listened on.</exception>
    public abstract TransportListener Listen(IPEndPoint endPoint, int backlog);

    /// <summary>
    /// Runs a newly accepted session: on the thread that accepted it when that is where its socket's events arrive (an
    /// event loop), else on the thread pool, so that a client that pipelines its handshake never holds an accept loop.
    /// </summary>
    public abstract void StartSession(IThreadPoolWorkItem session);

    /// <summary>
    /// Whether the calling thread is one of the engine's own (an event loop), which must never block or run long: work
    /// such as a password hash goes elsewhere.
    /// </summary>
    public virtual bool IsEngineThread => false;

    /// <summary>
    /// Connects to <paramref name="target"/> from <paramref name="source"/> (any address when <see langword="null"/>),
    /// through the interface <paramref name="device"/> when one is named (SO_BINDTODEVICE, Linux), near
    /// <paramref name="near"/> (the client: on its event loop, where the engine has loops). A failure or a cancellation
    /// is a value (<see cref="SocketError.TimedOut"/> for the latter), so that a Happy Eyeballs race can weigh it against
    /// the others.
    /// </summary>
    public abstract Task<(TunnelSocket? Socket, SocketError Error)> ConnectAsync(IPEndPoint target, IPAddress? source, TunnelSocket? near, CancellationToken cancellationToken,
        string? device = null);

    /// <summary>
    /// Starts a connect the cheap way where the engine has one: no task, no timer, its <paramref name="timeout"/> a
    /// deadline of the engine's own. <see langword="false"/> when it has none; use <see cref="ConnectAsync"/>.
    /// </summary>
    public virtual bool TryStartConnect(IPEndPoint target, IPAddress? source, TimeSpan timeout, TunnelSocket near, out PendingConnect connect)
    {
        connect = default;
        return false;
    }

    /// <summary>
    /// The relay between <paramref name="client"/> and <paramref name="target"/>, both from this engine, paced by
    /// <paramref name="bandwidth"/> when a rate limit applies. The caller runs it (<see cref="TunnelRelay.RunAsync"/>)
    /// and closes both sockets once it has ended.
    /// </summary>
    public abstract TunnelRelay CreateRelay(TunnelSocket client, TunnelSocket target, SessionBandwidth? bandwidth);

    /// <summary>
    /// Opens BIND's listening socket on <paramref name="localAddress"/>, port 0, for one connection, near
    /// <paramref name="near"/> (the client). <see langword="null"/> and the error when it cannot be opened.
    /// </summary>
    public abstract BindListener? ListenForPeer(IPAddress localAddress, TunnelSocket near, out SocketError error);

    /// <summary>
    /// The pump for one UDP association's datagrams: <paramref name="relay"/> decides, the pump receives and sends (on a
    /// UDP event loop, where the engine has loops).
    /// </summary>
    public abstract DatagramPump CreateDatagramPump(IDatagramRelay relay);

    /// <summary>Faults of the engine's own threads since it started (what <c>sockeye.eventloop.faults</c> reports).</summary>
    public virtual (long HandlerFaults, long FailedLoops) Faults => default;

    /// <summary>Stops the engine's threads; called once every session has ended and every listener is closed.</summary>
    public abstract void Dispose();
}
