using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;

namespace Sockeye.Server.Commands;

/// <summary>
/// The ports of <c>udp.portRange</c> that this server's UDP associations hold, shared by every association of the server
/// (and kept across reloads): binds each new relay socket to a port of the range, and reports when none is left.
/// </summary>
/// <remarks>
/// A search starts where the last one succeeded and goes round the range once at most. Associations tend to end in about
/// the order they began, so under steady load the port after the last one taken is usually free, and a bind succeeds at
/// the first try; the ports this server holds are skipped without a system call. A port held by another process is
/// found by its bind failing (EADDRINUSE), and passed over. A port is one association's, whatever the address: the
/// range's size is how many associations can be open at once, which is what an operator sizing a firewall's opening
/// counts. The claim of a port is an atomic bit, so that concurrent opens never try the same one.
/// </remarks>
internal sealed class UdpRelayPorts
{
    private readonly ulong[] _held = new ulong[(ushort.MaxValue + 1) / 64];
    private readonly UdpStatistics _statistics;
    private readonly ILogger _logger;
    private readonly LogGate _exhausted;
    private int _next;

    public UdpRelayPorts(UdpStatistics statistics, ILogger serverLogger, TimeProvider timeProvider)
    {
        _statistics = statistics;
        _logger = serverLogger;
        _exhausted = new LogGate(timeProvider, LogGate.DefaultInterval);
    }

    /// <summary>
    /// Binds <paramref name="socket"/> to <paramref name="address"/> and a port of <paramref name="range"/> that no other
    /// association holds, and claims it until <see cref="Release"/>. <see langword="false"/> with the error when none can
    /// be had: <see cref="SocketError.AddressAlreadyInUse"/> when every port of the range is taken (counted, and logged
    /// once per interval), else what the bind said (an address not on this host, say), which no other port would change.
    /// </summary>
    public bool TryBind(Socket socket, IPAddress address, PortRange range, out int port, out SocketError error)
    {
        int count = range.Count;
        int start = Volatile.Read(ref _next);
        int offset = range.Contains(start) ? start - range.First : 0;
        for (int tried = 0; tried < count; tried++, offset = offset + 1 == count ? 0 : offset + 1)
        {
            port = range.First + offset;
            if (!TryClaim(port))
            {
                continue;
            }

            try
            {
                socket.Bind(new IPEndPoint(address, port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // Another process's (or a socket of ours still closing): the next port may be free.
                Release(port);
                continue;
            }
            catch (SocketException e)
            {
                Release(port);
                error = e.SocketErrorCode;
                return false;
            }

            Volatile.Write(ref _next, port + 1);
            error = SocketError.Success;
            return true;
        }

        _statistics.CountPortRangeExhausted();
        if (_exhausted.TryReport(out long refused))
        {
            ServerLog.UdpPortsExhausted(_logger, range.ToString(), HeldIn(range), refused);
        }

        port = 0;
        error = SocketError.AddressAlreadyInUse;
        return false;
    }

    /// <summary>Gives back a port <see cref="TryBind"/> claimed, once its socket is closed.</summary>
    public void Release(int port)
    {
        ulong bit = 1UL << (port & 63);
        ulong before = Interlocked.And(ref _held[port >> 6], ~bit);
        Debug.Assert((before & bit) != 0, "A port is released only by the association that claimed it.");
    }

    /// <summary>Claims <paramref name="port"/>; <see langword="false"/> when an association of this server holds it already.</summary>
    private bool TryClaim(int port)
    {
        ulong bit = 1UL << (port & 63);
        return (Interlocked.Or(ref _held[port >> 6], bit) & bit) == 0;
    }

    /// <summary>How many ports of <paramref name="range"/> this server's associations hold now (for the report; a count, not a promise).</summary>
    private int HeldIn(PortRange range)
    {
        int held = 0;
        for (int port = range.First; port <= range.Last; port++)
        {
            if ((Volatile.Read(ref _held[port >> 6]) & (1UL << (port & 63))) != 0)
            {
                held++;
            }
        }

        return held;
    }
}
