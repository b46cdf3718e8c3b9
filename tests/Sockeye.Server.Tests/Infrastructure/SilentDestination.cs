using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>
/// A loopback destination that never answers a connect: a listener with a backlog of 0 whose accept queue is full,
/// which drops further SYNs, so a connect to it hangs, a real timeout on loopback.
/// </summary>
internal sealed class SilentDestination : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _filler = [];

    private SilentDestination(Socket listener)
    {
        _listener = listener;
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    public static async Task<SilentDestination> StartAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var silent = new SilentDestination(listener);
        try
        {
            await silent.FillAcceptQueueAsync();
            return silent;
        }
        catch
        {
            silent.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (Socket socket in _filler)
        {
            socket.Dispose();
        }

        _listener.Dispose();
    }

    /// <summary>
    /// Connects until a connect has not completed after a second, which shows the queue full. A second, not less, so
    /// that a slow connect on a loaded machine is not taken for a full queue.
    /// </summary>
    private async Task FillAcceptQueueAsync()
    {
        for (int i = 0; i < 8; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _filler.Add(socket);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                await socket.ConnectAsync(EndPoint, cts.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        Assert.Fail("the listener's accept queue never filled");
    }
}
