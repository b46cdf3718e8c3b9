using System.Buffers;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Fuzz;

/// <summary>
/// The RFC 1929 reply parser (<see cref="UsernamePasswordReply.TryParse"/>) fed arbitrary bytes in two segments (split
/// where the first byte says), and checked for what must hold whatever the bytes: no exception; one segment and two
/// agreeing; a reader that moved only past a parsed reply, exactly two bytes; every shorter prefix asking for more; and a
/// reply that writes back to the very bytes it was parsed from.
/// </summary>
public static class UsernamePasswordReplyTarget
{
    /// <summary>Runs one input; returns whether it held a reply. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        var reader = new SequenceReader<byte>(Segments.Of(bytes, split));
        bool parsed = UsernamePasswordReply.TryParse(ref reader, out UsernamePasswordReply reply, out Socks5ParseError error);
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsedWhole = UsernamePasswordReply.TryParse(ref whole, out UsernamePasswordReply wholeReply, out Socks5ParseError wholeError);
        Check(parsed == parsedWhole && error == wholeError && reply == wholeReply && reader.Consumed == whole.Consumed,
            "one segment and two disagree");
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            return false;
        }

        Check(error == Socks5ParseError.None && reader.Consumed == UsernamePasswordReply.Length, "a parsed reply is not two bytes, or came with an error");
        Check(reply.IsSuccess == (bytes[1] == 0), "STATUS X'00' and success disagree");
        for (int prefix = 0; prefix < UsernamePasswordReply.Length; prefix++)
        {
            var shorter = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, prefix));
            Check(!UsernamePasswordReply.TryParse(ref shorter, out _, out Socks5ParseError prefixError) && prefixError == Socks5ParseError.None,
                "a prefix of a parsed reply did not ask for more");
        }

        byte[] written = new byte[UsernamePasswordReply.Length];
        Check(reply.Write(written) == UsernamePasswordReply.Length && written.AsSpan().SequenceEqual(bytes.AsSpan(0, UsernamePasswordReply.Length)),
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
