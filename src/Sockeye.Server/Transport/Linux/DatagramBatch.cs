using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Sockeye.Server.Interop;
using static Sockeye.Server.Interop.Libc;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// Up to <see cref="Capacity"/> datagrams moved by one recvmmsg(2) or sendmmsg(2), laid out in an event loop's scratch
/// buffer: the message headers, their iovecs, their addresses and a number for each (<see cref="Tag"/>), the headers of
/// segmented sends with their control messages, then one slot of <see cref="SlotBytes"/> per datagram. Nothing is
/// allocated: the loop's buffer is allocated once, pinned, so the pointers written into it stay valid from one call to
/// the next.
/// </summary>
/// <remarks>
/// The datagrams received are sent from where they were read. Message <c>j</c> of a send is built from the datagram of
/// slot <c>i ≥ j</c>, after everything the receive left for <c>j</c> (its length, its source) has been read, so one
/// set of headers serves both calls. A segmented send (<see cref="SendSegmented"/>) writes headers of its own, each
/// over a run of the outgoing messages' iovecs, and leaves the outgoing messages as they were, so that a run the kernel
/// refuses can be sent again one datagram per message.
/// </remarks>
[SupportedOSPlatform("linux")]
internal readonly unsafe ref struct DatagramBatch
{
    /// <summary>The most datagrams one call moves.</summary>
    public const int Capacity = 32;

    // sockaddr_in6 is 28 bytes, the largest address a UDP socket of either family reads or sends; 32 keeps alignment.
    private const int AddressBytes = 32;
    private const int TagBytes = 8;

    // CMSG_SPACE(sizeof(uint16_t)): a 16-byte cmsghdr and the segment size, aligned to 8.
    private const int SegmentControlBytes = 24;
    private const int RunLengthBytes = 8;
    private const int HeaderBytesPerMessage = 64 + 16 + AddressBytes + TagBytes + 64 + SegmentControlBytes + RunLengthBytes;

    // A segmented message is one UDP datagram to the stack until it is cut: its payload stays under IPv4's 65 507 bytes.
    private const int MaxSegmentedBytes = 65_000;

    private readonly MMsgHdr* _messages;
    private readonly IoVec* _vectors;
    private readonly byte* _addresses;
    private readonly int* _tags;
    private readonly MMsgHdr* _segmented;
    private readonly byte* _segmentControls;
    private readonly int* _runLengths;
    private readonly byte* _slots;

    /// <summary>
    /// The batch over <paramref name="scratch"/>, which must be pinned for as long as the loop lives (an
    /// <see cref="EpollLoop"/>'s is) and at least <see cref="ScratchBytes"/> of a one-byte slot long.
    /// </summary>
    public DatagramBatch(Span<byte> scratch)
    {
        Debug.Assert(scratch.Length >= ScratchBytes(1), "The loop's scratch holds no batch.");
        SlotBytes = (scratch.Length / Capacity) - HeaderBytesPerMessage;
        byte* start = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(scratch));
        Debug.Assert((nuint)start % 8 == 0, "Message headers must be aligned.");
        _messages = (MMsgHdr*)start;
        _vectors = (IoVec*)(start + (Capacity * sizeof(MMsgHdr)));
        _addresses = (byte*)(_vectors + Capacity);
        _tags = (int*)(_addresses + (Capacity * AddressBytes));
        _segmented = (MMsgHdr*)((byte*)_tags + (Capacity * TagBytes));
        _segmentControls = (byte*)(_segmented + Capacity);
        _runLengths = (int*)(_segmentControls + (Capacity * SegmentControlBytes));
        _slots = start + (Capacity * HeaderBytesPerMessage);
    }

    /// <summary>
    /// Whether this kernel cuts a datagram into segments for the sender (UDP_SEGMENT, Linux 4.18 and later). A kernel
    /// without it would ignore the control message and send a run as one datagram, so <see cref="SendSegmented"/> is
    /// used only where this says yes.
    /// </summary>
    public static bool SegmentationSupported { get; } = ProbeSegmentation();

    /// <summary>The room each datagram has.</summary>
    public int SlotBytes { get; }

    /// <summary>The scratch an event loop needs for batches of datagrams up to <paramref name="slotBytes"/> each.</summary>
    public static int ScratchBytes(int slotBytes) => Capacity * (HeaderBytesPerMessage + slotBytes);

    /// <summary>The slot of datagram <paramref name="index"/>: where it was received, and where it is sent from.</summary>
    public Span<byte> Slot(int index) => new(_slots + ((long)index * SlotBytes), SlotBytes);

    /// <summary>
    /// Receives up to <paramref name="count"/> datagrams, each at <paramref name="dataOffset"/> in its slot and
    /// truncated to <paramref name="dataBytes"/>, as recvfrom(2) truncates. Returns how many came, or -1 with
    /// <paramref name="error"/> set: <see cref="SocketError.WouldBlock"/> when nothing is queued,
    /// <see cref="SocketError.OperationAborted"/> once the socket is closed, <see cref="SocketError.SocketError"/> for an
    /// error queued by ICMP or any other failure (as <see cref="RawDatagram.ReceiveFrom"/>).
    /// </summary>
    public int Receive(Socket socket, int count, int dataOffset, int dataBytes, out SocketError error)
    {
        Debug.Assert(count is > 0 and <= Capacity && dataOffset + dataBytes <= SlotBytes);
        for (int i = 0; i < count; i++)
        {
            _vectors[i] = new IoVec { Base = _slots + ((long)i * SlotBytes) + dataOffset, Length = (nuint)dataBytes };
            _messages[i] = new MMsgHdr { Header = new MsgHdr { Name = Address(i), NameLength = AddressBytes, Iov = _vectors + i, IovLength = 1 } };
        }

        SafeHandle? handle = SocketHandles.TryAddRef(socket);
        if (handle is null)
        {
            error = SocketError.OperationAborted;
            return -1;
        }

        try
        {
            while (true)
            {
                // Nothing waits: a queue emptied partway ends the call with what came. An error met after the first
                // datagram is kept by the kernel for the next call.
                int received = recvmmsg((int)handle.DangerousGetHandle(), _messages, (uint)count, MsgDontwait, null);
                if (received >= 0)
                {
                    error = SocketError.Success;
                    return received;
                }

                int errno = Libc.LastError;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                error = errno == Errno.EAGAIN ? SocketError.WouldBlock : SocketError.SocketError;
                return -1;
            }
        }
        finally
        {
            handle.DangerousRelease();
        }
    }

    /// <summary>The length of received datagram <paramref name="index"/>: no more than the room it was given.</summary>
    public int ReceivedLength(int index) => (int)_messages[index].Length;

    /// <summary>Copies the sender of received datagram <paramref name="index"/> into <paramref name="source"/>.</summary>
    public void CopySource(int index, SocketAddress source)
    {
        Span<byte> into = source.Buffer.Span;
        int size = Math.Min(_messages[index].Header.NameLength, into.Length);
        new ReadOnlySpan<byte>(Address(index), size).CopyTo(into);
        source.Size = size;
    }

    /// <summary>
    /// Makes message <paramref name="message"/> of the next <see cref="Send"/> the <paramref name="length"/> bytes at
    /// <paramref name="offset"/> in slot <paramref name="slot"/> (not before it), to <paramref name="destination"/>,
    /// with <paramref name="tag"/> kept for the caller's accounting.
    /// </summary>
    public void SetOutgoing(int message, int slot, int offset, int length, SocketAddress destination, int tag)
    {
        Debug.Assert(message <= slot && offset + length <= SlotBytes);
        ReadOnlySpan<byte> address = destination.Buffer.Span[..destination.Size];
        Debug.Assert(address.Length <= AddressBytes);
        address.CopyTo(new Span<byte>(Address(message), AddressBytes));
        _vectors[message] = new IoVec { Base = _slots + ((long)slot * SlotBytes) + offset, Length = (nuint)length };
        _messages[message] = new MMsgHdr { Header = new MsgHdr { Name = Address(message), NameLength = address.Length, Iov = _vectors + message, IovLength = 1 } };
        _tags[message] = tag;
    }

    /// <summary>The number given with outgoing message <paramref name="message"/>.</summary>
    public int Tag(int message) => _tags[message];

    /// <summary>
    /// Sends outgoing messages from <paramref name="first"/> on, up to <paramref name="count"/> of them, without waiting.
    /// Returns how many the kernel took, in order; 0 when it refused the first (a full buffer, no route, a closed socket),
    /// with the refusal's <paramref name="errno"/>: <see cref="Errno.EAGAIN"/> for a full send buffer, 0 for a closed
    /// socket. After fewer than <paramref name="count"/>, the next message was refused or not tried: sending on from it
    /// tells.
    /// </summary>
    public int Send(Socket socket, int first, int count, out int errno)
    {
        Debug.Assert(first >= 0 && count > 0 && first + count <= Capacity);
        int sent = SendMessages(socket, _messages + first, count, out errno);
        return Math.Max(sent, 0);
    }

    /// <summary>
    /// Sends outgoing messages from <paramref name="first"/> on, up to <paramref name="count"/> of them, as
    /// <see cref="Send"/> does, except that a run of two or more to one destination, of one length but for the last
    /// (which may be shorter), leaves as one message that the kernel cuts back into those datagrams (UDP generic
    /// segmentation offload): one pass through the stack for the run instead of one per datagram. Receivers get the
    /// same datagrams as from <see cref="Send"/>. Returns how many outgoing messages the kernel took, in order, as
    /// <see cref="Send"/>, with the refusal's <paramref name="errno"/> when that is 0. A run the kernel refuses is sent
    /// again one datagram per message, unless the refusal was a full send buffer (EAGAIN), which would refuse each of
    /// them as well; when the refusal is one that segmenting causes (a length over the path's MTU, a device or a socket
    /// that cannot segment), <paramref name="segmentationRefused"/> is set, and the caller sends with <see cref="Send"/>
    /// from then on.
    /// </summary>
    public int SendSegmented(Socket socket, int first, int count, out bool segmentationRefused, out int errno)
    {
        Debug.Assert(first >= 0 && count > 0 && first + count <= Capacity && SegmentationSupported);
        segmentationRefused = false;
        int messages = GroupRuns(first, first + count);
        int sent = SendMessages(socket, _segmented, messages, out errno);
        if (sent > 0)
        {
            int taken = 0;
            for (int i = 0; i < sent; i++)
            {
                taken += _runLengths[i];
            }

            return taken;
        }

        if (errno is 0 or Errno.EAGAIN || _runLengths[0] == 1)
        {
            // The socket is closed or its buffer full, or the first message was a single datagram: nothing to send again.
            return 0;
        }

        segmentationRefused = errno is Errno.EINVAL or Errno.EIO or Errno.EMSGSIZE or Errno.EOPNOTSUPP;
        return Send(socket, first, _runLengths[0], out errno);
    }

    /// <summary>
    /// One sendmmsg(2) of <paramref name="count"/> headers at <paramref name="headers"/> on <paramref name="socket"/>,
    /// without waiting, tried again when a signal interrupts it. Returns how many the kernel took, or -1 with its
    /// <paramref name="errno"/>; -1 with errno 0 when the socket is already closed.
    /// </summary>
    private static int SendMessages(Socket socket, MMsgHdr* headers, int count, out int errno)
    {
        SafeHandle? handle = SocketHandles.TryAddRef(socket);
        if (handle is null)
        {
            errno = 0;
            return -1;
        }

        try
        {
            int sent;
            do
            {
                sent = sendmmsg((int)handle.DangerousGetHandle(), headers, (uint)count, MsgDontwait | MsgNosignal);
                errno = sent < 0 ? Libc.LastError : 0;
            }
            while (sent < 0 && errno == Errno.EINTR);
            return sent;
        }
        finally
        {
            handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Writes the segmented messages for outgoing messages <paramref name="first"/> to <paramref name="end"/>
    /// (excluded): each over a run of their iovecs, with its run's length in <see cref="_runLengths"/>. Returns how many.
    /// </summary>
    private int GroupRuns(int first, int end)
    {
        int messages = 0;
        for (int start = first; start < end; messages++)
        {
            MsgHdr header = _messages[start].Header;
            nuint segment = _vectors[start].Length;
            nuint bytes = segment;
            int run = 1;
            while (segment > 0 && start + run < end)
            {
                nuint next = _vectors[start + run].Length;
                if (next == 0 || next > segment || bytes + next > MaxSegmentedBytes || !SameDestination(start, start + run))
                {
                    break;
                }

                bytes += next;
                run++;
                if (next < segment)
                {
                    // Only the last segment may be shorter.
                    break;
                }
            }

            header.IovLength = (nuint)run;
            if (run > 1)
            {
                byte* control = _segmentControls + (messages * SegmentControlBytes);
                *(nuint*)control = 16 + sizeof(ushort); // cmsg_len: CMSG_LEN(sizeof(uint16_t))
                *(int*)(control + 8) = SolUdp;
                *(int*)(control + 12) = UdpSegment;
                *(ushort*)(control + 16) = (ushort)segment;
                header.Control = control;
                header.ControlLength = SegmentControlBytes;
            }

            _segmented[messages] = new MMsgHdr { Header = header };
            _runLengths[messages] = run;
            start += run;
        }

        return messages;
    }

    private bool SameDestination(int one, int other)
    {
        int length = _messages[one].Header.NameLength;
        return _messages[other].Header.NameLength == length
            && new ReadOnlySpan<byte>(Address(one), length).SequenceEqual(new ReadOnlySpan<byte>(Address(other), length));
    }

    private byte* Address(int index) => _addresses + (index * AddressBytes);

    private static bool ProbeSegmentation()
    {
        int probe = Libc.socket(AfInet, SockDgram | SockCloexec, 0);
        if (probe < 0)
        {
            return false;
        }

        try
        {
            int segment = 0;
            int length = sizeof(int);
            return getsockopt(probe, SolUdp, UdpSegment, &segment, &length) == 0;
        }
        finally
        {
            _ = close(probe);
        }
    }
}
