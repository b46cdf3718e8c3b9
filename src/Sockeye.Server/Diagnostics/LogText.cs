using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Server.Diagnostics;

/// <summary>
/// Makes text a client chose (a domain name, a user name) safe to write into a log line. Operators read logs in
/// terminals: raw, such text could clear the screen (ESC sequences), overwrite or forge lines (CR, LF, NEL, U+2028),
/// or show a line in another order than it is stored (bidi overrides). Issue 17, item 6.
/// </summary>
internal static class LogText
{
    private static readonly SearchValues<char> NeedEscaping = SearchValues.Create(CharactersToEscape());

    /// <summary>
    /// <paramref name="text"/> itself when it has nothing to escape, which is the usual case and costs no copy.
    /// Otherwise a copy in which each C0 or C1 control, DEL, line or paragraph separator and bidi control character is
    /// written as <c>\xNN</c> (up to U+00FF) or <c>\u{NNNN}</c>, and each backslash as <c>\\</c>, so that the escaped
    /// text still reads back to exactly the original.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Escape(string? text)
    {
        if (text is null)
        {
            return null;
        }

        int first = text.AsSpan().IndexOfAny(NeedEscaping);
        return first < 0 ? text : EscapeFrom(text, first);
    }

    /// <summary>A destination as log lines show it ("example.com:443", "[2001:db8::1]:443"), escaped.</summary>
    public static string Destination(Socks5Address address, ushort port) => Escape(address.ToString(port));

    private static string EscapeFrom(string text, int first)
    {
        var escaped = new StringBuilder(text.Length + 16);
        escaped.Append(text, 0, first);
        ReadOnlySpan<char> rest = text.AsSpan(first);
        while (!rest.IsEmpty)
        {
            int next = rest.IndexOfAny(NeedEscaping);
            if (next < 0)
            {
                escaped.Append(rest);
                break;
            }

            escaped.Append(rest[..next]);
            char c = rest[next];
            if (c == '\\')
            {
                escaped.Append(@"\\");
            }
            else if (c <= '\u00FF')
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{{{(int)c:X4}}}");
            }

            rest = rest[(next + 1)..];
        }

        return escaped.ToString();
    }

    private static string CharactersToEscape()
    {
        var characters = new StringBuilder();

        // C0 controls, DEL and C1 controls: ESC sequences, CR, LF, NEL and the rest of what terminals act on.
        for (char c = '\u0000'; c < ' '; c++)
        {
            characters.Append(c);
        }

        for (char c = '\u007F'; c <= '\u009F'; c++)
        {
            characters.Append(c);
        }

        // The Unicode line and paragraph separators, and every Bidi_Control character (ALM, LRM, RLM, the embeddings
        // and overrides U+202A–U+202E, the isolates U+2066–U+2069). The backslash too, so that an escape in a log
        // line always comes from here and never from the client.
        characters.Append("\u2028\u2029\u061C\u200E\u200F\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\\");
        return characters.ToString();
    }
}
