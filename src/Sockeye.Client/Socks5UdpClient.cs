using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Gssapi;
using Sockeye.Client.Handshake;
using Sockeye.Protocol;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;

namespace Sockeye.Client;

/// <summary>
/// A UDP association (RFC 1928 §7): send datagrams to any destination through the proxy's relay, and receive theirs
/// with their source. It holds the control connection open, because the association lasts exactly as long as that
/// connection; disposing the client closes both.
/// </summary>
/// <remarks>
/// One send and one receive may run at the same time, as on a <see cref="Socket"/>. Datagrams are whole or lost, as
/// UDP is: nothing here retries. Fragments (FRAG other than X'00') are dropped, which RFC 1928 §7 allows a client that
/// does not reassemble.
/// </remarks>
public sealed class Socks5UdpClient : IAsyncDisposable, IDisposable
{
    // The UDP length field is 16 bits: no datagram, header included, is longer.
    private const int MaxDatagramLength = ushort.MaxValue;

    private const int Open = 0;
    private const int ClosedByProxy = 1;
    private const int Disposed = 2;

    private readonly Socket _control; // owns: closed in Dispose
    private readonly Stream _controlStream; // owns: the stream over _control (a protected one holds the GSSAPI contexts); disposed in Dispose
    private readonly GssapiMessageProtection? _protection; // the last hop's context, owned by _controlStream: datagrams are wrapped with it
    private readonly Socket _udp;     // owns: closed in Dispose, or when the proxy ends the association
    private readonly HopContext _hop;
    private readonly Task _controlWatch; // owns: ends once _control is closed; awaited in DisposeAsync
    private int _state;

    internal Socks5UdpClient(Socket control, Stream controlStream, GssapiMessageProtection? protection, Socket udp, IPEndPoint relay, HopContext hop)
    {
        _control = control;
        _controlStream = controlStream;
        _protection = protection;
        _udp = udp;
        _hop = hop;
        RelayEndPoint = relay;
        GssapiProtectionLevel = protection?.Level ?? GssapiProtectionLevel.None;

        // Connected, the socket sends to the relay without an endpoint per datagram, and the kernel drops datagrams
        // from anyone else: only the relay may speak for the association.
        _udp.Connect(relay);
        LocalEndPoint = (IPEndPoint)_udp.LocalEndPoint!;
        _controlWatch = WatchControlConnectionAsync();
    }

    /// <summary>The proxy's relay, where datagrams go: BND.ADDR:BND.PORT of the reply.</summary>
    public IPEndPoint RelayEndPoint { get; }

    /// <summary>The local UDP socket's address, which the request announced to the proxy.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// The GSSAPI protection level the last proxy granted (RFC 1961 §4); <see cref="GssapiProtectionLevel.None"/> without
    /// GSSAPI. Above none every datagram, both ways, is one RFC 1961 message [01 03 LEN gss_wrap(SOCKS UDP header and
    /// data)], and a received one that does not unwrap is dropped, as a malformed one is.
    /// </summary>
    public GssapiProtectionLevel GssapiProtectionLevel { get; }

    /// <summary>Sends <paramref name="datagram"/> to <paramref name="host"/>:<paramref name="port"/> through the relay.</summary>
    /// <param name="datagram">The payload; the SOCKS5 header is put in front of it.</param>
    /// <param name="host">An IP literal, or a name the proxy resolves.</param>
    /// <param name="port">The destination port.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>The payload bytes sent.</returns>
    /// <exception cref="SocksException">The proxy has ended the association, or the relay cannot be reached.</exception>
    /// <exception cref="IOException">With GSSAPI protection: the datagram could not be wrapped, or wraps to more than an RFC 1961 message carries.</exception>
    /// <exception cref="ArgumentException"><paramref name="host"/> is empty or too long.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> datagram, string host, int port, CancellationToken cancellationToken = default) =>
        SendToAsync(datagram, Destinations.FromHost(host, nameof(host)), port, cancellationToken);

    /// <summary>Sends <paramref name="datagram"/> to <paramref name="destination"/> through the relay.</summary>
    /// <param name="datagram">The payload; the SOCKS5 header is put in front of it.</param>
    /// <param name="destination">The destination's address and port.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>The payload bytes sent.</returns>
    /// <exception cref="SocksException">The proxy has ended the association, or the relay cannot be reached.</exception>
    /// <exception cref="IOException">With GSSAPI protection: the datagram could not be wrapped, or wraps to more than an RFC 1961 message carries.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> datagram, IPEndPoint destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return SendToAsync(datagram, Destinations.FromIPAddress(destination.Address), destination.Port, cancellationToken);
    }

    /// <summary>Sends <paramref name="datagram"/> to <paramref name="destination"/>:<paramref name="port"/> through the relay.</summary>
    /// <param name="datagram">The payload; the SOCKS5 header is put in front of it.</param>
    /// <param name="destination">The destination as it goes in the header.</param>
    /// <param name="port">The destination port.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>The payload bytes sent.</returns>
    /// <exception cref="SocksException">The proxy has ended the association, or the relay cannot be reached.</exception>
    /// <exception cref="IOException">With GSSAPI protection: the datagram could not be wrapped, or wraps to more than an RFC 1961 message carries.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async ValueTask<int> SendToAsync(ReadOnlyMemory<byte> datagram, Socks5Address destination, int port, CancellationToken cancellationToken = default)
    {
        ushort wirePort = Destinations.ToPort(port, nameof(port));
        int length = Socks5UdpHeader.GetLength(destination) + datagram.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        PooledBufferWriter? wrapped = null;
        try
        {
            int headerLength = Socks5UdpHeader.Write(buffer, 0, destination, wirePort);
            datagram.Span.CopyTo(buffer.AsSpan(headerLength));
            ReadOnlyMemory<byte> toSend = buffer.AsMemory(0, length);
            if (_protection is not null)
            {
                wrapped = new PooledBufferWriter(GssapiMessage.HeaderLength + length + 256);
                toSend = Encapsulate(_protection, buffer.AsSpan(0, length), wrapped);
            }

            await _udp.SendAsync(toSend, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return datagram.Length;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException && TranslateFailure(e) is { } failure)
        {
            throw failure;
        }
        finally
        {
            wrapped?.Dispose();
            ArrayPool<byte>.Shared.Return(buffer, clearArray: _protection is not null);
        }
    }

    /// <summary>
    /// Receives the next datagram from the relay: its payload into <paramref name="buffer"/> (cut to fit, as
    /// <see cref="Socket.ReceiveAsync(Memory{byte}, SocketFlags, CancellationToken)"/> does), and its source.
    /// Datagrams with a malformed header, and fragments, are skipped.
    /// </summary>
    /// <param name="buffer">Where the payload goes.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The payload length and the source.</returns>
    /// <exception cref="SocksException">The proxy has ended the association (closed its control connection), or the relay is unreachable.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async ValueTask<Socks5UdpReceiveResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Room for the longest header in front of the caller's payload, within the largest datagram there can be. A
        // wrapped datagram's plaintext is shorter than the datagram by the wrapping, which is not known beforehand: take
        // the largest.
        int length = _protection is null ? Math.Min(buffer.Length + Socks5Limits.MaxUdpHeaderLength, MaxDatagramLength) : MaxDatagramLength;
        byte[] datagram = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            while (true)
            {
                int received = await _udp.ReceiveAsync(datagram.AsMemory(0, length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                int start = 0;
                if (_protection is null || TryDecapsulate(_protection, datagram, received, out start, out received))
                {
                    if (TryUnwrap(datagram.AsSpan(start, received), buffer.Span, out Socks5UdpReceiveResult result))
                    {
                        return result;
                    }
                }

                // Ignored: a malformed header, a fragment, or a GSSAPI message that does not unwrap. The next datagram
                // may be fine; the caller's token bounds the wait.
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException && TranslateFailure(e) is { } failure)
        {
            throw failure;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram, clearArray: _protection is not null);
        }
    }

    /// <summary>Closes the control connection, which ends the association at the proxy (RFC 1928 §7), and the UDP socket.</summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        await _controlWatch.ConfigureAwait(false);
    }

    /// <summary>Closes the control connection, which ends the association at the proxy (RFC 1928 §7), and the UDP socket.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _state, Disposed) == Disposed)
        {
            return;
        }

        _control.Dispose();
        _controlStream.Dispose();
        _udp.Dispose();
    }

    /// <summary>RFC 1961 §5: the whole SOCKS UDP datagram, wrapped, as one message [01 03 LEN token].</summary>
    /// <exception cref="IOException">The datagram could not be wrapped, or wraps to more than a message's LEN can say.</exception>
    private static ReadOnlyMemory<byte> Encapsulate(GssapiMessageProtection protection, ReadOnlySpan<byte> plaintext, PooledBufferWriter wrapped)
    {
        if (!protection.TryWrapMessage(plaintext, wrapped, out string? problem))
        {
            throw new IOException($"The datagram could not be sent as a GSSAPI message: {problem}.");
        }

        return wrapped.WrittenMemory;
    }

    /// <summary>
    /// Unwraps a datagram that is exactly one RFC 1961 message [01 03 LEN token], in place: the SOCKS UDP datagram is
    /// then <c>datagram[start..(start + length)]</c>. <see langword="false"/> for anything else, or a token that does
    /// not unwrap (a forgery, a replay, another context's), or one not encrypted at confidentiality.
    /// </summary>
    private static bool TryDecapsulate(GssapiMessageProtection protection, byte[] datagram, int received, out int start, out int length)
    {
        start = 0;
        length = 0;
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(datagram, 0, received));
        if (!GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out GssapiMessage message, out _)
            || message.Type != GssapiMessageType.Encapsulation
            || reader.Remaining != 0)
        {
            return false;
        }

        Span<byte> token = datagram.AsSpan(GssapiMessage.HeaderLength, (int)message.Token.Length);
        if (!protection.TryUnwrapInPlace(token, out int offset, out length, out _))
        {
            return false;
        }

        start = GssapiMessage.HeaderLength + offset;
        return true;
    }

    private static bool TryUnwrap(ReadOnlySpan<byte> datagram, Span<byte> destination, out Socks5UdpReceiveResult result)
    {
        if (!Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader header, out int headerLength, out _) || header.Fragment != 0)
        {
            result = default;
            return false;
        }

        ReadOnlySpan<byte> payload = datagram[headerLength..];
        int copied = Math.Min(payload.Length, destination.Length);
        payload[..copied].CopyTo(destination);
        result = new Socks5UdpReceiveResult(copied, header.GetDestination(), header.Port);
        return true;
    }

    /// <summary>
    /// A socket failure on the association means it is over: the proxy ended it (closed the control connection, which
    /// closed our UDP socket) or its relay is gone (ICMP port unreachable, seen as a refused connected socket). An
    /// operation cut short by our own disposal reports that, whatever the socket said.
    /// </summary>
    private Exception? TranslateFailure(Exception exception) => Volatile.Read(ref _state) switch
    {
        ClosedByProxy => SocksErrors.AssociationClosed(_hop),
        Disposed => exception as ObjectDisposedException ?? new ObjectDisposedException(nameof(Socks5UdpClient)),
        _ when exception is SocketException socketError => SocksErrors.RelayFailed(_hop, socketError),
        _ => null,
    };

    /// <summary>
    /// Reads the control connection until the proxy closes it. RFC 1928 gives the proxy nothing to say there, so bytes
    /// are discarded; the end of the connection is the end of the association, and the UDP socket is closed so that
    /// waiting receives fail at once instead of hanging.
    /// </summary>
    private async Task WatchControlConnectionAsync()
    {
        byte[] discard = new byte[16];
        try
        {
            while (await _control.ReceiveAsync(discard, SocketFlags.None).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Ignored: a reset ends the association just as a close does, and a disposal is our own doing.
        }

        if (Interlocked.CompareExchange(ref _state, ClosedByProxy, Open) == Open)
        {
            _udp.Dispose();
        }
    }
}
