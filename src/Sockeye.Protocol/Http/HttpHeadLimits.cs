namespace Sockeye.Protocol.Http;

/// <summary>The bounds a head parser holds a peer to; each is checked as soon as the bytes that break it arrive.</summary>
/// <param name="MaxRequestLineLength">
/// The longest request line (or status line), its line ending included. A line with no end within this many bytes is
/// <see cref="HttpParseError.RequestLineTooLong"/> once that many bytes are in, not when the line finally ends.
/// </param>
/// <param name="MaxHeadLength">
/// The longest head: leading empty lines, the start line, the field lines and the final empty line.
/// Beyond it: <see cref="HttpParseError.HeadTooLarge"/>. It is also the most bytes a parse copies when the input is
/// split across segments.
/// </param>
/// <param name="MaxFieldCount">The most field lines; one more is <see cref="HttpParseError.HeadTooLarge"/>.</param>
public readonly record struct HttpHeadLimits(int MaxRequestLineLength, int MaxHeadLength, int MaxFieldCount)
{
    /// <summary>8 KiB line, 16 KiB head, 100 fields: Kestrel's line and field-count defaults, half its 32 KiB head.</summary>
    public static HttpHeadLimits Default { get; } = new(8 * 1024, 16 * 1024, 100);

    /// <summary>Limits of zero or less are a configuration mistake, not bad input: they would refuse every message.</summary>
    internal void Validate()
    {
        if (MaxRequestLineLength <= 0 || MaxHeadLength <= 0 || MaxFieldCount < 0)
        {
            ThrowInvalid(this);
        }
    }

    private static void ThrowInvalid(HttpHeadLimits limits) =>
        throw new ArgumentOutOfRangeException(nameof(limits), limits, "Line and head lengths must be positive and the field count not negative.");
}
