using System.Buffers;

namespace Sockeye.Protocol.Socks5;

/// <summary>The server's answer to a greeting: the method it chose, or X'FF'.</summary>
/// <remarks>
/// RFC 1928 §3:
/// <code>
/// +----+--------+
/// |VER | METHOD |
/// +----+--------+
/// | 1  |   1    |
/// +----+--------+
/// </code>
/// </remarks>
/// <param name="Method">The chosen method, or <see cref="Socks5AuthMethod.NoAcceptableMethods"/>.</param>
public readonly record struct Socks5MethodSelection(Socks5AuthMethod Method)
{
    /// <summary>The length of this message on the wire.</summary>
    public const int Length = Socks5Limits.MethodSelectionLength;

    /// <summary>
    /// Parses a method selection. <see langword="false"/> with <see cref="Socks5ParseError.None"/>: more bytes are needed
    /// and the reader has not moved.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out Socks5MethodSelection selection, out Socks5ParseError error)
    {
        selection = default;
        error = Socks5ParseError.None;
        if (reader.Remaining < Length)
        {
            if (reader.TryPeek(out byte early) && early != Socks5Limits.Version)
            {
                error = Socks5ParseError.UnsupportedVersion;
            }

            return false;
        }

        reader.TryRead(out byte version);
        if (version != Socks5Limits.Version)
        {
            reader.Rewind(1);
            error = Socks5ParseError.UnsupportedVersion;
            return false;
        }

        reader.TryRead(out byte method);
        selection = new Socks5MethodSelection((Socks5AuthMethod)method);
        return true;
    }

    /// <summary>Writes the two bytes; returns <see cref="Length"/>.</summary>
    public int Write(Span<byte> destination)
    {
        ThrowHelpers.ThrowIfTooShort(destination, Length);
        destination[0] = Socks5Limits.Version;
        destination[1] = (byte)Method;
        return Length;
    }
}
