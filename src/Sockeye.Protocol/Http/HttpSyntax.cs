using System.Buffers;
using System.Text;

namespace Sockeye.Protocol.Http;

/// <summary>RFC 9110 §5.6's building blocks (tokens, whitespace, lists) and the byte classes the parsers scan with.</summary>
internal static class HttpSyntax
{
    public const byte CR = (byte)'\r';
    public const byte LF = (byte)'\n';
    public const byte SP = (byte)' ';
    public const byte HT = (byte)'\t';

    /// <summary>tchar (RFC 9110 §5.6.2): ALPHA, DIGIT and <c>!#$%&amp;'*+-.^_`|~</c>.</summary>
    public static readonly SearchValues<byte> TokenBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>The same set, as chars, for validating strings given to writers.</summary>
    public static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>
    /// Bytes a field line or status line may hold besides its line ending: HTAB, SP, VCHAR and obs-text
    /// (RFC 9110 §5.5). Everything else (NUL, other controls, DEL, a CR not followed by LF) can never be valid there.
    /// </summary>
    public static readonly SearchValues<byte> FieldLineBytes = SearchValues.Create(FieldLineByteTable());

    private static byte[] FieldLineByteTable()
    {
        var bytes = new List<byte> { HT };
        for (int b = 0x20; b <= 0xFF; b++)
        {
            if (b != 0x7F)
            {
                bytes.Add((byte)b);
            }
        }

        return [.. bytes];
    }

    public static bool IsToken(ReadOnlySpan<byte> span) => !span.IsEmpty && !span.ContainsAnyExcept(TokenBytes);

    public static bool IsToken(ReadOnlySpan<char> span) => !span.IsEmpty && !span.ContainsAnyExcept(TokenChars);

    public static bool IsWhitespace(char c) => c is ' ' or '\t';

    public static bool IsWhitespace(byte b) => b is SP or HT;

    /// <summary>Field-value characters: HTAB, SP, VCHAR, obs-text; no leading or trailing whitespace (parsed values are trimmed).</summary>
    public static bool IsFieldValue(ReadOnlySpan<char> value)
    {
        foreach (char c in value)
        {
            if (c > 0xFF || c == 0x7F || (c < 0x20 && c != '\t'))
            {
                return false;
            }
        }

        return value.IsEmpty || (!IsWhitespace(value[0]) && !IsWhitespace(value[^1]));
    }

    public static ReadOnlySpan<byte> TrimWhitespace(ReadOnlySpan<byte> span)
    {
        int start = 0;
        while (start < span.Length && IsWhitespace(span[start]))
        {
            start++;
        }

        int end = span.Length;
        while (end > start && IsWhitespace(span[end - 1]))
        {
            end--;
        }

        return span[start..end];
    }

    public static ReadOnlySpan<char> TrimWhitespace(ReadOnlySpan<char> span) => span.Trim(" \t");

    /// <summary>
    /// Whether a comma-separated list (RFC 9110 §5.6.1) has <paramref name="token"/> as an element, compared
    /// case-insensitively. Empty elements are skipped, as the RFC asks of recipients.
    /// </summary>
    public static bool ListContains(string value, string token)
    {
        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            int comma = rest.IndexOf(',');
            ReadOnlySpan<char> element = comma < 0 ? rest : rest[..comma];
            if (TrimWhitespace(element).Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            rest = comma < 0 ? [] : rest[(comma + 1)..];
        }

        return false;
    }

    /// <summary>Latin-1: every byte is one char, so obs-text survives a parse and a write unchanged.</summary>
    public static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);
}
