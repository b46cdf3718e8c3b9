using System.Buffers;
using Sockeye.Protocol.Socks4;

namespace Sockeye.Fuzz;

/// <summary>
/// The SOCKS4/4a request parser (<see cref="Socks4Request.TryParse"/>) fed arbitrary bytes in two segments (split where
/// the first byte says), and checked for what must hold whatever the bytes: no exception; a reader that moved only past
/// a parsed request; every shorter prefix of a parsed request asking for more; and a request that writes back to the very
/// bytes it was parsed from.
/// </summary>
public static class Socks4RequestTarget
{
    /// <summary>Runs one input; returns whether it held a request. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        var reader = new SequenceReader<byte>(Segments.Of(bytes, split));
        bool parsed = Socks4Request.TryParse(ref reader, out Socks4Request request, out Socks4ParseError error);
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsedWhole = Socks4Request.TryParse(ref whole, out Socks4Request wholeRequest, out Socks4ParseError wholeError);
        Check(parsed == parsedWhole && error == wholeError && request == wholeRequest, "one segment and two disagree");
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            return false;
        }

        int length = (int)reader.Consumed;
        Check(error == Socks4ParseError.None && length <= Socks4Request.MaxLength, "a parsed request is too long or came with an error");
        for (int prefix = 0; prefix < length; prefix++)
        {
            var shorter = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, prefix));
            Check(!Socks4Request.TryParse(ref shorter, out _, out Socks4ParseError prefixError) && prefixError == Socks4ParseError.None,
                "a prefix of a parsed request did not ask for more");
        }

        // The write-back is canonical: a SOCKS4a marker other than 0.0.0.1 is written as 0.0.0.1.
        byte[] written = new byte[Socks4Request.MaxLength];
        int writtenLength = request.Write(written);
        Check(writtenLength == request.WireLength && writtenLength == length, "the written request's length differs");
        Check(written.AsSpan(0, 4).SequenceEqual(bytes.AsSpan(0, 4)) && written.AsSpan(8, writtenLength - 8).SequenceEqual(bytes.AsSpan(8, length - 8)),
            "the written request differs from the parsed bytes");
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
