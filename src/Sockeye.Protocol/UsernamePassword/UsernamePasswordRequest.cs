using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.UsernamePassword;

/// <summary>
/// An RFC 1929 username/password request. A <see langword="ref struct"/> over bytes, so that a password never becomes
/// a <see cref="string"/>: compare it with <c>CryptographicOperations.FixedTimeEquals</c> and clear its buffer after use.
/// </summary>
/// <remarks>
/// RFC 1929 §2:
/// <code>
/// +----+------+----------+------+----------+
/// |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
/// +----+------+----------+------+----------+
/// | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
/// +----+------+----------+------+----------+
/// </code>
/// </remarks>
public readonly ref struct UsernamePasswordRequest
{
    /// <summary>The subnegotiation version, X'01'.</summary>
    public const byte Version = 0x01;

    /// <summary>VER + ULEN + 255 + PLEN + 255: 513 bytes.</summary>
    public const int MaxLength = 1 + 1 + 255 + 1 + 255;

    /// <summary>The scratch space <see cref="TryParse"/> needs to hold both fields: 255 + 255.</summary>
    public const int ScratchLength = 255 + 255;

    /// <summary>A request carrying these credentials.</summary>
    /// <exception cref="ArgumentException">Either field is empty or longer than 255 bytes.</exception>
    public UsernamePasswordRequest(ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        if (username.Length is 0 or > 255)
        {
            throw new ArgumentException($"A username must be 1 to 255 bytes long; this one is {username.Length}.", nameof(username));
        }

        if (password.Length is 0 or > 255)
        {
            throw new ArgumentException($"A password must be 1 to 255 bytes long; this one is {password.Length}.", nameof(password));
        }

        Username = username;
        Password = password;
    }

    /// <summary>UNAME.</summary>
    public ReadOnlySpan<byte> Username { get; }

    /// <summary>PASSWD.</summary>
    public ReadOnlySpan<byte> Password { get; }

    /// <summary>The bytes <see cref="Write"/> produces.</summary>
    public int WireLength => 3 + Username.Length + Password.Length;

    /// <summary>
    /// Parses a request, copying both fields into <paramref name="scratch"/> (at least <see cref="ScratchLength"/> bytes),
    /// which the returned spans point into. <see langword="false"/> with <see cref="Socks5ParseError.None"/>: more bytes
    /// are needed and the reader has not moved.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, Span<byte> scratch, out UsernamePasswordRequest request, out Socks5ParseError error)
    {
        if (scratch.Length < ScratchLength)
        {
            throw new ArgumentException($"The scratch buffer must hold at least {ScratchLength} bytes.", nameof(scratch));
        }

        request = default;
        long start = reader.Consumed;
        if (!TryParseCore(ref reader, scratch, out int usernameLength, out int passwordLength, out error))
        {
            reader.Rewind(reader.Consumed - start);
            return false;
        }

        request = new UsernamePasswordRequest(scratch[..usernameLength], scratch.Slice(usernameLength, passwordLength));
        return true;
    }

    private static bool TryParseCore(ref SequenceReader<byte> reader, Span<byte> scratch, out int usernameLength, out int passwordLength, out Socks5ParseError error)
    {
        usernameLength = 0;
        passwordLength = 0;
        error = Socks5ParseError.None;
        if (!reader.TryRead(out byte version))
        {
            return false;
        }

        if (version != Version)
        {
            error = Socks5ParseError.UnsupportedVersion;
            return false;
        }

        if (!reader.TryRead(out byte ulen))
        {
            return false;
        }

        if (ulen == 0)
        {
            error = Socks5ParseError.EmptyUsername;
            return false;
        }

        if (!reader.TryCopyTo(scratch[..ulen]))
        {
            return false;
        }

        reader.Advance(ulen);
        if (!reader.TryRead(out byte plen))
        {
            return false;
        }

        if (plen == 0)
        {
            error = Socks5ParseError.EmptyPassword;
            return false;
        }

        if (!reader.TryCopyTo(scratch.Slice(ulen, plen)))
        {
            return false;
        }

        reader.Advance(plen);
        usernameLength = ulen;
        passwordLength = plen;
        return true;
    }

    /// <summary>Writes the request; returns the bytes written.</summary>
    public int Write(Span<byte> destination)
    {
        int length = WireLength;
        ThrowHelpers.ThrowIfTooShort(destination, length);
        destination[0] = Version;
        destination[1] = (byte)Username.Length;
        Username.CopyTo(destination[2..]);
        int offset = 2 + Username.Length;
        destination[offset] = (byte)Password.Length;
        Password.CopyTo(destination[(offset + 1)..]);
        return length;
    }
}
