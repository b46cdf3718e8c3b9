using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// A SOCKS5 proxy side scripted by the test, speaking RFC 1961 by hand with a real Kerberos acceptor in this process
/// (the realm's own keytab): it selects GSSAPI, completes the context (sending the AP-REP when the client asks for
/// mutual authentication), grants whatever level the test says, and then reads and writes wrapped messages
/// [01 03 LEN token] framed here byte by byte, not by the client's code under test. It lets the client's protected
/// paths run before the real server grants protection.
/// </summary>
internal sealed class FakeGssapiProxy : IDisposable
{
    private readonly Socket _listener;
    private readonly List<IDisposable> _owned = [];

    public FakeGssapiProxy()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(8);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>This fake as a proxy asking for <paramref name="level"/> (and accepting no less) from rcmd/localhost.</summary>
    public Socks5Proxy Proxy(GssapiProtectionLevel level, GssapiProtectionLevel? minimum = null) => new(EndPoint)
    {
        Gssapi = new GssapiClientOptions { TargetHost = "localhost", ProtectionLevel = level, MinimumProtectionLevel = minimum },
    };

    /// <summary>Accepts a client and runs method selection and the context; the protection level is left to the test.</summary>
    public async Task<Session> AcceptAsync()
    {
        Socket socket = await _listener.AcceptAsync().DefaultTimeout();
        var session = new Session(socket);
        lock (_owned)
        {
            _owned.Add(session);
        }

        byte[] greeting = await session.ReadExactlyAsync(2);
        Assert.Equal(5, greeting[0]);
        byte[] methods = await session.ReadExactlyAsync(greeting[1]);
        Assert.Equal([1], methods);
        await session.WriteAsync([5, 1]);

        (byte type, byte[] token) = await session.ReadMessageAsync();
        Assert.Equal(1, type);
        byte[]? answer = session.Acceptor.GetOutgoingBlob(token, out NegotiateAuthenticationStatusCode status);
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, status);
        if (answer is { Length: > 0 })
        {
            await session.WriteAsync(Message(1, answer));
        }

        return session;
    }

    /// <summary>Accepts, completes the context, reads the level asked and grants <paramref name="granted"/>.</summary>
    public async Task<Session> AcceptAndGrantAsync(GssapiProtectionLevel granted)
    {
        Session session = await AcceptAsync();
        session.Asked = await session.ReadProtectionRequestAsync();
        await session.GrantAsync((byte)granted);
        return session;
    }

    public void Dispose()
    {
        _listener.Dispose();
        lock (_owned)
        {
            foreach (IDisposable owned in _owned)
            {
                owned.Dispose();
            }
        }
    }

    internal static byte[] Message(byte type, ReadOnlySpan<byte> token)
    {
        byte[] message = new byte[4 + token.Length];
        message[0] = 1;
        message[1] = type;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)token.Length);
        token.CopyTo(message.AsSpan(4));
        return message;
    }

    /// <summary>One accepted client: its socket and the acceptor's context.</summary>
    internal sealed class Session : IDisposable
    {
        private readonly List<byte> _plaintext = [];

        public Session(Socket socket)
        {
            Socket = socket;
            Acceptor = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
            {
                Package = "Kerberos",
                Credential = CredentialCache.DefaultNetworkCredentials,
            });
        }

        public Socket Socket { get; }

        public NegotiateAuthentication Acceptor { get; }

        /// <summary>The level the client asked.</summary>
        public byte Asked { get; set; }

        /// <summary>The level granted, which decides how messages are wrapped.</summary>
        public byte Granted { get; private set; }

        /// <summary>Whether every wrapped message received so far was encrypted.</summary>
        public bool AllReceivedEncrypted { get; private set; } = true;

        public int MessagesReceived { get; private set; }

        public async Task<byte> ReadProtectionRequestAsync()
        {
            (byte type, byte[] token) = await ReadMessageAsync();
            Assert.Equal(2, type);
            var level = new ArrayBufferWriter<byte>();
            Assert.Equal(NegotiateAuthenticationStatusCode.Completed, Acceptor.Unwrap(token, level, out bool encrypted));
            Assert.False(encrypted);
            Assert.Equal(1, level.WrittenCount);
            return level.WrittenSpan[0];
        }

        public async Task GrantAsync(byte level)
        {
            Granted = level;
            var wrapped = new ArrayBufferWriter<byte>();
            Assert.Equal(NegotiateAuthenticationStatusCode.Completed, Acceptor.Wrap([level], wrapped, requestEncryption: false, out _));
            await WriteAsync(Message(2, wrapped.WrittenSpan));
        }

        /// <summary>Reads wrapped messages until <paramref name="count"/> bytes of plaintext are in; returns them.</summary>
        public async Task<byte[]> ReceivePlainAsync(int count)
        {
            for (int messages = 0; _plaintext.Count < count; messages++)
            {
                Assert.True(messages < 10_000, "too many messages");
                (byte type, byte[] token) = await ReadMessageAsync();
                Assert.Equal(3, type);
                var plain = new ArrayBufferWriter<byte>();
                Assert.Equal(NegotiateAuthenticationStatusCode.Completed, Acceptor.Unwrap(token, plain, out bool encrypted));
                Assert.True(plain.WrittenCount is > 0 and <= 16384, $"{plain.WrittenCount} bytes in one message");
                AllReceivedEncrypted &= encrypted;
                MessagesReceived++;
                _plaintext.AddRange(plain.WrittenSpan.ToArray());
            }

            byte[] taken = [.. _plaintext.Take(count)];
            _plaintext.RemoveRange(0, count);
            return taken;
        }

        /// <summary>Sends <paramref name="plaintext"/> wrapped, in messages of at most <paramref name="perMessage"/> bytes.</summary>
        public async Task SendPlainAsync(byte[] plaintext, int perMessage = 1000)
        {
            for (int at = 0; at < plaintext.Length; at += perMessage)
            {
                await WriteAsync(Message(3, Wrap(plaintext.AsSpan(at, Math.Min(perMessage, plaintext.Length - at)))));
            }
        }

        /// <summary>gss_wrap at the granted level: encrypted at confidentiality.</summary>
        public byte[] Wrap(ReadOnlySpan<byte> plaintext)
        {
            var wrapped = new ArrayBufferWriter<byte>();
            Assert.Equal(NegotiateAuthenticationStatusCode.Completed, Acceptor.Wrap(plaintext, wrapped, Granted >= 2, out _));
            return wrapped.WrittenSpan.ToArray();
        }

        /// <summary>gss_unwrap, for datagrams; <see langword="null"/> if it does not unwrap.</summary>
        public byte[]? Unwrap(ReadOnlySpan<byte> token, out bool encrypted)
        {
            var plain = new ArrayBufferWriter<byte>();
            NegotiateAuthenticationStatusCode status = Acceptor.Unwrap(token, plain, out encrypted);
            return status == NegotiateAuthenticationStatusCode.Completed ? plain.WrittenSpan.ToArray() : null;
        }

        public async Task<(byte Type, byte[] Token)> ReadMessageAsync()
        {
            byte[] header = await ReadExactlyAsync(2);
            Assert.Equal(1, header[0]);
            if (header[1] == 0xFF)
            {
                return (0xFF, []);
            }

            byte[] length = await ReadExactlyAsync(2);
            return (header[1], await ReadExactlyAsync(BinaryPrimitives.ReadUInt16BigEndian(length)));
        }

        public Task<byte[]> ReadExactlyAsync(int count) => Socket.ReceiveExactlyAsync(count);

        public async Task WriteAsync(byte[] bytes) => await Socket.SendAsync(bytes, SocketFlags.None).DefaultTimeout();

        public void Dispose()
        {
            Socket.Dispose();
            Acceptor.Dispose();
        }
    }
}
