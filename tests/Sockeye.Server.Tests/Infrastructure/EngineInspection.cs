using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>What a test may ask of a server's engine: the Linux engine's loops, pipes and faults; nothing on the portable one.</summary>
internal static class EngineInspection
{
    extension(SockeyeServer server)
    {
        /// <summary>The Linux engine under the server, or <see langword="null"/> for the portable one.</summary>
        public LinuxEngine? LinuxEngine => OperatingSystem.IsLinux() ? server.Engine as LinuxEngine : null;

        /// <summary>TCP sockets on the event loops now: each listener, and both sides of every session (0 on the portable engine).</summary>
        public int TcpSocketsOnEventLoops => OperatingSystem.IsLinux() ? server.LinuxEngine?.TcpSocketsOnEventLoops ?? 0 : 0;

        /// <summary>Sockets of UDP associations on the event loops now (0 on the portable engine).</summary>
        public int UdpSocketsOnEventLoops => OperatingSystem.IsLinux() ? server.LinuxEngine?.UdpSocketsOnEventLoops ?? 0 : 0;

        /// <summary>Splice pipes open now, pooled or rented (0 on the portable engine).</summary>
        public int SplicePipesOpen => OperatingSystem.IsLinux() ? server.LinuxEngine?.Pipes.PipesOpen ?? 0 : 0;

        /// <summary>Event-loop faults since the server started (what <c>sockeye.eventloop.faults</c> reports).</summary>
        public (long HandlerFaults, long FailedLoops) EventLoopFaults => server.Engine.Faults;

        /// <summary>Makes an event loop fail as if its epoll_wait had; false when there is no such loop.</summary>
        public bool InjectEventLoopFailure(string kind, int index) =>
            OperatingSystem.IsLinux() && server.LinuxEngine is { } engine && engine.InjectEventLoopFailure(kind, index);
    }
}
