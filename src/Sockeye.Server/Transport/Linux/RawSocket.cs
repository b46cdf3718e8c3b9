using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sockeye.Server.Interop;
using static Sockeye.Server.Interop.Libc;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The Linux socket calls the event-loop path makes on raw descriptors, which the runtime's socket engine never sees.
/// Source-generated marshalling: NativeAOT and trimming safe. Addresses are written as the platform's own <c>sockaddr</c>
/// on the stack.
/// </summary>
internal static class RawSocket
{
    /// <summary>The largest <c>sockaddr</c> an IP socket has (<c>sockaddr_in6</c>).</summary>
    public const int MaxAddressLength = 28;

    /// <summary>A new non-blocking, close-on-exec TCP socket of <paramref name="family"/>, or -1 with <see cref="Libc.LastError"/>.</summary>
    public static int CreateTcp(AddressFamily family) =>
        socket(family == AddressFamily.InterNetworkV6 ? AfInet6 : AfInet, SockStream | SockNonblock | SockCloexec, 0);

    /// <summary>
    /// Accepts one connection as a non-blocking, close-on-exec descriptor, writing the peer's address into
    /// <paramref name="address"/> (at least <see cref="MaxAddressLength"/> bytes); -1 with <see cref="Libc.LastError"/> when none.
    /// </summary>
    public static unsafe int Accept(int listener, Span<byte> address, out int addressLength)
    {
        fixed (byte* pointer = address)
        {
            while (true)
            {
                int length = address.Length;
                int fd = accept4(listener, pointer, &length, SockNonblock | SockCloexec);
                if (fd < 0 && Libc.LastError == Errno.EINTR)
                {
                    continue;
                }

                addressLength = length;
                return fd;
            }
        }
    }

    /// <summary>
    /// connect(2) to <paramref name="address"/>:<paramref name="port"/>: 0, or -1 with <see cref="Libc.LastError"/>
    /// (<see cref="Errno.EINPROGRESS"/> for a non-blocking socket still connecting).
    /// </summary>
    public static unsafe int Connect(int fd, IPAddress address, int port)
    {
        byte* native = stackalloc byte[MaxAddressLength];
        int length = WriteAddress(new Span<byte>(native, MaxAddressLength), address, port);
        return connect(fd, native, length);
    }

    /// <summary>
    /// Makes the socket's traffic leave through the interface named <paramref name="device"/> (SO_BINDTODEVICE), whatever
    /// the routing table says. 0, or -1 with errno (ENODEV for no such interface, EPERM without CAP_NET_RAW).
    /// </summary>
    public static unsafe int BindToDevice(int fd, string device)
    {
        // IFNAMSIZ is 16 with the NUL; the name is ASCII (the settings check it).
        byte* name = stackalloc byte[16];
        int length = System.Text.Encoding.ASCII.GetBytes(device, new Span<byte>(name, 15));
        name[length] = 0;
        return setsockopt(fd, SolSocket, SoBindToDevice, name, length + 1);
    }

    /// <summary>
    /// Binds a socket about to connect to the source <paramref name="address"/>, leaving the port for connect(2) to pick
    /// (IP_BIND_ADDRESS_NO_PORT): a port taken at bind(2) time cannot be shared between destinations, so every outbound
    /// connection from one source address would need a port of its own, some 28 000 in all with the default
    /// ip_local_port_range, where picked at connect time a port is unique only per destination. 0, or -1 with
    /// <see cref="Libc.LastError"/>.
    /// </summary>
    public static unsafe int BindSourceForConnect(int fd, IPAddress address)
    {
        // Kernels before 4.2 do not know the option and refuse it; the bind then takes a port as before.
        int one = 1;
        _ = setsockopt(fd, SolIp, IpBindAddressNoPort, &one, sizeof(int));
        return Bind(fd, address, 0);
    }

    /// <summary>bind(2) to <paramref name="address"/>:<paramref name="port"/>: 0, or -1 with <see cref="Libc.LastError"/>.</summary>
    public static unsafe int Bind(int fd, IPAddress address, int port)
    {
        byte* native = stackalloc byte[MaxAddressLength];
        int length = WriteAddress(new Span<byte>(native, MaxAddressLength), address, port);
        return bind(fd, native, length);
    }

    /// <summary>
    /// Writes a native <c>sockaddr_in</c> or <c>sockaddr_in6</c> into <paramref name="native"/> (zeroed, at least
    /// <see cref="MaxAddressLength"/> bytes) and returns its length: on the stack, where an <see cref="IPEndPoint"/> and
    /// its <see cref="SocketAddress"/> would be three objects per connect.
    /// </summary>
    public static int WriteAddress(Span<byte> native, IPAddress address, int port)
    {
        native[..MaxAddressLength].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(native[2..], (ushort)port);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            MemoryMarshal.Write(native, (ushort)AfInet);
            _ = address.TryWriteBytes(native.Slice(4, 4), out _);
            return 16;
        }

        MemoryMarshal.Write(native, (ushort)AfInet6);
        _ = address.TryWriteBytes(native.Slice(8, 16), out _);
        MemoryMarshal.Write(native[24..], (uint)address.ScopeId);
        return MaxAddressLength;
    }

    /// <summary>The pending error of a socket (<c>SO_ERROR</c>), which is how a non-blocking connect reports its outcome.</summary>
    public static unsafe int PendingError(int fd)
    {
        int value = 0;
        int length = sizeof(int);
        return getsockopt(fd, SolSocket, SoError, &value, &length) == 0 ? value : Libc.LastError;
    }

    /// <summary>Turns Nagle's algorithm off: a relay must not delay small writes of interactive protocols.</summary>
    public static unsafe void SetNoDelay(int fd)
    {
        int one = 1;
        _ = setsockopt(fd, IpprotoTcp, TcpNodelay, &one, sizeof(int));
    }

    /// <summary>Makes the next close send RST instead of FIN (<c>SO_LINGER</c> on, zero seconds).</summary>
    public static unsafe void SetAbortiveClose(int fd)
    {
        var linger = new Linger { OnOff = 1, Seconds = 0 };
        _ = setsockopt(fd, SolSocket, SoLinger, &linger, sizeof(Linger));
    }

    /// <summary>A non-blocking receive: bytes read, 0 at EOF, or -1 with <see cref="Libc.LastError"/> (never EINTR: retried).</summary>
    public static unsafe long Receive(int fd, Span<byte> buffer)
    {
        fixed (byte* pointer = buffer)
        {
            nint received;
            do
            {
                received = recv(fd, pointer, (nuint)buffer.Length, MsgDontwait);
            }
            while (received < 0 && Libc.LastError == Errno.EINTR);

            return received;
        }
    }

    /// <summary>A non-blocking one-byte peek: 1 when data is waiting, 0 at EOF, -1 with <see cref="Libc.LastError"/> otherwise (never EINTR).</summary>
    public static unsafe long Peek(int fd)
    {
        byte one;
        nint peeked;
        do
        {
            peeked = recv(fd, &one, 1, MsgDontwait | MsgPeek);
        }
        while (peeked < 0 && Libc.LastError == Errno.EINTR);

        return peeked;
    }

    /// <summary>A non-blocking send that never raises SIGPIPE: bytes taken, or -1 with <see cref="Libc.LastError"/> (never EINTR: retried).</summary>
    public static unsafe long Send(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* pointer = data)
        {
            nint sent;
            do
            {
                sent = send(fd, pointer, (nuint)data.Length, MsgDontwait | MsgNosignal);
            }
            while (sent < 0 && Libc.LastError == Errno.EINTR);

            return sent;
        }
    }

    /// <summary>Bytes received and not read yet; 0 if the call fails.</summary>
    public static unsafe int Available(int fd)
    {
        int available;
        return ioctl(fd, Fionread, &available) == 0 ? available : 0;
    }

    /// <summary>Bytes sent and not yet acknowledged by the peer (SIOCOUTQ); 0 if the call fails.</summary>
    public static unsafe int Unacknowledged(int fd)
    {
        int unacknowledged;
        return ioctl(fd, Siocoutq, &unacknowledged) == 0 ? unacknowledged : 0;
    }

    /// <summary>listen(2): 0, or -1 with <see cref="Libc.LastError"/>.</summary>
    public static int Listen(int fd, int backlog) => listen(fd, backlog);

    /// <summary>Sends FIN (shuts down the sending half), ignoring errors: the peer may already be gone.</summary>
    public static void ShutdownSend(int fd) => _ = shutdown(fd, ShutWr);

    /// <summary>close(2), ignoring errors: the descriptor is gone either way (so never retried, not even after EINTR).</summary>
    public static void Close(int fd) => _ = close(fd);

    /// <summary>The address a socket is bound to, or <see langword="null"/> if the call fails.</summary>
    public static unsafe IPEndPoint? LocalEndPoint(int fd)
    {
        byte* address = stackalloc byte[MaxAddressLength];
        int length = MaxAddressLength;
        return getsockname(fd, address, &length) == 0 ? ToEndPoint(new ReadOnlySpan<byte>(address, length)) : null;
    }

    /// <summary>Reads a native <c>sockaddr_in</c> or <c>sockaddr_in6</c>: the endpoint and its address, nothing else allocated.</summary>
    public static IPEndPoint? ToEndPoint(ReadOnlySpan<byte> address)
    {
        if (address.Length < 2)
        {
            return null;
        }

        int port = address.Length >= 4 ? BinaryPrimitives.ReadUInt16BigEndian(address[2..]) : 0;
        return MemoryMarshal.Read<ushort>(address) switch
        {
            AfInet when address.Length >= 8 => new IPEndPoint(new IPAddress(address.Slice(4, 4)), port),
            AfInet6 when address.Length >= MaxAddressLength =>
                new IPEndPoint(new IPAddress(address.Slice(8, 16), MemoryMarshal.Read<uint>(address[24..])), port),
            _ => null,
        };
    }
}
