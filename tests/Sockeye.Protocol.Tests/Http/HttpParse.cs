using System.Buffers;
using System.Text;
using Sockeye.Protocol.Http;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Http;

/// <summary>One parse's outcome as a value, so that parses of the same bytes split differently can be compared.</summary>
internal readonly record struct HeadOutcome(bool Parsed, HttpParseError Error, long Consumed, string Summary);

/// <summary>Drives the head parsers over text and over sequences, and checks the reader contract of STYLE.md 2.9.</summary>
internal static class HttpParse
{
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    public static HttpRequestHead Request(string text, HttpHeadLimits? limits = null)
    {
        HeadOutcome outcome = RequestOutcome(new ReadOnlySequence<byte>(Bytes(text)), limits ?? HttpHeadLimits.Default, out HttpRequestHead? head);
        Assert.True(outcome.Parsed, $"not parsed: {outcome.Error}");
        return head!;
    }

    public static HttpResponseHead Response(string text, HttpHeadLimits? limits = null)
    {
        HeadOutcome outcome = ResponseOutcome(new ReadOnlySequence<byte>(Bytes(text)), limits ?? HttpHeadLimits.Default, out HttpResponseHead? head);
        Assert.True(outcome.Parsed, $"not parsed: {outcome.Error}");
        return head!;
    }

    public static HeadOutcome RequestOutcome(ReadOnlySequence<byte> sequence, in HttpHeadLimits limits, out HttpRequestHead? head)
    {
        var reader = new SequenceReader<byte>(sequence);
        bool parsed = HttpRequestHead.TryParse(ref reader, limits, out head, out HttpParseError error);
        CheckContract(parsed, error, reader.Consumed, head?.Length);
        return new HeadOutcome(parsed, error, reader.Consumed, head is null ? "" : Summarize(head));
    }

    public static HeadOutcome ResponseOutcome(ReadOnlySequence<byte> sequence, in HttpHeadLimits limits, out HttpResponseHead? head)
    {
        var reader = new SequenceReader<byte>(sequence);
        bool parsed = HttpResponseHead.TryParse(ref reader, limits, out head, out HttpParseError error);
        CheckContract(parsed, error, reader.Consumed, head?.Length);
        return new HeadOutcome(parsed, error, reader.Consumed, head is null ? "" : Summarize(head));
    }

    public static HeadOutcome RequestOutcome(byte[] bytes, in HttpHeadLimits limits) => RequestOutcome(new ReadOnlySequence<byte>(bytes), limits, out _);

    public static HeadOutcome ResponseOutcome(byte[] bytes, in HttpHeadLimits limits) => ResponseOutcome(new ReadOnlySequence<byte>(bytes), limits, out _);

    public static HttpParseError RequestError(string text, HttpHeadLimits? limits = null) => RequestOutcome(Bytes(text), limits ?? HttpHeadLimits.Default).Error;

    public static HttpParseError ResponseError(string text, HttpHeadLimits? limits = null) => ResponseOutcome(Bytes(text), limits ?? HttpHeadLimits.Default).Error;

    /// <summary>
    /// The whole message parses at every split point, one byte per segment and after a consumed byte, and every proper
    /// prefix asks for more with the reader unmoved.
    /// </summary>
    public static void ParsesAtEverySplitAndNeedsMoreBefore(string text, bool request)
    {
        byte[] message = Bytes(text);
        HttpHeadLimits limits = HttpHeadLimits.Default;
        HeadOutcome whole = Outcome(new ReadOnlySequence<byte>(message), 0, limits, request);
        Assert.True(whole.Parsed, $"not parsed: {whole.Error}");
        Assert.Equal(message.Length, whole.Consumed);
        for (int split = 0; split <= message.Length; split++)
        {
            Assert.Equal(whole, Outcome(Sequences.SplitAt(message, split), 0, limits, request));
        }

        Assert.Equal(whole, Outcome(Sequences.OneBytePerSegment(message), 0, limits, request));
        HeadOutcome afterLead = Outcome(Sequences.Create([ParserAssert.LeadByte], message), 1, limits, request);
        Assert.Equal(whole with { Consumed = whole.Consumed + 1 }, afterLead);
        byte[] pipelined = [.. message, .. "GET http://next/ HTTP/1.1\r\n"u8];
        Assert.Equal(whole, Outcome(Sequences.SplitAt(pipelined, message.Length / 2), 0, limits, request));
        for (int length = 0; length < message.Length; length++)
        {
            HeadOutcome prefix = Outcome(Sequences.SplitAt(message[..length], length / 2), 0, limits, request);
            Assert.True(!prefix.Parsed && prefix.Error == HttpParseError.None, $"prefix of {length}: {prefix}");
        }
    }

    /// <summary>The bytes are refused with <paramref name="expected"/> however they are segmented, the reader unmoved.</summary>
    public static void Rejects(string text, bool request, HttpParseError expected, HttpHeadLimits? limits = null)
    {
        byte[] bytes = Bytes(text);
        HttpHeadLimits bounds = limits ?? HttpHeadLimits.Default;
        Assert.Equal(expected, Outcome(new ReadOnlySequence<byte>(bytes), 0, bounds, request).Error);
        Assert.Equal(expected, Outcome(Sequences.OneBytePerSegment(bytes), 0, bounds, request).Error);
        Assert.Equal(expected, Outcome(Sequences.Create([ParserAssert.LeadByte], bytes), 1, bounds, request).Error);
    }

    public static HeadOutcome Outcome(ReadOnlySequence<byte> sequence, int lead, in HttpHeadLimits limits, bool request)
    {
        ReadOnlySequence<byte> rest = sequence.Slice(lead);
        if (lead == 0)
        {
            return request ? RequestOutcome(sequence, limits, out _) : ResponseOutcome(sequence, limits, out _);
        }

        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        HttpParseError error;
        bool parsed;
        string summary;
        if (request)
        {
            parsed = HttpRequestHead.TryParse(ref reader, limits, out HttpRequestHead? head, out error);
            summary = head is null ? "" : Summarize(head);
        }
        else
        {
            parsed = HttpResponseHead.TryParse(ref reader, limits, out HttpResponseHead? head, out error);
            summary = head is null ? "" : Summarize(head);
        }

        Assert.True(parsed || reader.Consumed == lead, $"a failed parse moved the reader ({rest.Length} bytes)");
        return new HeadOutcome(parsed, error, reader.Consumed, summary);
    }

    public static string Summarize(HttpRequestHead head) =>
        $"{head.Method}|{head.Target}|{head.MinorVersion}|{head.Length}|{string.Join("|", head.Fields.Select(f => $"{f.Name}={f.Value}"))}";

    public static string Summarize(HttpResponseHead head) =>
        $"{head.MinorVersion}|{head.StatusCode}|{head.ReasonPhrase}|{head.Length}|{string.Join("|", head.Fields.Select(f => $"{f.Name}={f.Value}"))}";

    public static byte[] Write(HttpRequestHead head)
    {
        var output = new ArrayBufferWriter<byte>();
        int written = head.Write(output);
        Assert.Equal(output.WrittenCount, written);
        return output.WrittenSpan.ToArray();
    }

    public static byte[] Write(HttpResponseHead head)
    {
        var output = new ArrayBufferWriter<byte>();
        int written = head.Write(output);
        Assert.Equal(output.WrittenCount, written);
        return output.WrittenSpan.ToArray();
    }

    private static void CheckContract(bool parsed, HttpParseError error, long consumed, int? length)
    {
        if (parsed)
        {
            Assert.Equal(HttpParseError.None, error);
            Assert.Equal(length, (int)consumed);
        }
        else
        {
            Assert.Equal(0, consumed);
        }
    }
}
