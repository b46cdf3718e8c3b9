namespace Sockeye.Server.Configuration;

/// <summary>An account for RFC 1929 username/password authentication.</summary>
/// <param name="Name">The username, 1–255 UTF-8 bytes.</param>
/// <param name="Password">The password, 1–255 UTF-8 bytes. It is hashed at startup and never logged.</param>
public sealed record SockeyeUser(string Name, string Password)
{
    /// <summary>The name only: a password never reaches a log through <see cref="object.ToString"/>.</summary>
    public override string ToString() => Name;
}
