namespace Sockeye.Protocol.Http;

/// <summary>RFC 9112 §6: Transfer-Encoding and Content-Length, read strictly, since a proxy and its origin must agree on where a body ends.</summary>
internal static class HttpFraming
{
    /// <summary>What Transfer-Encoding says, over every Transfer-Encoding field in order (RFC 9110 §5.3: they are one list).</summary>
    public enum TransferCoding
    {
        Absent,
        ChunkedFinal,
        OtherFinal,
        Invalid,
    }

    public static TransferCoding ReadTransferEncoding(HttpHeaderField[] fields)
    {
        bool present = false;
        bool anyCoding = false;
        bool chunkedSeen = false;
        bool chunkedLast = false;
        foreach (HttpHeaderField field in fields)
        {
            if (!field.Name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            present = true;
            ReadOnlySpan<char> rest = field.Value;
            while (!rest.IsEmpty)
            {
                int comma = rest.IndexOf(',');
                ReadOnlySpan<char> element = HttpSyntax.TrimWhitespace(comma < 0 ? rest : rest[..comma]);
                rest = comma < 0 ? [] : rest[(comma + 1)..];
                if (element.IsEmpty)
                {
                    continue; // RFC 9110 §5.6.1: empty list elements are ignored.
                }

                int semicolon = element.IndexOf(';');
                ReadOnlySpan<char> coding = HttpSyntax.TrimWhitespace(semicolon < 0 ? element : element[..semicolon]);
                if (!HttpSyntax.IsToken(coding))
                {
                    return TransferCoding.Invalid;
                }

                bool chunked = coding.Equals("chunked", StringComparison.OrdinalIgnoreCase);
                if (chunked && chunkedSeen)
                {
                    // RFC 9112 §6.1: chunked is applied at most once.
                    return TransferCoding.Invalid;
                }

                anyCoding = true;
                chunkedSeen |= chunked;
                chunkedLast = chunked;
            }
        }

        return !present ? TransferCoding.Absent
            : !anyCoding ? TransferCoding.Invalid
            : chunkedLast ? TransferCoding.ChunkedFinal
            : TransferCoding.OtherFinal;
    }

    /// <summary>
    /// RFC 9112 §6.3 item 5: every Content-Length field and every element of each must be the same 1*DIGIT, which
    /// fits a <see cref="long"/>. "5, 5" is one length sent twice; "5, 6", "5,", "+5", "-1" and "0x5" are refused.
    /// </summary>
    public static bool TryReadContentLength(HttpHeaderField[] fields, out bool present, out long length)
    {
        present = false;
        length = 0;
        foreach (HttpHeaderField field in fields)
        {
            if (!field.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            ReadOnlySpan<char> rest = field.Value;
            while (true)
            {
                int comma = rest.IndexOf(',');
                ReadOnlySpan<char> element = HttpSyntax.TrimWhitespace(comma < 0 ? rest : rest[..comma]);
                if (!TryParseDecimal(element, out long value) || (present && value != length))
                {
                    return false;
                }

                present = true;
                length = value;
                if (comma < 0)
                {
                    break;
                }

                rest = rest[(comma + 1)..];
            }
        }

        return true;
    }

    private static bool TryParseDecimal(ReadOnlySpan<char> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty)
        {
            return false;
        }

        foreach (char c in digits)
        {
            if (!char.IsAsciiDigit(c) || value > (long.MaxValue - (c - '0')) / 10)
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
