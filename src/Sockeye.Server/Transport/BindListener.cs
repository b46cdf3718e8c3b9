using System.Net;

namespace Sockeye.Server.Transport;

/// <summary>BIND's listening socket (<see cref="TransportEngine.ListenForPeer"/>): one connection, then it is disposed.</summary>
internal abstract class BindListener : IDisposable
{
    /// <summary>The address and port really bound.</summary>
    public abstract IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// Waits for the next incoming connection, served by the same engine as every other. Errors surface as
    /// <see cref="System.Net.Sockets.SocketException"/>, cancellation as <see cref="OperationCanceledException"/>.
    /// </summary>
    public abstract ValueTask<TunnelSocket> AcceptAsync(CancellationToken cancellationToken);

    /// <summary>Closes the listening socket, ending a pending accept.</summary>
    public abstract void Dispose();
}
