namespace Sockeye.Protocol.Http;

/// <summary>
/// Tracks the chunked transfer coding (RFC 9112 §7.1) over bytes the caller passes through verbatim: the proxy does
/// not re-chunk, it only has to know where the body ends so that the next message on the connection starts there.
/// </summary>
/// <remarks>
/// <code>
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// chunk-size   = 1*HEXDIG                       last-chunk = 1*("0") [ chunk-ext ] CRLF
/// chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// trailer-section = *( field-line CRLF )
/// </code>
/// Unlike a head, whose lines are re-written with CRLF, these bytes reach the other side unchanged, so every line
/// must end in CRLF: a bare LF that this side took for a line end and the other side did not is how chunked bodies are
/// smuggled. Extensions are checked for their bytes only (no controls), trailer fields for a token name and a colon.
/// A mutable struct: keep it in a field or a local and pass it by reference. Allocates nothing.
/// </remarks>
public struct HttpChunkedBody
{
    /// <summary>The longest chunk-size line by default, extensions and CRLF included: 4 KiB.</summary>
    public const int DefaultMaxLineLength = 4096;

    /// <summary>The longest trailer section by default, its final CRLF included: 16 KiB, the default head limit.</summary>
    public const int DefaultMaxTrailerLength = 16 * 1024;

    private readonly int _maxLineLength;
    private readonly int _maxTrailerLength;
    private State _state;
    private long _remaining;
    private int _lineLength;
    private int _trailerLength;

    /// <summary>A tracker with the default limits, as <c>default(HttpChunkedBody)</c> is.</summary>
    public HttpChunkedBody()
        : this(DefaultMaxLineLength, DefaultMaxTrailerLength)
    {
    }

    /// <summary>A tracker with its own limits.</summary>
    /// <param name="maxLineLength">The longest chunk-size line, extensions and CRLF included.</param>
    /// <param name="maxTrailerLength">The longest trailer section, the final CRLF included.</param>
    /// <exception cref="ArgumentOutOfRangeException">A limit is less than 3 (the shortest line, "0\r\n", and the shortest trailer section, "\r\n").</exception>
    public HttpChunkedBody(int maxLineLength, int maxTrailerLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 3);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTrailerLength, 2);
        _maxLineLength = maxLineLength;
        _maxTrailerLength = maxTrailerLength;
    }

    private enum State : byte
    {
        Size,
        SizeWhitespace,
        Extension,
        SizeLf,
        Data,
        DataCr,
        DataLf,
        TrailerLineStart,
        TrailerName,
        TrailerValue,
        TrailerLf,
        FinalLf,
        Complete,
        Failed,
    }

    /// <summary>Whether the body has ended: the last chunk, the trailers and the final CRLF have all been seen.</summary>
    public readonly bool IsComplete => _state == State.Complete;

    // default(HttpChunkedBody) has zero limits: it means the defaults.
    private readonly int MaxLineLength => _maxLineLength == 0 ? DefaultMaxLineLength : _maxLineLength;

    private readonly int MaxTrailerLength => _maxTrailerLength == 0 ? DefaultMaxTrailerLength : _maxTrailerLength;

    /// <summary>
    /// Scans <paramref name="data"/>, the bytes that follow those already seen. <see langword="true"/>:
    /// <paramref name="consumed"/> bytes belong to the body: all of <paramref name="data"/>, or fewer when the body
    /// ends inside it (<see cref="IsComplete"/> is then set, and the rest is the next message). Once complete, it
    /// consumes nothing. <see langword="false"/> with <see cref="HttpParseError.InvalidChunk"/>: the framing is broken
    /// (a bad hex digit, a size past <see cref="long.MaxValue"/>, no CRLF after the data, a bare LF, a control byte, a
    /// line or trailer section past its limit); <paramref name="consumed"/> is 0 and every later call fails the same way.
    /// </summary>
    public bool TryAdvance(ReadOnlySpan<byte> data, out int consumed, out HttpParseError error) =>
        Scan(data, stopAfterData: false, out consumed, out _, out _, out error);

    /// <summary>
    /// As <see cref="TryAdvance"/>, for a reader that needs the body's data without its framing (a proxy passing a chunked
    /// body to an HTTP/1.0 client, which cannot read chunks): it stops after at most one run of data, and says where that
    /// run lies in <paramref name="data"/>. Call it again with the rest until all of <paramref name="data"/> is consumed or
    /// the body is complete. <paramref name="dataLength"/> is 0 when the bytes consumed were framing only.
    /// </summary>
    public bool TryDecode(ReadOnlySpan<byte> data, out int consumed, out int dataOffset, out int dataLength, out HttpParseError error) =>
        Scan(data, stopAfterData: true, out consumed, out dataOffset, out dataLength, out error);

    /// <summary>
    /// Walks the framing over <paramref name="data"/>; a run of data is skipped whole, and with
    /// <paramref name="stopAfterData"/> the walk ends after the first one, which it reports.
    /// </summary>
    private bool Scan(ReadOnlySpan<byte> data, bool stopAfterData, out int consumed, out int dataOffset, out int dataLength, out HttpParseError error)
    {
        consumed = 0;
        dataOffset = 0;
        dataLength = 0;
        error = HttpParseError.None;
        if (_state == State.Complete)
        {
            return true;
        }

        if (_state == State.Failed)
        {
            error = HttpParseError.InvalidChunk;
            return false;
        }

        int i = 0;
        while (i < data.Length)
        {
            if (_state == State.Data)
            {
                // The data is the bulk of a body: skip it whole, not byte by byte.
                int take = (int)Math.Min(_remaining, data.Length - i);
                dataOffset = i;
                dataLength = take;
                i += take;
                _remaining -= take;
                if (_remaining == 0)
                {
                    _state = State.DataCr;
                }

                if (stopAfterData)
                {
                    break;
                }

                continue;
            }

            if (!Step(data[i]))
            {
                _state = State.Failed;
                error = HttpParseError.InvalidChunk;
                return false;
            }

            i++;
            if (_state == State.Complete)
            {
                break;
            }
        }

        consumed = i;
        return true;
    }

    private bool Step(byte b)
    {
        switch (_state)
        {
            case State.Size:
            case State.SizeWhitespace:
            case State.Extension:
            case State.SizeLf:
                if (++_lineLength > MaxLineLength)
                {
                    return false;
                }

                return StepSizeLine(b);
            case State.DataCr:
                return Expect(b, HttpSyntax.CR, State.DataLf);
            case State.DataLf:
                _remaining = 0;
                _lineLength = 0;
                return Expect(b, HttpSyntax.LF, State.Size);
            default:
                if (++_trailerLength > MaxTrailerLength)
                {
                    return false;
                }

                return StepTrailer(b);
        }
    }

    private bool StepSizeLine(byte b)
    {
        switch (_state)
        {
            case State.Size:
                int digit = HexValue(b);
                if (digit >= 0)
                {
                    if (_remaining > (long.MaxValue >> 4))
                    {
                        return false;
                    }

                    _remaining = (_remaining << 4) | (long)digit;
                    return true;
                }

                // At least one digit: the line's first byte is the only one counted so far.
                if (_lineLength == 1)
                {
                    return false;
                }

                return b switch
                {
                    HttpSyntax.SP or HttpSyntax.HT => Move(State.SizeWhitespace),
                    (byte)';' => Move(State.Extension),
                    HttpSyntax.CR => Move(State.SizeLf),
                    _ => false,
                };
            case State.SizeWhitespace:
                // BWS is allowed only before an extension's ";".
                return b switch
                {
                    HttpSyntax.SP or HttpSyntax.HT => true,
                    (byte)';' => Move(State.Extension),
                    _ => false,
                };
            case State.Extension:
                return b == HttpSyntax.CR ? Move(State.SizeLf) : IsFieldByte(b);
            default:
                if (b != HttpSyntax.LF)
                {
                    return false;
                }

                _lineLength = 0;
                return Move(_remaining == 0 ? State.TrailerLineStart : State.Data);
        }
    }

    private bool StepTrailer(byte b)
    {
        switch (_state)
        {
            case State.TrailerLineStart:
                // RFC 9112 §5.2: a line starting with whitespace would be obs-fold; refused as in a head.
                return b == HttpSyntax.CR ? Move(State.FinalLf) : IsTokenByte(b) && Move(State.TrailerName);
            case State.TrailerName:
                return b == (byte)':' ? Move(State.TrailerValue) : IsTokenByte(b);
            case State.TrailerValue:
                return b == HttpSyntax.CR ? Move(State.TrailerLf) : IsFieldByte(b);
            case State.TrailerLf:
                return Expect(b, HttpSyntax.LF, State.TrailerLineStart);
            default:
                return Expect(b, HttpSyntax.LF, State.Complete);
        }
    }

    private bool Expect(byte b, byte expected, State next) => b == expected && Move(next);

    private bool Move(State next)
    {
        _state = next;
        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    /// <summary>HTAB, SP, VCHAR, obs-text.</summary>
    private static bool IsFieldByte(byte b) => HttpSyntax.FieldLineBytes.Contains(b);

    private static bool IsTokenByte(byte b) => HttpSyntax.TokenBytes.Contains(b);
}
