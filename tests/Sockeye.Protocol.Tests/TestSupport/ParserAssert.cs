using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Tests.TestSupport;

/// <summary>The split-point rules of STYLE.md 2.9, for any TCP-side parser.</summary>
internal static class ParserAssert
{
    /// <summary>
    /// A byte the reader has already consumed before the message starts: it catches a parser that rewinds to the
    /// start of the sequence instead of to where it started.
    /// </summary>
    /// <remarks>Not private: .editorconfig's <c>_camelCase</c> rule for private fields outranks its rule for constants.</remarks>
    internal const byte LeadByte = 0xEE;

    /// <summary>The whole message parses, and the reader ends just past it, however the bytes are segmented.</summary>
    public static void ParsesAtEverySplitPoint(byte[] message, TryParseFunc tryParse)
    {
        for (int split = 0; split <= message.Length; split++)
        {
            ParsesWhole(Sequences.SplitAt(message, split), 0, message.Length, tryParse, $"split at {split}");
        }

        ParsesWhole(Sequences.OneBytePerSegment(message), 0, message.Length, tryParse, "one byte per segment");
        ParsesWhole(Sequences.Create([LeadByte], message[..(message.Length / 2)], message[(message.Length / 2)..]), 1, message.Length, tryParse, "after a consumed byte");

        // Pipelined bytes after the message (the next message, or a first payload) are left unread.
        byte[] withTrailer = [.. message, 0x05, 0x01, 0x00];
        ParsesWhole(Sequences.SplitAt(withTrailer, message.Length / 2), 0, message.Length, tryParse, "with trailing bytes");
    }

    /// <summary>
    /// Every proper prefix, however segmented, is "need more": <see langword="false"/>, <see cref="Socks5ParseError.None"/>,
    /// and the reader has not moved.
    /// </summary>
    public static void NeedsMoreUntilLastByte(byte[] message, TryParseFunc tryParse)
    {
        for (int length = 0; length < message.Length; length++)
        {
            byte[] prefix = message[..length];
            for (int split = 0; split <= length; split++)
            {
                NeedsMore(Sequences.SplitAt(prefix, split), 0, tryParse, $"first {length} bytes, split at {split}");
            }

            NeedsMore(Sequences.OneBytePerSegment(prefix), 0, tryParse, $"first {length} bytes, one byte per segment");
            NeedsMore(Sequences.Create([LeadByte], prefix), 1, tryParse, $"first {length} bytes after a consumed byte");
        }
    }

    /// <summary>Malformed bytes are rejected with <paramref name="expected"/> and the reader has not moved.</summary>
    public static void Rejects(byte[] bytes, TryParseFunc tryParse, Socks5ParseError expected)
    {
        Rejects(new ReadOnlySequence<byte>(bytes), 0, tryParse, expected, "one segment");
        Rejects(Sequences.OneBytePerSegment(bytes), 0, tryParse, expected, "one byte per segment");
        Rejects(Sequences.Create([LeadByte], bytes), 1, tryParse, expected, "after a consumed byte");
    }

    private static void ParsesWhole(ReadOnlySequence<byte> sequence, int lead, int messageLength, TryParseFunc tryParse, string situation)
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = tryParse(ref reader, out Socks5ParseError error);
        Assert.True(parsed, $"{situation}: not parsed (error {error})");
        Assert.True(error == Socks5ParseError.None, $"{situation}: error {error} on success");
        Assert.True(reader.Consumed == lead + messageLength, $"{situation}: consumed {reader.Consumed}, expected {lead + messageLength}");
    }

    private static void NeedsMore(ReadOnlySequence<byte> sequence, int lead, TryParseFunc tryParse, string situation)
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = tryParse(ref reader, out Socks5ParseError error);
        Assert.False(parsed, $"{situation}: parsed an incomplete message");
        Assert.True(error == Socks5ParseError.None, $"{situation}: error {error}, expected need-more");
        Assert.True(reader.Consumed == lead, $"{situation}: reader moved to {reader.Consumed}");
    }

    private static void Rejects(ReadOnlySequence<byte> sequence, int lead, TryParseFunc tryParse, Socks5ParseError expected, string situation)
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = tryParse(ref reader, out Socks5ParseError error);
        Assert.False(parsed, $"{situation}: malformed bytes parsed");
        Assert.True(error == expected, $"{situation}: error {error}, expected {expected}");
        Assert.True(reader.Consumed == lead, $"{situation}: reader moved to {reader.Consumed}");
    }
}
