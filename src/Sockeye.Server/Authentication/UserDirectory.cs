using System.Security.Cryptography;
using System.Text;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Authentication;

/// <summary>
/// The configured accounts, as an immutable snapshot. Passwords are kept only as SHA-256 digests and compared with
/// <see cref="CryptographicOperations.FixedTimeEquals"/>: comparing fixed-length digests takes the same time whatever
/// the password's length or its first differing byte, and an unknown user costs the same as a wrong password.
/// </summary>
internal sealed class UserDirectory
{
    private const int DigestLength = 32;

    private readonly Dictionary<string, byte[]> _digests;
    private readonly Dictionary<string, byte[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    // Compared against when the user is unknown, so that probing for names takes as long as guessing passwords.
    private readonly byte[] _decoyDigest = SHA256.HashData("sockeye: no such user"u8);

    public UserDirectory(IEnumerable<SockeyeUser> users)
    {
        _digests = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (SockeyeUser user in users)
        {
            _digests[user.Name] = SHA256.HashData(Encoding.UTF8.GetBytes(user.Password));
        }

        _lookup = _digests.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Whether any account is configured; then clients must authenticate.</summary>
    public bool RequiresAuthentication => _digests.Count > 0;

    public int Count => _digests.Count;

    /// <summary>Checks RFC 1929 credentials. Allocates nothing.</summary>
    public bool Verify(ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        Span<char> name = stackalloc char[255];
        byte[]? expected = null;
        bool known = Encoding.UTF8.TryGetChars(username, name, out int nameLength)
            && _lookup.TryGetValue(name[..nameLength], out expected);
        expected ??= _decoyDigest;

        Span<byte> digest = stackalloc byte[DigestLength];
        SHA256.HashData(password, digest);
        bool matches = CryptographicOperations.FixedTimeEquals(digest, expected);
        CryptographicOperations.ZeroMemory(digest);
        return known && matches;
    }
}
