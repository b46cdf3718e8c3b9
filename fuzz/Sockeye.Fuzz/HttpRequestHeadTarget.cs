using System.Buffers;
using Sockeye.Protocol.Http;

namespace Sockeye.Fuzz;

/// <summary>
/// The HTTP request head parser (<see cref="HttpRequestHead.TryParse"/>) fed arbitrary bytes, split into two segments
/// where the first byte says, and checked for what must hold whatever the bytes: no exception; a reader that has not
/// moved unless a head was parsed; the same outcome from one segment as from two; a head within the input and the
/// limits, whose every proper prefix asks for more; a head that writes back and parses to the same parts; a target and
/// framing that answer without throwing; and a forwarded request that parses again with no hop-by-hop field.
/// </summary>
public static class HttpRequestHeadTarget
{
    /// <summary>Small limits, so that mutations reach them; every seed fits.</summary>
    public static readonly HttpHeadLimits Limits = new(256, 1024, 16);

    private static readonly string[] HopByHop = ["Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Upgrade"];

    /// <summary>Runs one input; returns whether it held a head. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        bool parsed = Parse(Segments.Of(bytes, split), out HttpRequestHead? head, out HttpParseError error, out long consumed);
        bool whole = Parse(new ReadOnlySequence<byte>(bytes), out HttpRequestHead? wholeHead, out HttpParseError wholeError, out _);
        Check(parsed == whole && error == wholeError && head?.Length == wholeHead?.Length, "two segments and one disagree");
        if (!parsed)
        {
            Check(consumed == 0, "a failed parse moved the reader");
            return false;
        }

        Check(error == HttpParseError.None, "a parsed head came with an error");
        Check(head!.Length == consumed && head.Length <= bytes.Length && head.Length <= Limits.MaxHeadLength, "the head's length is not what was consumed, or past its bound");
        Check(head.Fields.Count <= Limits.MaxFieldCount, "more fields than the limit");
        Check(head.MinorVersion is 0 or 1, "a version other than 1.0 or 1.1");
        Check(!Parse(new ReadOnlySequence<byte>(bytes, 0, head.Length - 1), out _, out HttpParseError prefixError, out _) && prefixError == HttpParseError.None, "a proper prefix of a head did not ask for more");

        var output = new ArrayBufferWriter<byte>();
        head.Write(output);
        Check(Parse(new ReadOnlySequence<byte>(output.WrittenMemory), out HttpRequestHead? again, out _, out _), "a written head does not parse");
        Check(Same(head, again!), "a head changed in a round trip");

        bool framed = head.TryGetBodyFraming(out HttpBodyFraming framing, out HttpParseError framingError);
        Check(framed == (framingError == HttpParseError.None), "framing's result and error disagree");
        Check(!framed || framing.Kind != HttpBodyKind.UntilClose, "a request delimited by the close");
        if (head.TryGetTarget(out HttpRequestTarget target, out HttpParseError targetError))
        {
            Check(targetError == HttpParseError.None && target.Host.Length is > 0 and <= 255 && target.Port != 0, "a target without a host or port");
            Check(head.IsConnect == (target.PathAndQuery.Length == 0), "a path for CONNECT, or none for another method");
            if (!head.IsConnect)
            {
                CheckForwarded(head, target);
            }
        }
        else
        {
            Check(targetError != HttpParseError.None, "a refused target without an error");
        }

        return true;
    }

    private static void CheckForwarded(HttpRequestHead head, HttpRequestTarget target)
    {
        var output = new ArrayBufferWriter<byte>();
        int written = HttpProxyMessages.WriteForwardedRequest(head, target, HttpProxyMessages.DefaultVia, output);
        var unbounded = new HttpHeadLimits(int.MaxValue, int.MaxValue, int.MaxValue);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(output.WrittenMemory));
        Check(HttpRequestHead.TryParse(ref reader, unbounded, out HttpRequestHead? forwarded, out _), "a forwarded request does not parse");
        Check(forwarded!.Length == written && forwarded.MinorVersion == 1 && forwarded.Method == head.Method, "a forwarded request's line changed");
        Check(forwarded.GetField("Host") == target.Authority, "a forwarded request's Host is not the target's");
        foreach (HttpHeaderField field in forwarded.Fields)
        {
            Check(Array.FindIndex(HopByHop, h => h.Equals(field.Name, StringComparison.OrdinalIgnoreCase)) < 0, "a hop-by-hop field was forwarded");
        }
    }

    private static bool Parse(ReadOnlySequence<byte> sequence, out HttpRequestHead? head, out HttpParseError error, out long consumed)
    {
        var reader = new SequenceReader<byte>(sequence);
        bool parsed = HttpRequestHead.TryParse(ref reader, Limits, out head, out error);
        consumed = reader.Consumed;
        return parsed;
    }

    private static bool Same(HttpRequestHead a, HttpRequestHead b)
    {
        if (a.Method != b.Method || a.Target != b.Target || a.MinorVersion != b.MinorVersion || a.KeepAlive != b.KeepAlive || a.Fields.Count != b.Fields.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Fields.Count; i++)
        {
            if (a.Fields[i] != b.Fields[i])
            {
                return false;
            }
        }

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
