using System.Buffers;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Fuzz;

/// <summary>
/// The RFC 1961 message parser (<see cref="GssapiMessage.TryParse"/>) fed arbitrary bytes in two segments (split where
/// the first byte says) under a token bound the last byte chooses, and checked for what must hold whatever the
/// bytes: no exception; one segment and two agreeing; a reader that moved only past a parsed message, by its header and
/// LEN exactly; a token within the bound and the input; every shorter prefix asking for more; and a message that writes
/// back to the very bytes it was parsed from.
/// </summary>
public static class GssapiMessageTarget
{
    /// <summary>Runs one input; returns whether it held a message. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);

        // Small bounds as well as the largest, so that mutations reach TokenTooLong and the tokens just within it.
        int bound = bytes.Length == 0 ? GssapiMessage.MaxTokenLength : bytes[^1] switch
        {
            < 64 => 1 + bytes[^1],
            < 128 => 256,
            _ => GssapiMessage.MaxTokenLength,
        };
        var reader = new SequenceReader<byte>(Segments.Of(bytes, split));
        bool parsed = GssapiMessage.TryParse(ref reader, bound, out GssapiMessage message, out GssapiParseError error);
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsedWhole = GssapiMessage.TryParse(ref whole, bound, out GssapiMessage wholeMessage, out GssapiParseError wholeError);
        Check(parsed == parsedWhole && error == wholeError && reader.Consumed == whole.Consumed && message.Type == wholeMessage.Type
            && message.Token.ToArray().AsSpan().SequenceEqual(wholeMessage.Token.ToArray()), "one segment and two disagree");
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            return false;
        }

        byte[] token = message.Token.ToArray();
        long expected = message.Type == GssapiMessageType.Abort ? GssapiMessage.AbortLength : GssapiMessage.HeaderLength + token.Length;
        Check(error == GssapiParseError.None && reader.Consumed == expected, "the reader did not move by the message's length, or an error came with it");
        Check(message.Type == GssapiMessageType.Abort ? token.Length == 0 : token.Length >= 1 && token.Length <= bound && token.Length == (bytes[2] << 8 | bytes[3]),
            "the token is not what LEN says, or past the bound");
        for (int prefix = 0; prefix < expected; prefix++)
        {
            var shorter = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, prefix));
            Check(!GssapiMessage.TryParse(ref shorter, bound, out _, out GssapiParseError prefixError) && prefixError == GssapiParseError.None,
                "a prefix of a parsed message did not ask for more");
        }

        byte[] written = new byte[expected];
        int length = message.Type == GssapiMessageType.Abort ? GssapiMessage.WriteAbort(written) : GssapiMessage.Write(message.Type, token, written);
        Check(length == expected && written.AsSpan().SequenceEqual(bytes.AsSpan(0, length)), "the written message differs from the parsed bytes");
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
