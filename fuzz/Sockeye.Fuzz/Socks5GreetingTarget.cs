using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Fuzz;

/// <summary>
/// The SOCKS5 greeting parser (<see cref="Socks5Greeting.TryParse"/>) fed arbitrary bytes in two segments (split where
/// the first byte says), and checked for what must hold whatever the bytes: no exception; one segment and two agreeing;
/// a reader that moved only past a parsed greeting, exactly NMETHODS + 2 bytes; every shorter prefix asking for more;
/// every method on the wire offered; and a greeting that writes back to one that parses to itself.
/// </summary>
public static class Socks5GreetingTarget
{
    /// <summary>Runs one input; returns whether it held a greeting. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        var reader = new SequenceReader<byte>(Segments.Of(bytes, split));
        bool parsed = Socks5Greeting.TryParse(ref reader, out Socks5Greeting greeting, out Socks5ParseError error);
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsedWhole = Socks5Greeting.TryParse(ref whole, out Socks5Greeting wholeGreeting, out Socks5ParseError wholeError);
        Check(parsed == parsedWhole && error == wholeError && greeting == wholeGreeting && reader.Consumed == whole.Consumed,
            "one segment and two disagree");
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            return false;
        }

        int length = (int)reader.Consumed;
        Check(error == Socks5ParseError.None, "a parsed greeting came with an error");
        Check(length == 2 + bytes[1] && length <= Socks5Limits.MaxGreetingLength, "the greeting's length is not NMETHODS + 2");
        for (int prefix = 0; prefix < length; prefix++)
        {
            var shorter = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, prefix));
            Check(!Socks5Greeting.TryParse(ref shorter, out _, out Socks5ParseError prefixError) && prefixError == Socks5ParseError.None,
                "a prefix of a parsed greeting did not ask for more");
        }

        bool ascending = true;
        for (int i = 2; i < length; i++)
        {
            Check(greeting.Offers((Socks5AuthMethod)bytes[i]), "a method on the wire is not offered");
            ascending &= i == 2 || bytes[i] > bytes[i - 1];
        }

        // Order and repeats are free choices of the sender: the write-back is the set in ascending order, which parses
        // back to an equal greeting, and is the very bytes only when they were already ascending without repeats.
        byte[] written = new byte[Socks5Limits.MaxGreetingLength];
        int writtenLength = greeting.Write(written);
        Check(writtenLength == greeting.WireLength && writtenLength == 2 + greeting.MethodCount && writtenLength <= length,
            "the written greeting's length is wrong");
        var again = new SequenceReader<byte>(new ReadOnlySequence<byte>(written, 0, writtenLength));
        Check(Socks5Greeting.TryParse(ref again, out Socks5Greeting reparsed, out _) && reparsed == greeting && again.Consumed == writtenLength,
            "a written greeting does not parse back to itself");
        Check(!ascending || written.AsSpan(0, writtenLength).SequenceEqual(bytes.AsSpan(0, length)),
            "an ascending greeting does not write back to its bytes");
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
