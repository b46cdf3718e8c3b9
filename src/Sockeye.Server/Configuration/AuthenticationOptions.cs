namespace Sockeye.Server.Configuration;

/// <summary>How failed RFC 1929 logins slow down, then ban, the client address they come from.</summary>
public sealed class AuthenticationOptions
{
    /// <summary>
    /// The wait before an address's next login attempt is checked, after its first failure; it doubles with each further
    /// failure up to <see cref="MaxFailureDelay"/>. Only that address waits: other clients are unaffected.
    /// </summary>
    /// <remarks>Defaults to 250 milliseconds.</remarks>
    public TimeSpan FailureDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between attempts of one address.</summary>
    /// <remarks>Defaults to 4 seconds.</remarks>
    public TimeSpan MaxFailureDelay { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>Failures after which an address is banned: its logins fail without being checked. 0 disables bans.</summary>
    /// <remarks>Defaults to 10.</remarks>
    public int MaxFailures { get; set; } = 10;

    /// <summary>How long a ban lasts, and how long an address's failures are remembered.</summary>
    /// <remarks>Defaults to 10 minutes.</remarks>
    public TimeSpan BanDuration { get; set; } = TimeSpan.FromMinutes(10);
}
