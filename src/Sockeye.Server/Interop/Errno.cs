using System.Net.Sockets;

namespace Sockeye.Server.Interop;

/// <summary>The Linux errno values the server acts on, and what each means as a <see cref="SocketError"/>.</summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENOSYS = 38;
    public const int EMSGSIZE = 90;
    public const int EOPNOTSUPP = 95;
    public const int EAFNOSUPPORT = 97;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ENETRESET = 102;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EHOSTDOWN = 112;
    public const int EHOSTUNREACH = 113;
    public const int EINPROGRESS = 115;

    /// <summary>What a Linux errno means as a <see cref="SocketError"/>, so that reply codes and logs read the same on both paths.</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        EPERM or EACCES => SocketError.AccessDenied,
        EINTR => SocketError.Interrupted,
        EAGAIN => SocketError.WouldBlock,
        EINVAL => SocketError.InvalidArgument,
        ENFILE or EMFILE => SocketError.TooManyOpenSockets,
        EPIPE => SocketError.Shutdown,
        EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        EADDRINUSE => SocketError.AddressAlreadyInUse,
        EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        ENETDOWN => SocketError.NetworkDown,
        ENETUNREACH => SocketError.NetworkUnreachable,
        ENETRESET => SocketError.NetworkReset,
        ECONNABORTED => SocketError.ConnectionAborted,
        ECONNRESET => SocketError.ConnectionReset,
        ENOBUFS => SocketError.NoBufferSpaceAvailable,
        ENOTCONN => SocketError.NotConnected,
        ETIMEDOUT => SocketError.TimedOut,
        ECONNREFUSED => SocketError.ConnectionRefused,
        EHOSTDOWN => SocketError.HostDown,
        EHOSTUNREACH => SocketError.HostUnreachable,
        EINPROGRESS => SocketError.InProgress,
        _ => SocketError.SocketError,
    };
}
