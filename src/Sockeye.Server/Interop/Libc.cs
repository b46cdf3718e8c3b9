using System.Runtime.InteropServices;

namespace Sockeye.Server.Interop;

/// <summary>
/// Every libc function the server calls, declared once, with the flags they take. Source-generated marshalling:
/// NativeAOT and trimming safe. <c>ssize_t</c> is <see cref="nint"/>, <c>size_t</c> <see cref="nuint"/>; every call sets
/// the last error, read with <see cref="LastError"/> (values in <see cref="Errno"/>). Linux only: callers check.
/// </summary>
internal static unsafe partial class Libc
{
    // socket(2), accept4(2)
    public const int AfInet = 2;
    public const int AfInet6 = 10;
    public const int SockStream = 1;
    public const int SockNonblock = 0x800;
    public const int SockCloexec = 0x80000;

    // getsockopt(2), setsockopt(2)
    public const int SolSocket = 1;
    public const int SoError = 4;
    public const int SoLinger = 13;
    public const int SoBindToDevice = 25;
    public const int IpprotoTcp = 6;
    public const int TcpNodelay = 1;
    public const int SolIp = 0;
    public const int IpBindAddressNoPort = 24;
    public const int SockDgram = 2;
    public const int SolUdp = 17;
    public const int UdpSegment = 103;

    // recv(2), send(2), recvfrom(2), sendto(2), recvmmsg(2), sendmmsg(2), shutdown(2)
    public const int MsgPeek = 0x2;
    public const int MsgDontwait = 0x40;
    public const int MsgNosignal = 0x4000;
    public const int ShutWr = 1;

    // pipe2(2), fcntl(2), splice(2), eventfd(2), epoll_create1(2): O_CLOEXEC, EFD_CLOEXEC and EPOLL_CLOEXEC are one value.
    public const int OCloexec = 0x80000;
    public const int ONonblock = 0x800;
    public const int FSetPipeSize = 1031;
    public const uint SpliceFMove = 0x01;
    public const uint SpliceFNonblock = 0x02;

    // ioctl(2) on a socket: the bytes waiting to be read (FIONREAD, the same number on every Linux architecture .NET runs on).
    public const nuint Fionread = 0x541B;

    // ioctl(2) on a TCP socket: the bytes sent and not yet acknowledged by the peer (SIOCOUTQ, alias TIOCOUTQ; the same
    // asm-generic number as FIONREAD's).
    public const nuint Siocoutq = 0x5411;

    // epoll_ctl(2)
    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const int EpollCtlMod = 3;

    // getrlimit(2), setrlimit(2)
    public const int RlimitNofile = 7;

    /// <summary>The errno of the last call made through this class on this thread.</summary>
    public static int LastError => Marshal.GetLastPInvokeError();

    /// <summary><c>struct linger</c>: whether closing lingers, and for how many seconds (0: close sends RST at once).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Linger
    {
        public int OnOff;
        public int Seconds;
    }

    /// <summary><c>struct iovec</c>: one piece of a message's data.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public struct IoVec
    {
        [FieldOffset(0)]
        public byte* Base;

        [FieldOffset(8)]
        public nuint Length;
    }

    /// <summary>
    /// <c>struct msghdr</c> on 64-bit Linux (x86-64 and arm64 alike): 56 bytes, with 4 bytes of padding after
    /// <see cref="NameLength"/> and after <see cref="Flags"/>. musl declares the two lengths as an <c>int</c> and padding;
    /// little-endian, its bytes are the same for values that fit.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 56)]
    public struct MsgHdr
    {
        [FieldOffset(0)]
        public byte* Name;

        [FieldOffset(8)]
        public int NameLength;

        [FieldOffset(16)]
        public IoVec* Iov;

        [FieldOffset(24)]
        public nuint IovLength;

        [FieldOffset(32)]
        public void* Control;

        [FieldOffset(40)]
        public nuint ControlLength;

        [FieldOffset(48)]
        public int Flags;
    }

    /// <summary>
    /// <c>struct mmsghdr</c> of recvmmsg(2) and sendmmsg(2): a <see cref="MsgHdr"/> and the bytes that message moved,
    /// 64 bytes with the padding that aligns the next one.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    public struct MMsgHdr
    {
        [FieldOffset(0)]
        public MsgHdr Header;

        [FieldOffset(56)]
        public uint Length;
    }

    /// <summary><c>struct rlimit</c> (64-bit <c>rlim_t</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    // Not Environment.SetEnvironmentVariable: on Unix that changes .NET's copy only, and MIT Kerberos reads the C library's.
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, byte* address, int* addressLength, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int connect(int fd, byte* address, int addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int fd, byte* address, int addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, int* value);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, byte* address, int* addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvfrom(int fd, byte* buffer, nuint length, int flags, byte* address, int* addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendto(int fd, byte* buffer, nuint length, int flags, byte* address, int addressLength);

    /// <summary>Up to <paramref name="count"/> datagrams in one call; <paramref name="timeout"/> is null with <see cref="MsgDontwait"/>.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int recvmmsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    /// <summary>Sends the first messages of <paramref name="messages"/>; fewer than <paramref name="count"/> when one is refused (its error is lost unless it is the first).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int sendmmsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint splice(int fdIn, long* offsetIn, int fdOut, long* offsetOut, nuint length, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epoll, int operation, int fd, byte* epollEvent);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epoll, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initialValue, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setrlimit(int resource, RLimit* limit);
}
