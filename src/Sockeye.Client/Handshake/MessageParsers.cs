using System.Buffers;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Client.Handshake;

/// <summary>The three messages a client reads, each parsed by the codec and nowhere else.</summary>
internal static class MessageParsers
{
    /// <summary>RFC 1928 §3: VER, METHOD.</summary>
    internal readonly struct MethodSelection : IMessageParser<Socks5MethodSelection>
    {
        public static int MaxLength => Socks5MethodSelection.Length;

        public static bool TryParse(ReadOnlySequence<byte> bytes, out Socks5MethodSelection message, out int consumed, out Socks5ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = Socks5MethodSelection.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }

    /// <summary>RFC 1929 §2: VER, STATUS.</summary>
    internal readonly struct UsernamePasswordStatus : IMessageParser<UsernamePasswordReply>
    {
        public static int MaxLength => UsernamePasswordReply.Length;

        public static bool TryParse(ReadOnlySequence<byte> bytes, out UsernamePasswordReply message, out int consumed, out Socks5ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = UsernamePasswordReply.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }

    /// <summary>RFC 1928 §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT.</summary>
    internal readonly struct Reply : IMessageParser<Socks5Reply>
    {
        public static int MaxLength => Socks5Reply.MaxLength;

        public static bool TryParse(ReadOnlySequence<byte> bytes, out Socks5Reply message, out int consumed, out Socks5ParseError error)
        {
            var reader = new SequenceReader<byte>(bytes);
            bool parsed = Socks5Reply.TryParse(ref reader, out message, out error);
            consumed = (int)reader.Consumed;
            return parsed;
        }
    }
}
