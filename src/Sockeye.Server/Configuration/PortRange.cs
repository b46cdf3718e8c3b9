using System.Globalization;

namespace Sockeye.Server.Configuration;

/// <summary>
/// A port or an inclusive range of them: the destination ports an <see cref="AccessRule"/> matches, or the ports UDP
/// relay sockets are bound to (<see cref="UdpOptions.PortRange"/>).
/// </summary>
/// <param name="First">The lowest port of the range.</param>
/// <param name="Last">The highest port of the range; equal to <paramref name="First"/> for a single port.</param>
public readonly record struct PortRange(ushort First, ushort Last)
{
    /// <summary>Whether <paramref name="port"/> is in the range.</summary>
    public bool Contains(int port) => port >= First && port <= Last;

    /// <summary>How many ports the range holds.</summary>
    public int Count => Last - First + 1;

    /// <summary>Parses <c>443</c> or <c>8000-8999</c>.</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="range">The range, when the text is valid.</param>
    /// <param name="error">Why the text is not a port range, when it is not.</param>
    public static bool TryParse(string? text, out PortRange range, out string? error)
    {
        range = default;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "a port or a range such as 8000-8999 is needed";
            return false;
        }

        int dash = text.IndexOf('-', StringComparison.Ordinal);
        string firstText = dash < 0 ? text : text[..dash].Trim();
        string lastText = dash < 0 ? text : text[(dash + 1)..].Trim();
        if (!TryParsePort(firstText, out ushort first) || !TryParsePort(lastText, out ushort last))
        {
            error = $"'{text}' is not a port (0 to 65535) or a range such as 8000-8999";
            return false;
        }

        if (first > last)
        {
            error = $"'{text}' is an empty range; write the lower port first";
            return false;
        }

        range = new PortRange(first, last);
        error = null;
        return true;
    }

    /// <summary>The range as it is written in a configuration file.</summary>
    public override string ToString() => First == Last
        ? First.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{First}-{Last}");

    private static bool TryParsePort(string text, out ushort port) =>
        ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port);
}
