namespace Sockeye.Server.Configuration;

/// <summary>An account for RFC 1929 username/password authentication.</summary>
/// <param name="Name">The username, 1–255 UTF-8 bytes.</param>
/// <param name="Password">
/// The password, 1–255 UTF-8 bytes. It is hashed at startup and never logged. Empty for an account made with
/// <see cref="FromPasswordHash"/>.
/// </param>
public sealed record SockeyeUser(string Name, string Password)
{
    /// <summary>
    /// A stored <see cref="Authentication.PasswordHash"/> (<c>$pbkdf2-sha256$…</c>) to check passwords against instead of
    /// <see cref="Password"/>; <see langword="null"/> for an account with a plain password.
    /// </summary>
    /// <remarks>
    /// Checking a hashed password costs a PBKDF2 computation (tens of milliseconds); the server bounds how many run at once
    /// and remembers successful logins for <see cref="AuthenticationOptions.VerifiedCacheTtl"/>.
    /// </remarks>
    public string? PasswordHash { get; init; }

    /// <summary>An account whose password is known only by its hash, as a users file stores it.</summary>
    /// <param name="name">The username, 1–255 UTF-8 bytes.</param>
    /// <param name="passwordHash">The hash, as <see cref="Authentication.PasswordHash.Create(string)"/> makes it.</param>
    public static SockeyeUser FromPasswordHash(string name, string passwordHash) => new(name, "") { PasswordHash = passwordHash };

    /// <summary>The name only: a password never reaches a log through <see cref="object.ToString"/>.</summary>
    public override string ToString() => Name;
}
