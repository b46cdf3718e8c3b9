using System.Net;
using System.Net.Sockets;

namespace Sockeye.Tests.TestSupport;

/// <summary>The destination a tunnel is opened to: a loopback listener on an OS-assigned port.</summary>
internal sealed class TargetServer : IDisposable
{
    private readonly Socket _listener;

    /// <param name="backlog">Connections the kernel completes before the test accepts them.</param>
    public TargetServer(int backlog = 512)
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(backlog);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>The connection the proxy opened on the client's behalf.</summary>
    public Task<Socket> AcceptAsync() => _listener.AcceptAsync().DefaultTimeout();

    public void Dispose() => _listener.Dispose();
}
