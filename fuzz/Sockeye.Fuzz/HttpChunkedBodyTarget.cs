using Sockeye.Protocol.Http;

namespace Sockeye.Fuzz;

/// <summary>
/// The chunked body tracker (<see cref="HttpChunkedBody"/>) fed arbitrary bytes whole and in pieces (cut where the
/// first byte says), and checked for what must hold whatever the bytes: no exception; consumed within the data, and
/// less than all of it only when the body completed; the same verdict and the same end whole as in pieces.
/// </summary>
public static class HttpChunkedBodyTarget
{
    /// <summary>Small limits, so that mutations reach them; every seed fits.</summary>
    private const int MaxLineLength = 64;

    private const int MaxTrailerLength = 256;

    /// <summary>Runs one input; returns whether it held a whole chunked body. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        int step = input.IsEmpty ? 1 : (input[0] % 16) + 1;
        var whole = new HttpChunkedBody(MaxLineLength, MaxTrailerLength);
        bool wholeOk = whole.TryAdvance(input, out int wholeConsumed, out HttpParseError wholeError);
        Check(wholeOk == (wholeError == HttpParseError.None), "result and error disagree");
        Check(wholeOk ? wholeConsumed <= input.Length && (wholeConsumed == input.Length || whole.IsComplete) : wholeConsumed == 0, "consumed is out of range");

        var pieces = new HttpChunkedBody(MaxLineLength, MaxTrailerLength);
        bool piecesOk = true;
        int total = 0;
        for (int start = 0; start < input.Length && piecesOk; start += step)
        {
            ReadOnlySpan<byte> piece = input.Slice(start, Math.Min(step, input.Length - start));
            piecesOk = pieces.TryAdvance(piece, out int consumed, out _);
            Check(consumed <= piece.Length && (!piecesOk || consumed == piece.Length || pieces.IsComplete), "a piece's consumed is out of range");
            total += consumed;
        }

        Check(wholeOk == piecesOk && whole.IsComplete == pieces.IsComplete, "whole and pieces disagree");
        Check(!wholeOk || wholeConsumed == total, "whole and pieces end the body at different bytes");

        // Decoding (for HTTP/1.0 clients) walks the same framing: same verdict, same end, data runs inside what it consumed.
        var decoder = new HttpChunkedBody(MaxLineLength, MaxTrailerLength);
        bool decodeOk = true;
        int decoded = 0;
        while (decodeOk && decoded < input.Length && !decoder.IsComplete)
        {
            decodeOk = decoder.TryDecode(input[decoded..], out int consumed, out int dataOffset, out int dataLength, out _);
            Check(!decodeOk || consumed > 0, "a decode step consumed nothing");
            Check(dataOffset >= 0 && dataLength >= 0 && dataOffset + dataLength <= consumed, "a data run lies outside what was consumed");
            decoded += consumed;
        }

        Check(decodeOk == wholeOk && decoder.IsComplete == whole.IsComplete, "decoding and tracking disagree");
        Check(!wholeOk || decoded == wholeConsumed, "decoding and tracking end the body at different bytes");
        return whole.IsComplete;
    }

    private static void Check(bool condition, string invariant)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(invariant);
        }
    }
}
