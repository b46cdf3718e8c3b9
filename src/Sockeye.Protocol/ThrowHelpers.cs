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

    /// <summary>A <c>default(Socks5Address)</c> has no type: it is a programming error to send one.</summary>
    [DoesNotReturn]
    public static int ThrowDefaultAddress() =>
        throw new InvalidOperationException("This Socks5Address is default (no address type); build one with FromIPAddress or FromDomainName.");
}
