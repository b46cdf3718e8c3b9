using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Fuzz;

/// <summary>
/// The SOCKS5 reply parser (<see cref="Socks5Reply.TryParse"/>) fed arbitrary bytes in two segments (split where
/// the first byte says), and checked for what must hold whatever the bytes: no exception; one segment and two agreeing;
/// a reader that moved only past a parsed reply; every shorter prefix asking for more; any REP byte kept as it came; and
/// a reply that writes back to the bytes it was parsed from, but for RSV (written as X'00', read as anything).
/// </summary>
public static class Socks5ReplyTarget
{
    /// <summary>Runs one input; returns whether it held a reply. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        var reader = new SequenceReader<byte>(Segments.Of(bytes, split));
        bool parsed = Socks5Reply.TryParse(ref reader, out Socks5Reply reply, out Socks5ParseError error);
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsedWhole = Socks5Reply.TryParse(ref whole, out Socks5Reply wholeReply, out Socks5ParseError wholeError);
        Check(parsed == parsedWhole && error == wholeError && reply == wholeReply && reader.Consumed == whole.Consumed,
            "one segment and two disagree");
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            return false;
        }

        int length = (int)reader.Consumed;
        Check(error == Socks5ParseError.None, "a parsed reply came with an error");
        // A reply has a request's shape, so a request's minimum (an IPv4 address) bounds it too.
        Check(length >= Socks5Limits.MinRequestLength && length <= Socks5Reply.MaxLength && length == reply.WireLength,
            "the reply's length is out of bounds or not its wire length");
        Check((byte)reply.ReplyCode == bytes[1], "REP was not kept as it came");
        for (int prefix = 0; prefix < length; prefix++)
        {
            var shorter = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, prefix));
            Check(!Socks5Reply.TryParse(ref shorter, out _, out Socks5ParseError prefixError) && prefixError == Socks5ParseError.None,
                "a prefix of a parsed reply did not ask for more");
        }

        byte[] written = new byte[Socks5Reply.MaxLength];
        int writtenLength = reply.Write(written);
        Check(writtenLength == length && written[2] == 0, "the written reply's length or RSV is wrong");
        Check(written.AsSpan(0, 2).SequenceEqual(bytes.AsSpan(0, 2)) && written.AsSpan(3, length - 3).SequenceEqual(bytes.AsSpan(3, length - 3)),
            "the written reply differs from the parsed bytes");
        return true;
    }

    private static void Check(bool condition, string invariant)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(invariant);
        }
    }
}
