using System.Net;

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

    /// <summary>
    /// Client networks whose failed logins are neither delayed nor banned. A ban is per client address, so every client
    /// behind one address (all local processes on a loopback listener, everyone behind a NAT) is locked out together,
    /// correct passwords included; an exempt network trades that for guesses that only the password hash's cost and the
    /// per-user cap of 4 checks at once slow down. Failed logins from it are still logged.
    /// </summary>
    /// <remarks>Empty by default: every address is throttled.</remarks>
    public IList<IPNetwork> BanExempt { get; } = [];

    /// <summary>
    /// How long a successful login of an account with a <see cref="SockeyeUser.PasswordHash"/> is remembered, so that
    /// the same name and password log in again without another PBKDF2 computation. Only a keyed MAC of the credentials is
    /// kept, one per account, never the password; failures are never remembered.
    /// </summary>
    /// <remarks>
    /// Defaults to 5 minutes. <see cref="TimeSpan.Zero"/> disables it: then every login of a hashed account costs a full
    /// hash computation. A changed password is not affected (the old one simply stops matching the new hash).
    /// </remarks>
    public TimeSpan VerifiedCacheTtl { get; set; } = TimeSpan.FromMinutes(5);
}
