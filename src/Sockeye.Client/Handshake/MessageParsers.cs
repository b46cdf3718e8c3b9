using System.Buffers;
using System.Buffers.Binary;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks4;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Client.Handshake;

/// <summary>The SOCKS messages a client reads, each parsed by the codec and nowhere else.</summary>
internal static class MessageParsers
{
    /// <summary>RFC 1928 §3: VER, METHOD.</summary>
    internal readonly struct MethodSelection : IMessageParser<Socks5MethodSelection, Socks5ParseError>
    {
        public static int MaxLength => Socks5MethodSelection.Length;

        public static int LengthSoFar(ReadOnlySpan<byte> received) => Socks5MethodSelection.Length;

        public static bool TryParse(ReadOnlySequence<byte> bytes, out Socks5MethodSelection message, out int consumed, out Socks5ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = Socks5MethodSelection.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }

    /// <summary>RFC 1929 §2: VER, STATUS.</summary>
    internal readonly struct UsernamePasswordStatus : IMessageParser<UsernamePasswordReply, Socks5ParseError>
    {
        public static int MaxLength => UsernamePasswordReply.Length;

        public static int LengthSoFar(ReadOnlySpan<byte> received) => UsernamePasswordReply.Length;

        public static bool TryParse(ReadOnlySequence<byte> bytes, out UsernamePasswordReply message, out int consumed, out Socks5ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = UsernamePasswordReply.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }

    /// <summary>RFC 1928 §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT.</summary>
    internal readonly struct Reply : IMessageParser<Socks5Reply, Socks5ParseError>
    {
        // VER, REP, RSV, ATYP and BND.ADDR's first byte, which for a name is its length: enough to know the rest.
        private const int KnownLengthAfter = 5;

        public static int MaxLength => Socks5Reply.MaxLength;

        public static int LengthSoFar(ReadOnlySpan<byte> received)
        {
            if (received.Length < KnownLengthAfter)
            {
                return KnownLengthAfter;
            }

            return (Socks5AddressType)received[3] switch
            {
                Socks5AddressType.IPv4 => 4 + 4 + 2,
                Socks5AddressType.IPv6 => 4 + 16 + 2,
                Socks5AddressType.DomainName => 4 + 1 + received[4] + 2,

                // Unknown: the codec refuses it from the bytes already in.
                _ => KnownLengthAfter,
            };
        }

        public static bool TryParse(ReadOnlySequence<byte> bytes, out Socks5Reply message, out int consumed, out Socks5ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = Socks5Reply.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }

    /// <summary>SOCKS4: VN, CD, DSTPORT, DSTIP; eight bytes always.</summary>
    internal readonly struct Socks4 : IMessageParser<Socks4Reply, Socks4ParseError>
    {
        public static int MaxLength => Socks4Reply.Length;

        public static int LengthSoFar(ReadOnlySpan<byte> received) => Socks4Reply.Length;

        public static bool TryParse(ReadOnlySequence<byte> bytes, out Socks4Reply message, out int consumed, out Socks4ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = Socks4Reply.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }

    /// <summary>RFC 1961: VER, MTYP, LEN and TOKEN, or the abort's VER and MTYP alone; a token of up to LEN's 65 535 bytes.</summary>
    internal readonly struct Gssapi : IMessageParser<GssapiMessage, GssapiParseError>
    {
        public static int MaxLength => GssapiMessage.HeaderLength + GssapiMessage.MaxTokenLength;

        public static int LengthSoFar(ReadOnlySpan<byte> received)
        {
            if (received.Length < GssapiMessage.AbortLength)
            {
                return GssapiMessage.AbortLength;
            }

            if (received[1] == (byte)GssapiMessageType.Abort)
            {
                return GssapiMessage.AbortLength;
            }

            return received.Length < GssapiMessage.HeaderLength
                ? GssapiMessage.HeaderLength
                : GssapiMessage.HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(received[2..]);
        }

        public static bool TryParse(ReadOnlySequence<byte> bytes, out GssapiMessage message, out int consumed, out GssapiParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }
}
