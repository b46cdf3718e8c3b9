using System.Buffers;
using System.Text;

namespace Sockeye.Protocol.Http;

/// <summary>
/// The Basic authentication scheme (RFC 7617) as a proxy receives it: <c>Proxy-Authorization: Basic base64(user ":" password)</c>.
/// </summary>
/// <remarks>
/// Credentials stay bytes, as RFC 1929's do (STYLE.md 2.5): the server compares them with the users it knows without
/// ever making a string of a password. The user and password are the same 1..255 bytes RFC 1929 allows, so one user
/// directory serves both front doors.
/// </remarks>
public static class HttpBasicCredentials
{
    /// <summary>The least output <see cref="TryDecode"/> takes: a 255-byte user, the colon, a 255-byte password, and room.</summary>
    public const int ScratchLength = 512;

    /// <summary>The longest user or password: RFC 1929's, one length byte.</summary>
    public const int MaxCredentialLength = 255;

    /// <summary>The longest decoded text: user ":" password.</summary>
    private const int MaxDecodedLength = MaxCredentialLength + 1 + MaxCredentialLength;

    private static readonly SearchValues<char> Base64Chars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");

    /// <summary>
    /// Decodes a Proxy-Authorization value: "Basic" (any case), whitespace, then the base64 of <c>user:password</c>,
    /// with optional whitespace around it all. On success <paramref name="output"/> holds the user's bytes then the
    /// password's (the colon removed). <see langword="false"/> when the scheme is not Basic, the base64 is not canonical
    /// (the alphabet of RFC 4648 §4, padded, no whitespace inside), there is no colon, or the user or the password is
    /// empty or longer than 255 bytes; the bytes written to <paramref name="output"/> are then cleared. The user is
    /// everything before the first colon (RFC 7617 §2: a user-id cannot contain one); the password may hold colons.
    /// Never allocates, never throws on input.
    /// </summary>
    /// <param name="value">The field value.</param>
    /// <param name="output">At least <see cref="ScratchLength"/> bytes; clear it after use (it holds a password).</param>
    /// <param name="userLength">The user's length at the start of <paramref name="output"/>.</param>
    /// <param name="passwordLength">The password's length, just after the user.</param>
    /// <exception cref="ArgumentException"><paramref name="output"/> is shorter than <see cref="ScratchLength"/>.</exception>
    public static bool TryDecode(ReadOnlySpan<char> value, Span<byte> output, out int userLength, out int passwordLength)
    {
        ThrowHelpers.ThrowIfTooShort(output, ScratchLength);
        userLength = passwordLength = 0;
        value = HttpSyntax.TrimWhitespace(value);
        if (value.Length < 6 || !value[..5].Equals("Basic", StringComparison.OrdinalIgnoreCase) || !HttpSyntax.IsWhitespace(value[5]))
        {
            return false;
        }

        ReadOnlySpan<char> encoded = HttpSyntax.TrimWhitespace(value[6..]);
        // Convert would skip whitespace inside the base64; a token68 has none, so refuse it rather than accept two spellings.
        if (encoded.IsEmpty || encoded.Length % 4 != 0 || encoded.ContainsAnyExcept(Base64Chars))
        {
            return false;
        }

        int padding = encoded[^1] == '=' ? (encoded[^2] == '=' ? 2 : 1) : 0;
        int decodedLength = (encoded.Length / 4 * 3) - padding;
        if (decodedLength > MaxDecodedLength)
        {
            return false;
        }

        if (!Convert.TryFromBase64Chars(encoded, output, out int written))
        {
            // It may have decoded part of a secret before meeting the bad quantum.
            output[..ScratchLength].Clear();
            return false;
        }

        int colon = output[..written].IndexOf((byte)':');
        int password = written - colon - 1;
        if (colon is <= 0 or > MaxCredentialLength || password is <= 0 or > MaxCredentialLength)
        {
            output[..written].Clear();
            return false;
        }

        // Close the gap the colon leaves: user bytes, then password bytes (CopyTo handles the overlap).
        output.Slice(colon + 1, password).CopyTo(output[colon..]);
        output[written - 1] = 0;
        userLength = colon;
        passwordLength = password;
        return true;
    }

    /// <summary>"Basic " and the base64 of the UTF-8 of <c>user:password</c>: a Proxy-Authorization value, for clients and tests.</summary>
    /// <exception cref="ArgumentException">The user is empty or holds a colon, or either is empty or longer than 255 bytes in UTF-8.</exception>
    public static string Encode(string user, string password)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        if (user.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException("A Basic user-id cannot contain a colon (RFC 7617 §2).", nameof(user));
        }

        byte[] bytes = Encoding.UTF8.GetBytes($"{user}:{password}");
        int userBytes = Encoding.UTF8.GetByteCount(user);
        if (userBytes is 0 or > MaxCredentialLength)
        {
            throw new ArgumentException("The user must be 1 to 255 bytes of UTF-8.", nameof(user));
        }

        if (bytes.Length - userBytes - 1 is 0 or > MaxCredentialLength)
        {
            throw new ArgumentException("The password must be 1 to 255 bytes of UTF-8.", nameof(password));
        }

        return "Basic " + Convert.ToBase64String(bytes);
    }
}
