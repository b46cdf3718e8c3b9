using System.Buffers;
using Sockeye.Protocol.ProxyProtocol;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.ProxyProtocol;

/// <summary>The split-point rules of STYLE.md 2.9 (as <see cref="ParserAssert"/> has them for SOCKS), for <see cref="ProxyHeader"/>.</summary>
internal static class ProxyParserAssert
{
    /// <summary>A buffer limit roomy enough for every table row, UNIX addresses and TLVs included.</summary>
    public const int MaxLength = 512;

    /// <summary>A SOCKS5 greeting, as a client sends right after the header: it must stay unread.</summary>
    private static readonly byte[] SocksGreeting = [0x05, 0x01, 0x00];

    /// <summary>Parses <paramref name="bytes"/> from one segment, and checks that exactly the whole of them was consumed.</summary>
    public static ProxyHeader Parses(byte[] bytes, int maxLength = MaxLength)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsed = ProxyHeader.TryParse(ref reader, maxLength, out ProxyHeader header, out ProxyParseError error);
        Assert.True(parsed, $"not parsed (error {error})");
        Assert.Equal(ProxyParseError.None, error);
        Assert.Equal(bytes.Length, reader.Consumed);
        Assert.Equal(bytes.Length, header.Length);
        return header;
    }

    /// <summary>
    /// The header parses to the same fields, and the reader ends just past it, however the bytes are segmented: two
    /// segments split anywhere, three split at any two points, one byte per segment, after a consumed byte, and with
    /// SOCKS bytes behind it (left unread).
    /// </summary>
    public static void ParsesAtEverySplitPoint(byte[] header)
    {
        string expected = Describe(Parses(header));
        for (int first = 0; first <= header.Length; first++)
        {
            ParsesWhole(Sequences.SplitAt(header, first), 0, header.Length, expected, $"split at {first}");
            for (int second = first; second <= header.Length; second++)
            {
                ParsesWhole(Sequences.Create(header[..first], header[first..second], header[second..]), 0, header.Length, expected, $"split at {first} and {second}");
            }
        }

        ParsesWhole(Sequences.OneBytePerSegment(header), 0, header.Length, expected, "one byte per segment");
        ParsesWhole(Sequences.Create([ParserAssert.LeadByte], header[..(header.Length / 2)], header[(header.Length / 2)..]), 1, header.Length, expected, "after a consumed byte");

        byte[] withGreeting = [.. header, .. SocksGreeting];
        for (int split = 0; split <= withGreeting.Length; split++)
        {
            ParsesWhole(Sequences.SplitAt(withGreeting, split), 0, header.Length, expected, $"with a SOCKS greeting behind, split at {split}");
        }
    }

    /// <summary>Every proper prefix, however segmented, is "need more": false, <see cref="ProxyParseError.None"/>, the reader unmoved.</summary>
    public static void NeedsMoreUntilLastByte(byte[] header)
    {
        for (int length = 0; length < header.Length; length++)
        {
            byte[] prefix = header[..length];
            for (int split = 0; split <= length; split++)
            {
                NeedsMore(Sequences.SplitAt(prefix, split), 0, $"first {length} bytes, split at {split}");
            }

            NeedsMore(Sequences.OneBytePerSegment(prefix), 0, $"first {length} bytes, one byte per segment");
            NeedsMore(Sequences.Create([ParserAssert.LeadByte], prefix), 1, $"first {length} bytes after a consumed byte");
        }
    }

    /// <summary>The bytes are refused with <paramref name="expected"/>, however segmented, and the reader has not moved.</summary>
    public static void Rejects(byte[] bytes, ProxyParseError expected, int maxLength = MaxLength)
    {
        Rejects(new ReadOnlySequence<byte>(bytes), 0, expected, maxLength, "one segment");
        Rejects(Sequences.SplitAt(bytes, bytes.Length / 2), 0, expected, maxLength, "two segments");
        Rejects(Sequences.OneBytePerSegment(bytes), 0, expected, maxLength, "one byte per segment");
        Rejects(Sequences.Create([ParserAssert.LeadByte], bytes), 1, expected, maxLength, "after a consumed byte");
    }

    /// <summary>
    /// Every proper prefix needs more, and the whole of <paramref name="bytes"/> is refused: the parser decides the moment
    /// the last byte arrives, not later.
    /// </summary>
    public static void RejectsAtLastByte(byte[] bytes, ProxyParseError expected, int maxLength = MaxLength)
    {
        for (int length = 0; length < bytes.Length; length++)
        {
            NeedsMore(new ReadOnlySequence<byte>(bytes[..length]), 0, $"first {length} bytes", maxLength);
        }

        Rejects(bytes, expected, maxLength);
    }

    /// <summary>The fields a test compares, as one string, so a mismatch shows them all.</summary>
    public static string Describe(ProxyHeader header) =>
        $"{header.Version} {header.Command} {header.Family} {header.Source?.ToString() ?? "-"} {header.Destination?.ToString() ?? "-"} {header.Length}";

    private static void ParsesWhole(ReadOnlySequence<byte> sequence, int lead, int headerLength, string expected, string situation)
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = ProxyHeader.TryParse(ref reader, MaxLength, out ProxyHeader header, out ProxyParseError error);
        Assert.True(parsed, $"{situation}: not parsed (error {error})");
        Assert.True(error == ProxyParseError.None, $"{situation}: error {error} on success");
        Assert.True(reader.Consumed == lead + headerLength, $"{situation}: consumed {reader.Consumed}, expected {lead + headerLength}");
        Assert.True(Describe(header) == expected, $"{situation}: parsed {Describe(header)}, expected {expected}");
    }

    private static void NeedsMore(ReadOnlySequence<byte> sequence, int lead, string situation, int maxLength = MaxLength)
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = ProxyHeader.TryParse(ref reader, maxLength, out _, out ProxyParseError error);
        Assert.False(parsed, $"{situation}: parsed an incomplete header");
        Assert.True(error == ProxyParseError.None, $"{situation}: error {error}, expected need-more");
        Assert.True(reader.Consumed == lead, $"{situation}: reader moved to {reader.Consumed}");
    }

    private static void Rejects(ReadOnlySequence<byte> sequence, int lead, ProxyParseError expected, int maxLength, string situation)
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = ProxyHeader.TryParse(ref reader, maxLength, out _, out ProxyParseError error);
        Assert.False(parsed, $"{situation}: malformed bytes parsed");
        Assert.True(error == expected, $"{situation}: error {error}, expected {expected}");
        Assert.True(reader.Consumed == lead, $"{situation}: reader moved to {reader.Consumed}");
    }
}
