using System.Buffers;
using static Sockeye.Protocol.Http.HttpSyntax;

namespace Sockeye.Protocol.Http;

/// <summary>What a parsed start line and field lines hold, before they become a request or response head.</summary>
internal readonly struct HeadParts
{
    public HeadParts(string first, string second, int minorVersion, int statusCode, HttpHeaderField[] fields, int length)
    {
        First = first;
        Second = second;
        MinorVersion = minorVersion;
        StatusCode = statusCode;
        Fields = fields;
        Length = length;
    }

    /// <summary>The method of a request; the reason phrase of a response.</summary>
    public string First { get; }

    /// <summary>The request-target of a request; "" for a response.</summary>
    public string Second { get; }

    public int MinorVersion { get; }

    public int StatusCode { get; }

    public HttpHeaderField[] Fields { get; }

    public int Length { get; }
}

/// <summary>
/// The head parser both messages share (RFC 9112 §2–§5):
/// <code>
/// HTTP-message = start-line CRLF *( field-line CRLF ) CRLF
/// request-line = method SP request-target SP HTTP-version
/// status-line  = HTTP-version SP status-code SP [ reason-phrase ]
/// field-line   = field-name ":" OWS field-value OWS
/// </code>
/// It works in two passes over one contiguous span: the first finds the end of the head and checks every line,
/// allocating nothing, so a client that drips its head in a byte at a time costs a scan per read and no garbage; the
/// second, once the head is whole and valid, builds the strings.
/// </summary>
/// <remarks>
/// Every check is made in byte order and each decides as soon as its bytes are in: a line is refused at its first byte
/// that no line of its kind may hold (a control, DEL, a bare CR), at the limit that it runs past without a line end,
/// or, once its end is in, for its grammar. So an input's outcome never changes as more bytes arrive: need-more, then
/// one result for good. Bare LF ends a line, as RFC 9112 §2.2 allows; the head is re-serialised with CRLF when it is
/// forwarded, so no other reader ever sees the bare LF.
/// </remarks>
internal static class HttpHeadParser
{
    /// <summary>RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line. A few, not a flood.</summary>
    public const int MaxLeadingEmptyLines = 4;

    private enum LineScan
    {
        Complete,
        NeedMore,
        Invalid,
        Limit,
    }

    public static bool TryParse(ref SequenceReader<byte> reader, in HttpHeadLimits limits, bool request, out HeadParts parts, out HttpParseError error)
    {
        limits.Validate();
        parts = default;
        ReadOnlySequence<byte> unread = reader.UnreadSequence;
        if (unread.Length > limits.MaxHeadLength)
        {
            // Bytes past the limit can only be part of a head that is too large, or of what follows one.
            unread = unread.Slice(0, limits.MaxHeadLength);
        }

        if (unread.IsSingleSegment)
        {
            return TryParse(unread.FirstSpan, limits, request, ref reader, out parts, out error);
        }

        int length = (int)unread.Length;
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            unread.CopyTo(rented);
            return TryParse(rented.AsSpan(0, length), limits, request, ref reader, out parts, out error);
        }
        finally
        {
            // Heads can carry credentials (Proxy-Authorization): leave none in a shared pool.
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    private static bool TryParse(ReadOnlySpan<byte> buffer, in HttpHeadLimits limits, bool request, ref SequenceReader<byte> reader, out HeadParts parts, out HttpParseError error)
    {
        parts = default;
        int length = Scan(buffer, limits, request, out int fieldCount, out error);
        if (length == 0)
        {
            return false;
        }

        parts = Build(buffer[..length], request, fieldCount);
        reader.Advance(length);
        return true;
    }

    /// <summary>The first pass: the head's length, or 0 with <paramref name="error"/> (None: need more).</summary>
    private static int Scan(ReadOnlySpan<byte> buffer, in HttpHeadLimits limits, bool request, out int fieldCount, out HttpParseError error)
    {
        fieldCount = 0;
        error = HttpParseError.None;
        int headEnd = limits.MaxHeadLength;
        int position = 0;
        for (int empty = 0; ; empty++)
        {
            if (position >= buffer.Length)
            {
                return Incomplete(position >= headEnd, HttpParseError.HeadTooLarge, out error);
            }

            if (buffer[position] is not (CR or LF))
            {
                break;
            }

            if (empty == MaxLeadingEmptyLines)
            {
                return Fail(HttpParseError.Malformed, out error);
            }

            LineScan leading = ScanLine(buffer, position, headEnd, request, out _, out position);
            if (leading != LineScan.Complete)
            {
                return FromScan(leading, HttpParseError.HeadTooLarge, out error);
            }
        }

        // The start line: its own limit, unless the head's comes first.
        long lineLimit = (long)position + limits.MaxRequestLineLength;
        HttpParseError tooLong = lineLimit <= headEnd ? HttpParseError.RequestLineTooLong : HttpParseError.HeadTooLarge;
        int lineStart = position;
        int lineLimitEnd = (int)Math.Min(lineLimit, headEnd);
        if (!StartsLikeAStartLine(buffer[lineStart..Math.Min(buffer.Length, lineLimitEnd)], request))
        {
            return Fail(HttpParseError.Malformed, out error);
        }

        LineScan scan = ScanLine(buffer, lineStart, lineLimitEnd, request, out int lineEnd, out position);
        if (scan != LineScan.Complete)
        {
            return FromScan(scan, tooLong, out error);
        }

        error = request
            ? ParseRequestLine(buffer[lineStart..lineEnd], out _, out _, out _)
            : ParseStatusLine(buffer[lineStart..lineEnd], out _, out _, out _);
        if (error != HttpParseError.None)
        {
            return 0;
        }

        while (true)
        {
            if (position >= buffer.Length)
            {
                return Incomplete(position >= headEnd, HttpParseError.HeadTooLarge, out error);
            }

            byte first = buffer[position];
            if (first is CR or LF)
            {
                scan = ScanLine(buffer, position, headEnd, strict: false, out _, out position);
                return scan == LineScan.Complete ? position : FromScan(scan, HttpParseError.HeadTooLarge, out error);
            }

            // RFC 9112 §5.2: obs-fold (and whitespace before the first field) is refused, never unfolded.
            if (IsWhitespace(first))
            {
                return Fail(HttpParseError.Malformed, out error);
            }

            if (fieldCount == limits.MaxFieldCount)
            {
                return Fail(HttpParseError.HeadTooLarge, out error);
            }

            lineStart = position;
            scan = ScanLine(buffer, lineStart, headEnd, strict: false, out lineEnd, out position);
            if (scan != LineScan.Complete)
            {
                return FromScan(scan, HttpParseError.HeadTooLarge, out error);
            }

            if (!TrySplitFieldLine(buffer[lineStart..lineEnd], out _, out _))
            {
                return Fail(HttpParseError.Malformed, out error);
            }

            fieldCount++;
        }
    }

    /// <summary>
    /// Whether the start line's first bytes, however few are in, can still begin a request line (a token, then SP) or
    /// a status line ("HTTP/"): so a peer speaking something else (TLS, SOCKS, HTML) is refused at once, not after a
    /// line's worth of bytes or a timeout. Checked before the line scan, on the bytes within the line limit only, so it
    /// decides the same way whatever has arrived: the grammar check of the whole line would refuse these bytes too.
    /// </summary>
    private static bool StartsLikeAStartLine(ReadOnlySpan<byte> available, bool request)
    {
        if (!request)
        {
            ReadOnlySpan<byte> prefix = available[..Math.Min(available.Length, 5)];
            return prefix.SequenceEqual("HTTP/"u8[..prefix.Length]);
        }

        int space = available.IndexOf(SP);
        return space != 0 && !(space < 0 ? available : available[..space]).ContainsAnyExcept(TokenBytes);
    }

    /// <summary>
    /// Finds the end of the line starting at <paramref name="start"/>: its content ends at <paramref name="contentEnd"/>
    /// and the next line starts at <paramref name="next"/>. The line ending must lie before <paramref name="limitEnd"/>.
    /// <paramref name="strict"/> (request lines) allows only SP and VCHAR; otherwise HTAB and obs-text too.
    /// </summary>
    private static LineScan ScanLine(ReadOnlySpan<byte> buffer, int start, int limitEnd, bool strict, out int contentEnd, out int next)
    {
        contentEnd = next = start;
        int end = Math.Min(buffer.Length, limitEnd);
        ReadOnlySpan<byte> line = buffer[start..end];
        int index = strict ? line.IndexOfAnyExceptInRange((byte)0x20, (byte)0x7E) : line.IndexOfAnyExcept(FieldLineBytes);
        if (index < 0)
        {
            return end == limitEnd ? LineScan.Limit : LineScan.NeedMore;
        }

        int at = start + index;
        switch (buffer[at])
        {
            case LF:
                contentEnd = at;
                next = at + 1;
                return LineScan.Complete;
            case CR when at + 1 >= end:
                // The LF that would end the line is not in: past the limit, or not yet arrived.
                return at + 1 >= limitEnd ? LineScan.Limit : LineScan.NeedMore;
            case CR when buffer[at + 1] == LF:
                contentEnd = at;
                next = at + 2;
                return LineScan.Complete;
            default:
                // A bare CR (RFC 9112 §2.2) or a byte no line of this kind may hold.
                return LineScan.Invalid;
        }
    }

    private static int FromScan(LineScan scan, HttpParseError limit, out HttpParseError error) => scan switch
    {
        LineScan.NeedMore => Incomplete(false, limit, out error),
        LineScan.Limit => Fail(limit, out error),
        _ => Fail(HttpParseError.Malformed, out error),
    };

    private static int Incomplete(bool atLimit, HttpParseError limit, out HttpParseError error)
    {
        error = atLimit ? limit : HttpParseError.None;
        return 0;
    }

    private static int Fail(HttpParseError reason, out HttpParseError error)
    {
        error = reason;
        return 0;
    }

    /// <summary>request-line = method SP request-target SP HTTP-version; the bytes are SP and VCHAR already.</summary>
    private static HttpParseError ParseRequestLine(ReadOnlySpan<byte> line, out Range method, out Range target, out int minorVersion)
    {
        method = target = default;
        minorVersion = 0;
        int firstSpace = line.IndexOf(SP);
        if (firstSpace <= 0 || !IsToken(line[..firstSpace]))
        {
            return HttpParseError.Malformed;
        }

        int targetStart = firstSpace + 1;
        int secondSpace = line[targetStart..].IndexOf(SP);
        if (secondSpace <= 0)
        {
            return HttpParseError.Malformed;
        }

        method = ..firstSpace;
        target = targetStart..(targetStart + secondSpace);
        return ParseVersion(line[(targetStart + secondSpace + 1)..], out minorVersion);
    }

    /// <summary>
    /// status-line = HTTP-version SP status-code SP [ reason-phrase ]. The SP before an empty reason is accepted
    /// missing, as llhttp and browsers do: origins send "HTTP/1.1 200\r\n".
    /// </summary>
    private static HttpParseError ParseStatusLine(ReadOnlySpan<byte> line, out int minorVersion, out int statusCode, out Range reason)
    {
        statusCode = 0;
        reason = default;
        HttpParseError error = ParseVersion(line[..Math.Min(line.Length, 8)], out minorVersion);
        if (error != HttpParseError.None)
        {
            return error;
        }

        if (line.Length < 12 || line[8] != SP || line[9] is < (byte)'1' or > (byte)'9' || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11]))
        {
            return HttpParseError.Malformed;
        }

        statusCode = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        if (line.Length == 12)
        {
            reason = 12..12;
            return HttpParseError.None;
        }

        if (line[12] != SP)
        {
            return HttpParseError.Malformed;
        }

        reason = 13..line.Length;
        return HttpParseError.None;
    }

    /// <summary>HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive; only 1.0 and 1.1 are spoken.</summary>
    private static HttpParseError ParseVersion(ReadOnlySpan<byte> version, out int minorVersion)
    {
        minorVersion = 0;
        if (version.Length != 8 || !version.StartsWith("HTTP/"u8) || !char.IsAsciiDigit((char)version[5]) || version[6] != (byte)'.' || !char.IsAsciiDigit((char)version[7]))
        {
            return HttpParseError.Malformed;
        }

        if (version[5] != (byte)'1' || version[7] > (byte)'1')
        {
            return HttpParseError.UnsupportedVersion;
        }

        minorVersion = version[7] - '0';
        return HttpParseError.None;
    }

    /// <summary>
    /// field-line = field-name ":" OWS field-value OWS. RFC 9112 §5.1: no whitespace between the name and the colon
    /// (a smuggling vector); the name is a token. The value's bytes were checked by the line scan.
    /// </summary>
    private static bool TrySplitFieldLine(ReadOnlySpan<byte> line, out Range name, out Range value)
    {
        name = value = default;
        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !IsToken(line[..colon]))
        {
            return false;
        }

        int start = colon + 1;
        int end = line.Length;
        while (start < end && IsWhitespace(line[start]))
        {
            start++;
        }

        while (end > start && IsWhitespace(line[end - 1]))
        {
            end--;
        }

        name = ..colon;
        value = start..end;
        return true;
    }

    /// <summary>The second pass over a head the first pass found whole and valid.</summary>
    private static HeadParts Build(ReadOnlySpan<byte> head, bool request, int fieldCount)
    {
        int position = 0;
        while (head[position] is CR or LF)
        {
            position++;
        }

        ReadOnlySpan<byte> line = NextLine(head, ref position);
        string first;
        string second = "";
        int minorVersion;
        int statusCode = 0;
        if (request)
        {
            _ = ParseRequestLine(line, out Range method, out Range target, out minorVersion);
            first = Method(line[method]);
            second = Latin1(line[target]);
        }
        else
        {
            _ = ParseStatusLine(line, out minorVersion, out statusCode, out Range reason);
            first = Latin1(line[reason]);
        }

        var fields = new HttpHeaderField[fieldCount];
        for (int i = 0; i < fields.Length; i++)
        {
            line = NextLine(head, ref position);
            _ = TrySplitFieldLine(line, out Range name, out Range value);
            fields[i] = new HttpHeaderField(Latin1(line[name]), Latin1(line[value]));
        }

        return new HeadParts(first, second, minorVersion, statusCode, fields, head.Length);
    }

    private static ReadOnlySpan<byte> NextLine(ReadOnlySpan<byte> head, ref int position)
    {
        int lf = head[position..].IndexOf(LF);
        int end = position + lf;
        ReadOnlySpan<byte> line = head[position..(end > position && head[end - 1] == CR ? end - 1 : end)];
        position = end + 1;
        return line;
    }

    /// <summary>The common methods as literals: no string per request for them, and <c>IsConnect</c> compares a constant.</summary>
    private static string Method(ReadOnlySpan<byte> method) => method switch
    {
        _ when method.SequenceEqual("GET"u8) => "GET",
        _ when method.SequenceEqual("CONNECT"u8) => "CONNECT",
        _ when method.SequenceEqual("POST"u8) => "POST",
        _ when method.SequenceEqual("HEAD"u8) => "HEAD",
        _ when method.SequenceEqual("PUT"u8) => "PUT",
        _ when method.SequenceEqual("DELETE"u8) => "DELETE",
        _ when method.SequenceEqual("OPTIONS"u8) => "OPTIONS",
        _ when method.SequenceEqual("PATCH"u8) => "PATCH",
        _ => Latin1(method),
    };
}
