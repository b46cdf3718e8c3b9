using System.Net.Sockets;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Server.Transport;

/// <summary>
/// The I/O of one UDP association (<see cref="TransportEngine.CreateDatagramPump"/>): receives datagrams on the client's
/// relay socket and on each destination socket, puts every one to the association's decisions
/// (<see cref="IDatagramRelay"/>), and sends what they let through. It decides nothing itself.
/// </summary>
/// <remarks>
/// Datagrams are handled one at a time per socket, so a burst never grows memory: what the pump has not read waits in the
/// kernel's socket buffer, and what does not fit there is dropped by the kernel. The steady-state path allocates nothing.
/// The sockets belong to the association; the pump only reads and writes them, and must be disposed before they are.
/// </remarks>
internal abstract class DatagramPump : IDisposable
{
    /// <summary>
    /// Room a pump leaves in front of a datagram it reads from a destination, for the header that
    /// <see cref="IDatagramRelay.PrepareForClient"/> writes in place naming its source: RSV(2) FRAG ATYP IPv6(16) PORT(2),
    /// the largest header of an address (answers never come from a name).
    /// </summary>
    public const int ReplyHeaderRoom = 3 + 1 + 16 + 2;

    protected DatagramPump(IDatagramRelay relay)
    {
        Relay = relay;
    }

    /// <summary>Whether the pump stopped relaying because its engine failed under it: no datagram will be relayed again.</summary>
    public virtual bool Faulted => false;

    /// <summary>The association whose datagrams this pump moves.</summary>
    protected IDatagramRelay Relay { get; }

    /// <summary>Tells the relay of one datagram sent toward its destination on its own (<paramref name="taken"/>) or refused.</summary>
    protected void ReportSentToDestination(bool taken, int countedBytes) =>
        Relay.OnSentToDestination(taken ? 1 : 0, taken ? countedBytes : 0, taken ? 0 : 1);

    /// <summary>Tells the relay of one datagram sent toward the client on its own (<paramref name="taken"/>) or refused.</summary>
    protected void ReportSentToClient(bool taken, int countedBytes) =>
        Relay.OnSentToClient(taken ? 1 : 0, taken ? countedBytes : 0, taken ? 0 : 1);

    /// <summary>The largest datagram a client sends with a payload of <paramref name="maxPayloadBytes"/>: behind the largest header, a name's.</summary>
    public static int LargestFromClient(int maxPayloadBytes) => Socks5Limits.MaxUdpHeaderLength + maxPayloadBytes;

    /// <summary>
    /// A buffer that holds one datagram of either direction with payloads up to <paramref name="maxPayloadBytes"/>: a
    /// client's, or a destination's behind <see cref="ReplyHeaderRoom"/>.
    /// </summary>
    public static int BufferBytesForEitherDirection(int maxPayloadBytes) => Math.Max(LargestFromClient(maxPayloadBytes), ReplyHeaderRoom + maxPayloadBytes);

    /// <summary>
    /// Receives on the relay socket (and on each destination socket given to <see cref="AddDestination"/>) until
    /// <paramref name="cancellationToken"/> ends the association, or until <see cref="Faulted"/>. Called once.
    /// </summary>
    public abstract Task RunAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Starts receiving on a destination socket the association has just opened, so that its answers reach the client.
    /// Called from within the association's decisions while <see cref="RunAsync"/> runs; ignored once the pump has stopped.
    /// </summary>
    public abstract void AddDestination(Socket socket);

    /// <summary>Stops receiving on every socket; idempotent. Called before the association closes its sockets.</summary>
    public abstract void Dispose();
}
