using System.Diagnostics.CodeAnalysis;

namespace Sockeye.Protocol;

internal static class ThrowHelpers
{
    /// <summary>A destination that is too small is a programming error: writers are sized from <c>Socks5Limits</c>.</summary>
    public static void ThrowIfTooShort(Span<byte> destination, int needed)
    {
        if (destination.Length < needed)
        {
            ThrowDestinationTooShort(destination, needed);
        }
    }

    [DoesNotReturn]
    private static void ThrowDestinationTooShort(Span<byte> destination, int needed) =>
        throw new ArgumentException($"The destination holds {destination.Length} bytes; the message needs {needed}.", nameof(destination));
}
