using System.Buffers;
using Sockeye.Protocol.Http;

namespace Sockeye.Fuzz;

/// <summary>
/// The HTTP response head parser (<see cref="HttpResponseHead.TryParse"/>) under the invariants of
/// <see cref="HttpRequestHeadTarget"/>: no exception, an unmoved reader on failure, one segment agreeing with two, a
/// bounded head whose prefixes ask for more, a round trip through the writer, framing that answers for every kind of
/// request without throwing, and a forwarded response that parses again.
/// </summary>
public static class HttpResponseHeadTarget
{
    private static readonly string[] Methods = ["GET", "HEAD", "CONNECT"];

    /// <summary>Runs one input; returns whether it held a head. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        HttpHeadLimits limits = HttpRequestHeadTarget.Limits;
        bool parsed = Parse(Segments.Of(bytes, split), limits, out HttpResponseHead? head, out HttpParseError error, out long consumed);
        bool whole = Parse(new ReadOnlySequence<byte>(bytes), limits, out HttpResponseHead? wholeHead, out HttpParseError wholeError, out _);
        Check(parsed == whole && error == wholeError && head?.Length == wholeHead?.Length, "two segments and one disagree");
        if (!parsed)
        {
            Check(consumed == 0, "a failed parse moved the reader");
            return false;
        }

        Check(error == HttpParseError.None, "a parsed head came with an error");
        Check(head!.Length == consumed && head.Length <= bytes.Length && head.Length <= limits.MaxHeadLength, "the head's length is not what was consumed, or past its bound");
        Check(head.StatusCode is >= 100 and <= 999 && head.Fields.Count <= limits.MaxFieldCount, "a status or field count out of range");
        Check(!Parse(new ReadOnlySequence<byte>(bytes, 0, head.Length - 1), limits, out _, out HttpParseError prefixError, out _) && prefixError == HttpParseError.None, "a proper prefix of a head did not ask for more");

        var output = new ArrayBufferWriter<byte>();
        head.Write(output);
        Check(Parse(new ReadOnlySequence<byte>(output.WrittenMemory), limits with { MaxHeadLength = int.MaxValue }, out HttpResponseHead? again, out _, out _), "a written head does not parse");
        Check(again!.StatusCode == head.StatusCode && again.ReasonPhrase == head.ReasonPhrase && again.Fields.SequenceEqual(head.Fields), "a head changed in a round trip");

        foreach (string method in Methods)
        {
            bool framed = head.TryGetBodyFraming(method, out HttpBodyFraming framing, out HttpParseError framingError);
            Check(framed == (framingError == HttpParseError.None), "framing's result and error disagree");
            Check(!framed || framing.ContentLength >= 0, "a negative length");
            Check(!framed || method != "HEAD" || framing.Kind == HttpBodyKind.None, "a body after HEAD");
        }

        output.Clear();
        int written = HttpProxyMessages.WriteForwardedResponse(head, head.KeepAlive, 0, HttpProxyMessages.DefaultVia, output);
        Check(Parse(new ReadOnlySequence<byte>(output.WrittenMemory), new HttpHeadLimits(int.MaxValue, int.MaxValue, int.MaxValue), out HttpResponseHead? forwarded, out _, out _), "a forwarded response does not parse");
        Check(forwarded!.Length == written && forwarded.StatusCode == head.StatusCode && forwarded.KeepAlive == head.KeepAlive, "a forwarded response changed its status or persistence");
        return true;
    }

    private static bool Parse(ReadOnlySequence<byte> sequence, in HttpHeadLimits limits, out HttpResponseHead? head, out HttpParseError error, out long consumed)
    {
        var reader = new SequenceReader<byte>(sequence);
        bool parsed = HttpResponseHead.TryParse(ref reader, limits, out head, out error);
        consumed = reader.Consumed;
        return parsed;
    }

    private static void Check(bool condition, string invariant)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(invariant);
        }
    }
}
