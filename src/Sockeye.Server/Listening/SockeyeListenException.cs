using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Listening;

/// <summary>A listener could not be opened, typically because its port is already in use.</summary>
public sealed class SockeyeListenException : IOException
{
    /// <summary>Creates the exception for <paramref name="endPoint"/>.</summary>
    public SockeyeListenException(EndPoint endPoint, SocketException inner)
        : base(Describe(endPoint, inner), inner)
    {
        EndPoint = endPoint;
        SocketError = inner?.SocketErrorCode ?? SocketError.SocketError;
    }

    /// <summary>The endpoint that could not be listened on.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>The socket error behind it.</summary>
    public SocketError SocketError { get; }

    private static string Describe(EndPoint endPoint, SocketException inner) => inner?.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => $"cannot listen on {endPoint}: the port is already in use by another program",
        SocketError.AddressNotAvailable => $"cannot listen on {endPoint}: that address does not belong to this machine",
        SocketError.AccessDenied => $"cannot listen on {endPoint}: permission denied (ports below 1024 need privileges)",
        _ => $"cannot listen on {endPoint}: {inner?.Message}",
    };
}
