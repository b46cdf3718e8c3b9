using System.Globalization;

namespace Sockeye.Configuration;

/// <summary>
/// Reads a rate in bytes per second as people write it: a plain number of bytes (<c>65536</c>), or a number with a
/// binary suffix, <c>k</c> = 1024, <c>m</c> = 1024², <c>g</c> = 1024³ (<c>512k</c>, <c>1.5M</c>, <c>10MiB</c>), optionally
/// followed by <c>/s</c>. Binary as in nginx's <c>limit_rate</c> and the rest of our sizes; <c>kb</c>, <c>MB</c> and
/// <c>GB</c> are refused because half of the world reads them as powers of ten.
/// </summary>
internal static class ByteRateParser
{
    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="problem"/> says why, in words for an error line.</summary>
    public static bool TryParse(string? text, out long bytesPerSecond, out string problem)
    {
        bytesPerSecond = 0;
        problem = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "is empty";
            return false;
        }

        string trimmed = text.Trim();
        if (trimmed.EndsWith("/s", StringComparison.OrdinalIgnoreCase))
        {
            trimmed = trimmed[..^2].TrimEnd();
        }

        int unitStart = trimmed.Length;
        while (unitStart > 0 && char.IsAsciiLetter(trimmed[unitStart - 1]))
        {
            unitStart--;
        }

        string unit = trimmed[unitStart..].ToUpperInvariant();
        double multiplier;
        switch (unit)
        {
            case "" or "B":
                multiplier = 1;
                break;
            case "K" or "KIB":
                multiplier = 1024;
                break;
            case "M" or "MIB":
                multiplier = 1024 * 1024;
                break;
            case "G" or "GIB":
                multiplier = 1024 * 1024 * 1024;
                break;
            case "KB" or "MB" or "GB":
                problem = $"uses {trimmed[unitStart..]}, which is ambiguous; write {unit[0]} (binary, {unit[0]} = {Binary(unit[0])}) or a plain number of bytes per second";
                return false;
            default:
                problem = "is not a rate; write bytes per second, e.g. 1048576, 512k, 10M or 1G (binary: k = 1024)";
                return false;
        }

        if (!double.TryParse(trimmed.AsSpan(0, unitStart).TrimEnd(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number) ||
            !double.IsFinite(number))
        {
            problem = "is not a rate; write bytes per second, e.g. 1048576, 512k, 10M or 1G (binary: k = 1024)";
            return false;
        }

        double value = Math.Round(number * multiplier);
        if (value > long.MaxValue / 2)
        {
            problem = "is too large";
            return false;
        }

        bytesPerSecond = (long)value;
        return true;
    }

    private static string Binary(char unit) => unit switch
    {
        'K' => "1024",
        'M' => "1024²",
        _ => "1024³",
    };
}
