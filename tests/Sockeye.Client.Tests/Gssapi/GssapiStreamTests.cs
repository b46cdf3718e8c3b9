using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using Sockeye.Client.Gssapi;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// The protected stream of RFC 1961 §5 with a real pair of Kerberos contexts (alice's initiator and an acceptor on the
/// realm's keytab, both in this process): round trips both ways at integrity and confidentiality, reassembly, and every
/// way a message can be refused. Messages the peer sends are written here by hand (header bytes and the acceptor's own
/// gss_wrap), not by the stream under test, wherever the test is about reading them.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiStreamTests(KerberosFixture kerberos) : IClassFixture<KerberosFixture>
{
    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity, 0)]
    [InlineData(GssapiProtectionLevel.Integrity, 1)]
    [InlineData(GssapiProtectionLevel.Integrity, GssapiStream.MaxPlaintextPerMessage + 1)]
    [InlineData(GssapiProtectionLevel.Integrity, 1 << 20)]
    [InlineData(GssapiProtectionLevel.Confidentiality, 0)]
    [InlineData(GssapiProtectionLevel.Confidentiality, 1)]
    [InlineData(GssapiProtectionLevel.Confidentiality, GssapiStream.MaxPlaintextPerMessage + 1)]
    [InlineData(GssapiProtectionLevel.Confidentiality, 1 << 20)]
    public async Task RoundTrip_BothWaysAtOnce_EachSideReadsExactlyWhatTheOtherWrote(GssapiProtectionLevel level, int size)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        (Socket a, Socket b) = await LoopbackPair.ConnectAsync();
        await using var client = new GssapiStream(new NetworkStream(a, ownsSocket: true), new GssapiMessageProtection(initiator, level));
        await using var server = new GssapiStream(new NetworkStream(b, ownsSocket: true), new GssapiMessageProtection(acceptor, level));
        byte[] up = TestData.RandomBytes(size, seed: 1);
        byte[] down = TestData.RandomBytes(size, seed: 2);

        Task<byte[]> serverReads = ReadToEndAsync(server);
        Task<byte[]> clientReads = ReadToEndAsync(client);
        await Task.WhenAll(
            WriteThenShutdownAsync(client, a, up),
            WriteThenShutdownAsync(server, b, down)).DefaultTimeout();

        Assert.Equal(up, await serverReads.DefaultTimeout());
        Assert.Equal(down, await clientReads.DefaultTimeout());
    }

    [Fact]
    public async Task Write_SplitsIntoMessagesOfAtMost16KiB_EachAnEncapsulationTheAcceptorUnwraps()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        using var wire = new MemoryStream();
        byte[] plaintext = TestData.RandomBytes(40_000, seed: 3);
        using (acceptor)
        await using (var stream = new GssapiStream(wire, new GssapiMessageProtection(initiator, GssapiProtectionLevel.Confidentiality)))
        {
            await stream.WriteAsync(plaintext);

            byte[] bytes = wire.ToArray();
            var received = new List<byte>();
            var chunks = new List<int>();
            int at = 0;
            while (at < bytes.Length)
            {
                Assert.Equal([1, 3], bytes[at..(at + 2)]);
                int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(at + 2));
                var unwrapped = new ArrayBufferWriter<byte>();
                Assert.Equal(NegotiateAuthenticationStatusCode.Completed,
                    acceptor.Unwrap(bytes.AsSpan(at + 4, length), unwrapped, out bool encrypted));
                Assert.True(encrypted);
                chunks.Add(unwrapped.WrittenCount);
                received.AddRange(unwrapped.WrittenSpan.ToArray());
                at += 4 + length;
            }

            Assert.Equal(plaintext, received.ToArray());
            Assert.Equal([16384, 16384, 40_000 - 32768], chunks);
        }
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task Read_MessagesArrivingOneByteAtATime_AreReassembled(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] plaintext = TestData.RandomBytes(1 + 100 + 20_000, seed: 4);
        using var wire = new MemoryStream();
        using (acceptor)
        {
            // Messages of 1, 100 and 20 000 bytes: none of them the size of a read, or of the reader's chunks.
            wire.Write(Message(3, Wrap(acceptor, plaintext.AsSpan(0, 1), level >= GssapiProtectionLevel.Confidentiality)));
            wire.Write(Message(3, Wrap(acceptor, plaintext.AsSpan(1, 100), level >= GssapiProtectionLevel.Confidentiality)));
            wire.Write(Message(3, Wrap(acceptor, plaintext.AsSpan(101), level >= GssapiProtectionLevel.Confidentiality)));
        }

        wire.Position = 0;
        await using var stream = new GssapiStream(new OneByteReads(wire), new GssapiMessageProtection(initiator, level));

        Assert.Equal(plaintext, await ReadToEndAsync(stream));
    }

    [Fact]
    public async Task Read_Synchronously_SameBytes()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] plaintext = TestData.RandomBytes(5000, seed: 5);
        using var wire = new MemoryStream();
        using (acceptor)
        {
            wire.Write(Message(3, Wrap(acceptor, plaintext, encrypt: true)));
        }

        wire.Position = 0;
        using var stream = new GssapiStream(wire, new GssapiMessageProtection(initiator, GssapiProtectionLevel.Confidentiality));
        byte[] read = new byte[plaintext.Length];
        stream.ReadExactly(read);

        Assert.Equal(plaintext, read);
        Assert.Equal(0, stream.Read(new byte[1], 0, 1));
    }

    [Fact]
    public void Write_Synchronously_OneMessageTheAcceptorUnwraps()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        using var wire = new MemoryStream();
        using (acceptor)
        using (var stream = new GssapiStream(wire, new GssapiMessageProtection(initiator, GssapiProtectionLevel.Integrity)))
        {
            stream.Write("sync"u8);

            byte[] bytes = wire.ToArray();
            Assert.Equal([1, 3], bytes[..2]);
            Assert.Equal(bytes.Length - 4, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(2)));
            var unwrapped = new ArrayBufferWriter<byte>();
            Assert.Equal(NegotiateAuthenticationStatusCode.Completed, acceptor.Unwrap(bytes.AsSpan(4), unwrapped, out bool encrypted));
            Assert.False(encrypted);
            Assert.Equal("sync"u8.ToArray(), unwrapped.WrittenSpan.ToArray());
        }
    }

    [Fact]
    public async Task Read_TamperedToken_IOException()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] token;
        using (acceptor)
        {
            token = Wrap(acceptor, "genuine"u8, encrypt: true);
        }

        token[^3] ^= 0x01;
        await using var stream = new GssapiStream(new MemoryStream(Message(3, token)), new GssapiMessageProtection(initiator, GssapiProtectionLevel.Confidentiality));

        IOException e = await Assert.ThrowsAsync<IOException>(() => stream.ReadAsync(new byte[100]).AsTask());
        Assert.Contains("did not unwrap", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((byte)1)]
    [InlineData((byte)2)]
    public async Task Read_MessageOfAnotherType_IOException(byte type)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] token;
        using (acceptor)
        {
            token = Wrap(acceptor, "data"u8, encrypt: true);
        }

        await using var stream = new GssapiStream(new MemoryStream(Message(type, token)), new GssapiMessageProtection(initiator, GssapiProtectionLevel.Confidentiality));

        IOException e = await Assert.ThrowsAsync<IOException>(() => stream.ReadAsync(new byte[100]).AsTask());
        Assert.Contains($"type X'{type:X2}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_Abort_IOException()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        acceptor.Dispose();
        await using var stream = new GssapiStream(new MemoryStream([1, 0xFF]), new GssapiMessageProtection(initiator, GssapiProtectionLevel.Integrity));

        IOException e = await Assert.ThrowsAsync<IOException>(() => stream.ReadAsync(new byte[100]).AsTask());
        Assert.Contains("aborted", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(10)]
    public async Task Read_EndInTheMiddleOfAMessage_IOException(int cutAfter)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] first;
        byte[] second;
        using (acceptor)
        {
            first = Message(3, Wrap(acceptor, "whole"u8, encrypt: true));
            second = Message(3, Wrap(acceptor, "cut short"u8, encrypt: true));
        }

        byte[] wire = [.. first, .. second[..cutAfter]];
        await using var stream = new GssapiStream(new MemoryStream(wire), new GssapiMessageProtection(initiator, GssapiProtectionLevel.Confidentiality));

        byte[] buffer = new byte[100];
        Assert.Equal("whole"u8.ToArray(), buffer[..await stream.ReadAsync(buffer)]);
        IOException e = await Assert.ThrowsAsync<IOException>(() => stream.ReadAsync(buffer).AsTask());
        Assert.Contains("in the middle of a GSSAPI message", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_EndBetweenMessages_IsTheEndOfTheStream()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] wire;
        using (acceptor)
        {
            wire = Message(3, Wrap(acceptor, "all"u8, encrypt: false));
        }

        await using var stream = new GssapiStream(new MemoryStream(wire), new GssapiMessageProtection(initiator, GssapiProtectionLevel.Integrity));

        Assert.Equal("all"u8.ToArray(), await ReadToEndAsync(stream));
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity, true)]
    [InlineData(GssapiProtectionLevel.Confidentiality, false)]
    public async Task Read_UnencryptedMessage_AcceptedAtIntegrity_RefusedAtConfidentiality(GssapiProtectionLevel level, bool accepted)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        byte[] wire;
        using (acceptor)
        {
            wire = Message(3, Wrap(acceptor, "in clear"u8, encrypt: false));
        }

        await using var stream = new GssapiStream(new MemoryStream(wire), new GssapiMessageProtection(initiator, level));
        if (accepted)
        {
            Assert.Equal("in clear"u8.ToArray(), await ReadToEndAsync(stream));
        }
        else
        {
            IOException e = await Assert.ThrowsAsync<IOException>(() => stream.ReadAsync(new byte[100]).AsTask());
            Assert.Contains("not encrypted", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Dispose_DisposesTheStreamUnderIt_AndTheContext()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        (NegotiateAuthentication initiator, NegotiateAuthentication acceptor) = KerberosContexts.Establish(kerberos.Realm);
        acceptor.Dispose();
        var inner = new MemoryStream();
        var protection = new GssapiMessageProtection(initiator, GssapiProtectionLevel.Integrity);
        var stream = new GssapiStream(inner, protection);

        await stream.DisposeAsync();

        Assert.False(inner.CanRead);
        using var output = new Sockeye.Protocol.PooledBufferWriter();
        Assert.False(protection.TryWrapMessage("x"u8, output, out string? problem));
        Assert.Contains("ContextExpired", problem, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stream.ReadAsync(new byte[1]).AsTask());
    }

    private static byte[] Wrap(NegotiateAuthentication context, ReadOnlySpan<byte> plaintext, bool encrypt)
    {
        var wrapped = new ArrayBufferWriter<byte>();
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, context.Wrap(plaintext, wrapped, encrypt, out bool encrypted));
        Assert.Equal(encrypt, encrypted);
        return wrapped.WrittenSpan.ToArray();
    }

    /// <summary>[01 type LEN token], by hand.</summary>
    internal static byte[] Message(byte type, byte[] token)
    {
        byte[] message = new byte[4 + token.Length];
        message[0] = 1;
        message[1] = type;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)token.Length);
        token.CopyTo(message, 4);
        return message;
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var all = new MemoryStream();
        byte[] buffer = new byte[7000];
        int read;
        while ((read = await stream.ReadAsync(buffer).DefaultTimeout()) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }

    private static async Task WriteThenShutdownAsync(Stream stream, Socket socket, byte[] bytes)
    {
        // Writes of uneven sizes, so the message boundaries fall anywhere.
        int at = 0;
        for (int piece = 1; at < bytes.Length; piece = piece * 3 % 70_001 + 1)
        {
            int count = Math.Min(piece, bytes.Length - at);
            await stream.WriteAsync(bytes.AsMemory(at, count));
            at += count;
        }

        await stream.FlushAsync();
        socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>A stream whose reads return one byte at most, so every message arrives over many reads.</summary>
    private sealed class OneByteReads(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 1));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer[..Math.Min(buffer.Length, 1)], cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
