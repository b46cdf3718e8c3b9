using System.Globalization;

namespace Sockeye.Configuration;

/// <summary>
/// Reads durations as people write them: 100us (or 100µs), 250ms, 10s, 5m, 1h, a plain number of seconds, or hh:mm:ss,
/// to the microsecond.
/// A bare "10" means ten seconds here, not ten days as <see cref="TimeSpan.Parse(string)"/> would read it.
/// </summary>
internal static class DurationParser
{
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        if (text.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero;
        }

        (string number, double unitSeconds) = text switch
        {
            _ when text.EndsWith("us", StringComparison.OrdinalIgnoreCase) || text.EndsWith("µs", StringComparison.OrdinalIgnoreCase) => (text[..^2], 0.000_001),
            _ when text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) => (text[..^2], 0.001),
            _ when text.EndsWith('s') || text.EndsWith('S') => (text[..^1], 1.0),
            _ when text.EndsWith('m') || text.EndsWith('M') => (text[..^1], 60.0),
            _ when text.EndsWith('h') || text.EndsWith('H') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) ||
            !double.IsFinite(value) || value * unitSeconds > int.MaxValue / 1000.0)
        {
            return false;
        }

        duration = TimeSpan.FromMicroseconds(Math.Round(value * unitSeconds * 1_000_000));
        return true;
    }
}
