using System.Globalization;
using System.Text;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Diagnostics;

namespace Sockeye.Server.Tests.Diagnostics;

public sealed class LogTextTests
{
    // What must never reach a log line raw: C0, DEL, C1, the line and paragraph separators, the bidi controls.
    private static bool IsForbidden(char c) =>
        c < ' ' || c is >= '\u007F' and <= '\u009F' || c is '\u2028' or '\u2029' or '\u061C' or '\u200E' or '\u200F'
        || c is >= '\u202A' and <= '\u202E' || c is >= '\u2066' and <= '\u2069';

    [Theory]
    [InlineData("")]
    [InlineData("example.com")]
    [InlineData("alice")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("bücher.example")]
    [InlineData("日本語.jp")]
    [InlineData("[2001:db8::1]:443")]
    public void Escape_NothingToEscape_ReturnsTheSameInstance(string text)
    {
        Assert.Same(text, LogText.Escape(text));
    }

    [Fact]
    public void Escape_Null_IsNull() => Assert.Null(LogText.Escape(null));

    [Theory]
    [InlineData("\u001b[2J", @"\x1B[2J")]
    [InlineData("host\r.test", @"host\x0D.test")]
    [InlineData("mallory\nforged line", @"mallory\x0Aforged line")]
    [InlineData("\0\t", @"\x00\x09")]
    [InlineData("del\u007F", @"del\x7F")]
    [InlineData("next\u0085line", @"next\x85line")]
    [InlineData("csi\u009B2J", @"csi\x9B2J")]
    [InlineData("line\u2028separator", @"line\u{2028}separator")]
    [InlineData("para\u2029graph", @"para\u{2029}graph")]
    [InlineData("moc.\u202Eevil", @"moc.\u{202E}evil")]
    [InlineData("\u2066isolate\u2069", @"\u{2066}isolate\u{2069}")]
    [InlineData("\u200Fmark\u200E\u061C", @"\u{200F}mark\u{200E}\u{061C}")]
    [InlineData(@"back\slash", @"back\\slash")]
    [InlineData(@"forged\x1B", @"forged\\x1B")]
    public void Escape_CharacterToEscape_WrittenAsEscape(string text, string expected)
    {
        Assert.Equal(expected, LogText.Escape(text));
    }

    [Fact]
    public void Escape_EveryUtf16CodeUnit_OutputHasNothingForbiddenAndReadsBack()
    {
        for (int code = 0; code <= char.MaxValue; code++)
        {
            string text = "a" + (char)code + "b";

            string escaped = LogText.Escape(text);

            Assert.DoesNotContain(escaped, IsForbidden);
            Assert.Equal(text, Unescape(escaped));
        }
    }

    [Fact]
    public void Escape_RandomText_OutputHasNothingForbiddenAndReadsBack()
    {
        // Mostly characters that need escaping, the backslash and the letters of escapes, so that forged escapes occur.
        const string Alphabet = "\\xu{}0123456789ABCDEFabc.\u001b\r\n\u0000\u007F\u0085\u009B\u2028\u2029\u202E\u2066\u200F é日";
        var random = new Random(17);
        for (int i = 0; i < 5000; i++)
        {
            var text = new StringBuilder();
            int length = random.Next(0, 40);
            for (int j = 0; j < length; j++)
            {
                text.Append(Alphabet[random.Next(Alphabet.Length)]);
            }

            string escaped = LogText.Escape(text.ToString());

            Assert.DoesNotContain(escaped, IsForbidden);
            Assert.Equal(text.ToString(), Unescape(escaped));
        }
    }

    [Theory]
    [InlineData("example.com", 443, "example.com:443")]
    [InlineData("\u001b[2J\r.example", 80, @"\x1B[2J\x0D.example:80")]
    public void Destination_Name_EscapedWithItsPort(string name, ushort port, string expected)
    {
        Assert.Equal(expected, LogText.Destination(Socks5Address.FromDomainName(name), port));
    }

    /// <summary>Reads an escaped text back; the escapes must be the only ones in it, each well formed.</summary>
    private static string Unescape(string escaped)
    {
        var text = new StringBuilder(escaped.Length);
        for (int i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != '\\')
            {
                text.Append(escaped[i]);
                continue;
            }

            char kind = escaped[++i];
            if (kind == '\\')
            {
                text.Append('\\');
            }
            else if (kind == 'x')
            {
                text.Append((char)int.Parse(escaped.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 2;
            }
            else
            {
                Assert.Equal("u{", escaped.Substring(i, 2));
                int end = escaped.IndexOf('}', i);
                text.Append((char)int.Parse(escaped.AsSpan(i + 2, end - i - 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i = end;
            }
        }

        return text.ToString();
    }
}
