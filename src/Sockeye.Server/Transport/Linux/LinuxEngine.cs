using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The Linux engine: Sockeye's own epoll loops, one thread per core for TCP and one per core for UDP, each started on
/// first use. Every TCP socket of a session is a raw descriptor on its client's loop, from accept to close: the
/// handshake, the connect, BIND's accept, the relay (splice through pooled pipes, copy when no pipe can be had) and its
/// pacing all run where the socket's events land.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class LinuxEngine : TransportEngine
{
    // 256 KiB: with 64 KiB pipes one stream moved 1.3 GB/s at 0.6 CPU s/GiB, with 1 MiB 1.8 GB/s at 0.36
    // (bench/Sockeye.Bench, pinned, 2026-11-25); 256 KiB against 1 MiB was level then (2026-12-04) and ahead on one and
    // eight streams both ways in two runs of 2026-12-05 (docs/performance-journal.md, 23:31–23:39), at the same CPU
    // per GiB: a busy direction hands the loop back to the others after a quarter of the bytes. The kernel fills pipe
    // pages only as data arrives, and only busy directions hold a pipe.
    private const int SplicePipeBytes = 1 << 18;

    private readonly SockeyeServerOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly EpollLoop?[] _tcpLoops = new EpollLoop?[Environment.ProcessorCount];
    private readonly EpollLoop?[] _udpLoops = new EpollLoop?[Environment.ProcessorCount];
    private readonly int _udpLoopScratchBytes;
    private readonly bool _segmentDatagrams;
    private readonly Func<EpollLoop> _nextTcpLoop;
    private int _nextUdpLoop;
    private int _nextTcpLoopIndex;
    private long _retiredLoopHandlerFaults;
    private long _failedLoops;
    private bool _loopsStopped;

    public LinuxEngine(SockeyeServerOptions options, DescriptorBudget descriptors, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        _options = options;
        _timeProvider = timeProvider;
        _logger = loggerFactory.CreateLogger("Sockeye.Server");
        Pipes = new SplicePipePool(SplicePipeBytes, descriptors.SplicePipes);
        _udpLoopScratchBytes = DatagramBatch.ScratchBytes(DatagramPump.BufferBytesForEitherDirection(options.Udp.MaxDatagramBytes));
        _segmentDatagrams = options.Udp.SegmentationOffload && DatagramBatch.SegmentationSupported;
        _nextTcpLoop = NextTcpLoop;
    }

    public override string Name => "linux";

    /// <summary>Pipes for the splice relay, pooled and capped by the descriptor budget.</summary>
    public SplicePipePool Pipes { get; }

    public override bool IsEngineThread => EpollLoop.IsOnLoopThread;

    public override TransportListener Listen(IPEndPoint endPoint, int backlog) =>
        LoopListener.Bind(endPoint, backlog, _logger, _timeProvider, _nextTcpLoop);

    /// <summary>On the event loop that accepted it: the session runs until its first wait, which completes on its own loop.</summary>
    public override void StartSession(IThreadPoolWorkItem session) => session.Execute();

    public override Task<(TunnelSocket? Socket, SocketError Error)> ConnectAsync(IPEndPoint target, IPAddress? source, TunnelSocket? near, CancellationToken cancellationToken, string? device = null) =>
        EpollTunnelSocket.ConnectAsync(LoopNear(near), target, source, device, cancellationToken);

    /// <summary>
    /// A connect on the client's loop with its timeout a deadline of that loop's (on the server's clock, so a test's fake
    /// clock drives it too): no task and no timer with a linked cancellation source, which were most of the garbage a
    /// tunnel left behind (docs/performance-journal.md).
    /// </summary>
    public override bool TryStartConnect(IPEndPoint target, IPAddress? source, TimeSpan timeout, TunnelSocket near, out PendingConnect connect)
    {
        EpollLoop loop = LoopNear(near);
        (EpollTunnelSocket? socket, SocketError error) = EpollTunnelSocket.StartConnect(loop, target.Address, target.Port, source);
        connect = socket is { IsConnecting: true }
            ? PendingConnect.Started(socket, loop.AddDeadline(socket, timeout))
            : PendingConnect.Completed(socket, error);
        return true;
    }

    /// <summary>The splice relay on the client's loop, paced or not: its waits for tokens are deadlines of that loop.</summary>
    public override TunnelRelay CreateRelay(TunnelSocket client, TunnelSocket target, SessionBandwidth? bandwidth) =>
        new EpollRelay((EpollTunnelSocket)client, (EpollTunnelSocket)target, Pipes, _options.RelayBufferBytes, _timeProvider, bandwidth);

    public override BindListener? ListenForPeer(IPAddress localAddress, TunnelSocket near, out SocketError error) =>
        LoopBindListener.Open(LoopNear(near), localAddress, out error);

    /// <summary>On the next UDP loop: the association's datagrams are read into that loop's buffer, on its thread.</summary>
    public override DatagramPump CreateDatagramPump(IDatagramRelay relay) => new LoopDatagramPump(NextUdpLoop(), relay, _segmentDatagrams);

    /// <summary>The client's loop, where its target belongs; the next loop for a socket of no loop's.</summary>
    private EpollLoop LoopNear(TunnelSocket? near) => near?.Underlying is EpollTunnelSocket socket ? socket.Loop : NextTcpLoop();

    /// <summary>The event loop for the next UDP association, started on first use, one per core in turn.</summary>
    public EpollLoop NextUdpLoop() => NextLoop(_udpLoops, ref _nextUdpLoop, "udp", _udpLoopScratchBytes);

    /// <summary>The event loop for the next TCP connection (accepted, or a listener's), started on first use, one per core in turn.</summary>
    public EpollLoop NextTcpLoop() => NextLoop(_tcpLoops, ref _nextTcpLoopIndex, "tcp", scratchBytes: 1);

    private EpollLoop NextLoop(EpollLoop?[] loops, ref int next, string kind, int scratchBytes)
    {
        int index = (int)((uint)Interlocked.Increment(ref next) % (uint)loops.Length);
        lock (loops)
        {
            ObjectDisposedException.ThrowIf(_loopsStopped, this);
            if (loops[index] is { IsFailed: true } failed)
            {
                // Its sessions are closed and its thread gone: a new loop takes its place, and its faults stay counted.
                Interlocked.Add(ref _retiredLoopHandlerFaults, failed.HandlerFaults);
                Interlocked.Increment(ref _failedLoops);
                failed.Dispose();
                loops[index] = null;
            }

            return loops[index] ??= new EpollLoop($"sockeye-{kind}-{index}", scratchBytes, _logger, _options.EventLoopPoll, _timeProvider);
        }
    }

    /// <summary>
    /// Handlers (and posted work) that threw, and loops that failed outright. A failed loop counts once it has been
    /// noticed and replaced, or now if it is still in place.
    /// </summary>
    public override (long HandlerFaults, long FailedLoops) Faults
    {
        get
        {
            long handlerFaults = Interlocked.Read(ref _retiredLoopHandlerFaults);
            long failedLoops = Interlocked.Read(ref _failedLoops);
            foreach (EpollLoop?[] loops in (ReadOnlySpan<EpollLoop?[]>)[_udpLoops, _tcpLoops])
            {
                lock (loops)
                {
                    foreach (EpollLoop? loop in loops)
                    {
                        handlerFaults += loop?.HandlerFaults ?? 0;
                        failedLoops += loop is { IsFailed: true } ? 1 : 0;
                    }
                }
            }

            return (handlerFaults, failedLoops);
        }
    }

    /// <summary>Makes the event loop of <paramref name="kind"/> ("tcp" or "udp") at <paramref name="index"/> fail (for tests); false when there is none.</summary>
    internal bool InjectEventLoopFailure(string kind, int index)
    {
        EpollLoop?[] loops = kind == "udp" ? _udpLoops : _tcpLoops;
        lock (loops)
        {
            if (loops[index] is not { } loop)
            {
                return false;
            }

            loop.InjectFailure();
            return true;
        }
    }

    /// <summary>Sockets of UDP associations registered on the event loops now (for tests and diagnostics).</summary>
    public int UdpSocketsOnEventLoops => CountRegistered(_udpLoops);

    /// <summary>TCP sockets (listeners, clients, destinations) registered on the event loops now (for tests and diagnostics).</summary>
    public int TcpSocketsOnEventLoops => CountRegistered(_tcpLoops);

    private static int CountRegistered(EpollLoop?[] loops)
    {
        lock (loops)
        {
            int count = 0;
            foreach (EpollLoop? loop in loops)
            {
                count += loop?.Count ?? 0;
            }

            return count;
        }
    }

    public override void Dispose()
    {
        Pipes.Dispose();
        foreach (EpollLoop?[] loops in (ReadOnlySpan<EpollLoop?[]>)[_udpLoops, _tcpLoops])
        {
            lock (loops)
            {
                _loopsStopped = true;
                foreach (EpollLoop? loop in loops)
                {
                    loop?.Dispose();
                }
            }
        }
    }
}
