using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>
/// An RFC 1961 client written for the tests, byte by byte, beside the server's code rather than from it: greeting,
/// context with a .NET Kerberos initiator, the protection level, and then at integrity or confidentiality every byte
/// wrapped into MTYP X'03' messages and unwrapped back.
/// </summary>
internal sealed class GssapiRawClient : IDisposable
{
    private readonly NegotiateAuthentication _initiator;
    private byte[] _plaintext = [];
    private int _plaintextStart;

    private GssapiRawClient(RawClient raw, NegotiateAuthentication initiator, byte granted)
    {
        Raw = raw;
        _initiator = initiator;
        Granted = granted;
    }

    public RawClient Raw { get; }

    /// <summary>The level the server answered.</summary>
    public byte Granted { get; }

    /// <summary>Whether what is sent is wrapped with confidentiality.</summary>
    public bool Encrypt { get; set; }

    /// <summary>Connects, authenticates as the ticket cache's user and asks for <paramref name="level"/>.</summary>
    public static async Task<GssapiRawClient> ConnectAsync(IPEndPoint server, byte level, bool nec = false, string targetName = "rcmd/localhost")
    {
        RawClient raw = await RawClient.ConnectAsync(server);
        NegotiateAuthentication initiator = NewInitiator(targetName);
        try
        {
            await raw.SendAsync([5, 1, 1]);
            Assert.Equal([5, 1], await raw.ReceiveExactlyAsync(2));
            byte[]? fromServer = null;
            for (int round = 0; ; round++)
            {
                Assert.True(round < 3, "no context after three rounds");
                byte[]? token = initiator.GetOutgoingBlob(fromServer, out NegotiateAuthenticationStatusCode status);
                Assert.True(status is NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded, status.ToString());
                if (token is { Length: > 0 })
                {
                    await raw.SendAsync(Message(1, token));
                }

                if (status == NegotiateAuthenticationStatusCode.Completed)
                {
                    break;
                }

                (byte type, fromServer) = await ReceiveMessageAsync(raw);
                Assert.Equal(1, type);
            }

            byte granted;
            if (nec)
            {
                await raw.SendAsync(Message(2, [level]));
                byte[] answer = await raw.ReceiveExactlyAsync(5);
                Assert.Equal([1, 2, 0, 1], answer[..4]);
                granted = answer[4];
            }
            else
            {
                var wrapped = new ArrayBufferWriter<byte>();
                Assert.Equal(NegotiateAuthenticationStatusCode.Completed, initiator.Wrap([level], wrapped, requestEncryption: false, out _));
                await raw.SendAsync(Message(2, wrapped.WrittenSpan.ToArray()));
                (byte type, byte[] answer) = await ReceiveMessageAsync(raw);
                Assert.Equal(2, type);
                var unwrapped = new ArrayBufferWriter<byte>();
                Assert.Equal(NegotiateAuthenticationStatusCode.Completed, initiator.Unwrap(answer, unwrapped, out _));
                Assert.Equal(1, unwrapped.WrittenCount);
                granted = unwrapped.WrittenSpan[0];
            }

            return new GssapiRawClient(raw, initiator, granted) { Encrypt = granted >= 2 };
        }
        catch
        {
            initiator.Dispose();
            raw.Dispose();
            throw;
        }
    }

    /// <summary>A Kerberos initiator for <paramref name="targetName"/> that asks for mutual authentication, as curl does.</summary>
    public static NegotiateAuthentication NewInitiator(string targetName)
    {
        var options = new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            TargetName = targetName,
            Credential = CredentialCache.DefaultNetworkCredentials,
            RequiredProtectionLevel = ProtectionLevel.EncryptAndSign,
            RequireMutualAuthentication = true,
        };
        return new NegotiateAuthentication(options);
    }

    public static byte[] Message(byte type, ReadOnlySpan<byte> token)
    {
        byte[] message = new byte[4 + token.Length];
        message[0] = 1;
        message[1] = type;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)token.Length);
        token.CopyTo(message.AsSpan(4));
        return message;
    }

    public static async Task<(byte Type, byte[] Token)> ReceiveMessageAsync(RawClient client)
    {
        byte[] header = await client.ReceiveExactlyAsync(4);
        Assert.Equal(1, header[0]);
        return (header[1], await client.ReceiveExactlyAsync(BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2))));
    }

    /// <summary>One MTYP X'03' message carrying <paramref name="plaintext"/>, wrapped as <see cref="Encrypt"/> says.</summary>
    public byte[] Wrap(ReadOnlySpan<byte> plaintext)
    {
        var wrapped = new ArrayBufferWriter<byte>();
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, _initiator.Wrap(plaintext, wrapped, Encrypt, out _));
        return Message(3, wrapped.WrittenSpan);
    }

    /// <summary>The plaintext of a wrapped datagram or message; throws when it does not unwrap.</summary>
    public byte[] Unwrap(ReadOnlySpan<byte> token, out bool encrypted)
    {
        var unwrapped = new ArrayBufferWriter<byte>();
        NegotiateAuthenticationStatusCode status = _initiator.Unwrap(token, unwrapped, out encrypted);
        Assert.Equal(NegotiateAuthenticationStatusCode.Completed, status);
        return unwrapped.WrittenSpan.ToArray();
    }

    /// <summary>Sends <paramref name="plaintext"/> in messages of at most <paramref name="perMessage"/> bytes.</summary>
    public async Task SendAsync(byte[] plaintext, int perMessage = 16 * 1024)
    {
        for (int offset = 0; offset < plaintext.Length; offset += perMessage)
        {
            await Raw.SendAsync(Wrap(plaintext.AsSpan(offset, Math.Min(perMessage, plaintext.Length - offset))));
        }
    }

    /// <summary>Exactly <paramref name="count"/> bytes of plaintext, from as many messages as they take.</summary>
    public async Task<byte[]> ReceiveExactlyAsync(int count)
    {
        byte[] result = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            if (_plaintextStart == _plaintext.Length)
            {
                (byte type, byte[] token) = await ReceiveMessageAsync(Raw);
                Assert.Equal(3, type);
                _plaintext = Unwrap(token, out bool encrypted);
                Assert.Equal(Granted >= 2, encrypted);
                _plaintextStart = 0;
            }

            int take = Math.Min(count - filled, _plaintext.Length - _plaintextStart);
            _plaintext.AsSpan(_plaintextStart, take).CopyTo(result.AsSpan(filled));
            _plaintextStart += take;
            filled += take;
        }

        return result;
    }

    /// <summary>A SOCKS5 reply, unwrapped: its fixed part, then the rest its ATYP says.</summary>
    public async Task<byte[]> ReceiveReplyAsync()
    {
        byte[] head = await ReceiveExactlyAsync(5);
        int rest = head[3] switch { 1 => 4 + 2 - 1, 4 => 16 + 2 - 1, 3 => head[4] + 2, _ => throw new InvalidDataException($"ATYP {head[3]}") };
        return [.. head, .. await ReceiveExactlyAsync(rest)];
    }

    public void Dispose()
    {
        _initiator.Dispose();
        Raw.Dispose();
    }
}
