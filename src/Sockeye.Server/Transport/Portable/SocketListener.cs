using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Sockeye.Server.Transport.Portable;

/// <summary>The portable engine's listener: an awaiting accept loop on the runtime's socket.</summary>
internal sealed class SocketListener : TransportListener
{
    private SocketListener(Socket socket, ILogger logger, TimeProvider timeProvider)
        : base(socket, logger, timeProvider)
    {
    }

    public static SocketListener Bind(IPEndPoint endPoint, int backlog, ILogger logger, TimeProvider timeProvider) =>
        new(BindSocket(endPoint, backlog), logger, timeProvider);

    public override Task StartAccepting(Action<TunnelSocket> onAccepted) => AcceptLoopAsync(onAccepted);

    public override void Dispose() => Socket.Dispose();

    private async Task AcceptLoopAsync(Action<TunnelSocket> onAccepted)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await Socket.AcceptAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The client gave up while still in the backlog: routine.
                continue;
            }
            catch (SocketException e)
            {
                ReportAcceptFailure(e);
                await Task.Delay(AcceptErrorBackoff, TimeProvider).ConfigureAwait(false);
                continue;
            }

            try
            {
                client.NoDelay = true;
            }
            catch (SocketException)
            {
                // The client reset between accept and here: nothing to serve.
                client.Dispose();
                continue;
            }

            onAccepted(new RuntimeTunnelSocket(client));
        }
    }
}
