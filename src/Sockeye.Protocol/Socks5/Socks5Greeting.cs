using System.Buffers;

namespace Sockeye.Protocol.Socks5;

/// <summary>
/// The client's method-selection request: the authentication methods it offers.
/// Kept as a 256-bit set, so parsing allocates nothing; written back in ascending method order.
/// </summary>
/// <remarks>
/// RFC 1928 §3:
/// <code>
/// +----+----------+----------+
/// |VER | NMETHODS | METHODS  |
/// +----+----------+----------+
/// | 1  |    1     | 1 to 255 |
/// +----+----------+----------+
/// </code>
/// </remarks>
public readonly struct Socks5Greeting : IEquatable<Socks5Greeting>
{
    private readonly ulong _bits0;
    private readonly ulong _bits1;
    private readonly ulong _bits2;
    private readonly ulong _bits3;

    private Socks5Greeting(ulong bits0, ulong bits1, ulong bits2, ulong bits3)
    {
        _bits0 = bits0;
        _bits1 = bits1;
        _bits2 = bits2;
        _bits3 = bits3;
    }

    /// <summary>A greeting offering the given methods.</summary>
    /// <exception cref="ArgumentException">No method is given, or all 256 are (NMETHODS can count at most 255).</exception>
    public static Socks5Greeting Create(ReadOnlySpan<Socks5AuthMethod> methods)
    {
        if (methods.IsEmpty)
        {
            throw new ArgumentException("A greeting must offer at least one method.", nameof(methods));
        }

        Span<ulong> bits = stackalloc ulong[4];
        bits.Clear();
        foreach (Socks5AuthMethod method in methods)
        {
            bits[(byte)method >> 6] |= 1UL << ((byte)method & 63);
        }

        var greeting = new Socks5Greeting(bits[0], bits[1], bits[2], bits[3]);

        // NMETHODS is one byte: all 256 methods would be written as NMETHODS = 0 followed by 256 bytes.
        if (greeting.MethodCount > byte.MaxValue)
        {
            throw new ArgumentException($"A greeting can offer at most {byte.MaxValue} distinct methods.", nameof(methods));
        }

        return greeting;
    }

    /// <summary>The number of distinct methods offered.</summary>
    public int MethodCount =>
        System.Numerics.BitOperations.PopCount(_bits0) + System.Numerics.BitOperations.PopCount(_bits1) +
        System.Numerics.BitOperations.PopCount(_bits2) + System.Numerics.BitOperations.PopCount(_bits3);

    /// <summary>The bytes <see cref="Write"/> produces.</summary>
    public int WireLength => 2 + MethodCount;

    /// <summary>Whether the client offered <paramref name="method"/>.</summary>
    public bool Offers(Socks5AuthMethod method)
    {
        int index = (byte)method;
        ulong word = (index >> 6) switch { 0 => _bits0, 1 => _bits1, 2 => _bits2, _ => _bits3 };
        return (word & (1UL << (index & 63))) != 0;
    }

    /// <summary>
    /// Parses a greeting. <see langword="false"/> with <see cref="Socks5ParseError.None"/>: more bytes are needed and the
    /// reader has not moved. <see langword="false"/> with another error: these bytes can never become a greeting.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out Socks5Greeting greeting, out Socks5ParseError error)
    {
        greeting = default;
        long start = reader.Consumed;
        if (!TryParseCore(ref reader, ref greeting, out error))
        {
            reader.Rewind(reader.Consumed - start);
            return false;
        }

        return true;
    }

    private static bool TryParseCore(ref SequenceReader<byte> reader, ref Socks5Greeting greeting, out Socks5ParseError error)
    {
        error = Socks5ParseError.None;
        if (!reader.TryRead(out byte version))
        {
            return false;
        }

        if (version != Socks5Limits.Version)
        {
            error = Socks5ParseError.UnsupportedVersion;
            return false;
        }

        if (!reader.TryRead(out byte count))
        {
            return false;
        }

        if (count == 0)
        {
            error = Socks5ParseError.NoMethodsOffered;
            return false;
        }

        if (reader.Remaining < count)
        {
            return false;
        }

        Span<ulong> bits = stackalloc ulong[4];
        bits.Clear();
        for (int i = 0; i < count; i++)
        {
            reader.TryRead(out byte method);
            bits[method >> 6] |= 1UL << (method & 63);
        }

        greeting = new Socks5Greeting(bits[0], bits[1], bits[2], bits[3]);
        return true;
    }

    /// <summary>Writes the greeting, methods in ascending order; returns the bytes written (<see cref="WireLength"/>).</summary>
    public int Write(Span<byte> destination)
    {
        int count = MethodCount;
        ThrowHelpers.ThrowIfTooShort(destination, 2 + count);
        destination[0] = Socks5Limits.Version;
        destination[1] = (byte)count;
        int offset = 2;

        // Visit only the set bits, word by word: a greeting offers a method or two out of 256.
        ReadOnlySpan<ulong> words = [_bits0, _bits1, _bits2, _bits3];
        for (int word = 0; word < words.Length; word++)
        {
            for (ulong bits = words[word]; bits != 0; bits &= bits - 1)
            {
                destination[offset++] = (byte)((word << 6) | System.Numerics.BitOperations.TrailingZeroCount(bits));
            }
        }

        return offset;
    }

    /// <inheritdoc/>
    public bool Equals(Socks5Greeting other) =>
        _bits0 == other._bits0 && _bits1 == other._bits1 && _bits2 == other._bits2 && _bits3 == other._bits3;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Socks5Greeting other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_bits0, _bits1, _bits2, _bits3);

    /// <summary>Compares the offered sets.</summary>
    public static bool operator ==(Socks5Greeting left, Socks5Greeting right) => left.Equals(right);

    /// <summary>Compares the offered sets.</summary>
    public static bool operator !=(Socks5Greeting left, Socks5Greeting right) => !left.Equals(right);
}
