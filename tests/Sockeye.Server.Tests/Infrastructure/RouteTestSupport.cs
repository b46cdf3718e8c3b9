using System.Net;
using System.Net.Sockets;
using Sockeye.Client;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>What the tests of routes, upstreams and refused destinations share.</summary>
internal static class RouteTestSupport
{
    /// <summary>An allow rule for everything, routed through <paramref name="upstreams"/> (URIs), in order.</summary>
    public static AccessRule RouteThrough(params string[] upstreams)
    {
        var route = new RouteOptions();
        foreach (string upstream in upstreams)
        {
            route.Upstreams.Add(Socks5Proxy.FromUri(new Uri(upstream)));
        }

        return new AccessRule { Action = AccessAction.Allow, Route = route };
    }

    /// <summary>An allow rule for everything, routed through <paramref name="upstream"/> as a SOCKS5 proxy.</summary>
    public static AccessRule RouteThrough(TestServer upstream) => RouteThrough($"socks5://127.0.0.1:{upstream.EndPoint.Port}");

    /// <summary>A loopback port nobody listens on now: bound to 0 to let the OS choose, then released.</summary>
    public static int ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}

/// <summary>Resolves the names it is given (and localhost) to 127.0.0.1; every other name does not exist.</summary>
internal sealed class NameResolver(params string[] names) : IHostResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        names.Contains(host, StringComparer.OrdinalIgnoreCase) || host == "localhost"
            ? Task.FromResult<IPAddress[]>([IPAddress.Loopback])
            : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
}
