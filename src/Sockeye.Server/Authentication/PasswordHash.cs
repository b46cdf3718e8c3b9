using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Sockeye.Server.Authentication;

/// <summary>
/// Salted, slow password hashes for stored accounts: PBKDF2-HMAC-SHA256 with a 16-byte random salt and a 32-byte
/// result, written as <c>$pbkdf2-sha256$ITERATIONS$SALT$HASH</c> (salt and hash in standard base64 with padding).
/// </summary>
/// <remarks>
/// New hashes use <see cref="DefaultIterations"/>, OWASP's 2023 figure for PBKDF2-HMAC-SHA256. A stored hash must use
/// between <see cref="MinIterations"/> and <see cref="MaxIterations"/>: fewer makes a stolen file cheap to crack, more
/// lets whoever writes the file make each login a CPU bomb.
/// </remarks>
public static class PasswordHash
{
    /// <summary>The iteration count of new hashes: 600 000 (OWASP Password Storage Cheat Sheet, 2023).</summary>
    public const int DefaultIterations = 600_000;

    /// <summary>The fewest iterations a stored hash may use: 100 000.</summary>
    public const int MinIterations = 100_000;

    /// <summary>The most iterations a stored hash may use: 10 000 000 (several seconds of CPU per login).</summary>
    public const int MaxIterations = 10_000_000;

    internal const string Prefix = "$pbkdf2-sha256$";
    internal const int SaltLength = 16;
    internal const int HashLength = 32;

    /// <summary>Hashes <paramref name="password"/> with a new random salt and <see cref="DefaultIterations"/>.</summary>
    /// <param name="password">The password, 1–255 bytes of UTF-8 (RFC 1929).</param>
    /// <returns>The hash in the <c>$pbkdf2-sha256$…</c> format, for <see cref="Configuration.SockeyeUser.FromPasswordHash"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="password"/> is empty or longer than 255 bytes of UTF-8.</exception>
    public static string Create(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        int length = Encoding.UTF8.GetByteCount(password);
        if (length is 0 or > 255)
        {
            throw new ArgumentException($"A password must be 1 to 255 bytes of UTF-8 (RFC 1929); it is {length}.", nameof(password));
        }

        Span<byte> bytes = stackalloc byte[255];
        int written = Encoding.UTF8.GetBytes(password, bytes);
        try
        {
            return Create(bytes[..written], DefaultIterations);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Checks that <paramref name="hash"/> is a hash Sockeye can verify; <paramref name="problem"/> says what is wrong if not.</summary>
    public static bool IsValid(string? hash, [NotNullWhen(false)] out string? problem) =>
        TryParse(hash, MinIterations, out _, out problem);

    /// <summary>Hashes with an explicit iteration count; tests use low counts to stay fast.</summary>
    internal static string Create(ReadOnlySpan<byte> password, int iterations)
    {
        Span<byte> salt = stackalloc byte[SaltLength];
        Span<byte> hash = stackalloc byte[HashLength];
        RandomNumberGenerator.Fill(salt);
        Rfc2898DeriveBytes.Pbkdf2(password, salt, hash, iterations, HashAlgorithmName.SHA256);
        string text = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
        CryptographicOperations.ZeroMemory(hash);
        return text;
    }

    /// <summary>
    /// Parses the stored form, with one readable reason per way it can be malformed. Never echoes the hash.
    /// <paramref name="minIterations"/> is normally <see cref="MinIterations"/>; tests lower it to keep hashing fast.
    /// </summary>
    internal static bool TryParse(string? text, int minIterations, [NotNullWhen(true)] out StoredHash? hash, [NotNullWhen(false)] out string? problem)
    {
        hash = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "the password hash is empty.";
            return false;
        }

        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            problem = text.StartsWith('$')
                ? "unknown hash scheme; Sockeye reads only $pbkdf2-sha256$ hashes (create one with 'sockeye user add')."
                : "not a password hash (expected $pbkdf2-sha256$ITERATIONS$SALT$HASH; create one with 'sockeye user add').";
            return false;
        }

        string[] parts = text[Prefix.Length..].Split('$');
        if (parts.Length != 3)
        {
            problem = $"expected 3 fields after {Prefix} (ITERATIONS$SALT$HASH), found {parts.Length}.";
            return false;
        }

        if (parts[0].Length is 0 or > 9 || !parts[0].All(char.IsAsciiDigit) || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int iterations))
        {
            problem = "the iteration count is not a whole number.";
            return false;
        }

        if (iterations < minIterations)
        {
            problem = $"{iterations} iterations is too few to resist cracking (at least {minIterations:N0}); hash the password again with 'sockeye user add --replace'.";
            return false;
        }

        if (iterations > MaxIterations)
        {
            problem = $"{iterations} iterations is more than {MaxIterations:N0}, which would make every login a CPU burden; hash the password again with 'sockeye user add --replace'.";
            return false;
        }

        byte[]? salt = DecodeBase64(parts[1], SaltLength);
        if (salt is null)
        {
            problem = $"the salt is not {SaltLength} bytes of base64.";
            return false;
        }

        byte[]? expected = DecodeBase64(parts[2], HashLength);
        if (expected is null)
        {
            problem = $"the hash is not {HashLength} bytes of base64.";
            return false;
        }

        hash = new StoredHash(iterations, salt, expected);
        problem = null;
        return true;
    }

    private static byte[]? DecodeBase64(string text, int length)
    {
        byte[] bytes = new byte[length];
        // Too long fails for want of room, too short shows in the count.
        return Convert.TryFromBase64String(text, bytes, out int written) && written == length ? bytes : null;
    }

    /// <summary>A parsed hash: what PBKDF2 needs to check a password.</summary>
    internal sealed class StoredHash(int iterations, byte[] salt, byte[] expected)
    {
        public int Iterations { get; } = iterations;

        /// <summary>Derives the key from <paramref name="password"/> and compares it with the stored one in constant time.</summary>
        public bool Verify(ReadOnlySpan<byte> password)
        {
            Span<byte> derived = stackalloc byte[HashLength];
            Rfc2898DeriveBytes.Pbkdf2(password, salt, derived, Iterations, HashAlgorithmName.SHA256);
            bool matches = CryptographicOperations.FixedTimeEquals(derived, expected);
            CryptographicOperations.ZeroMemory(derived);
            return matches;
        }
    }
}
