namespace Sockeye.Server.Configuration;

/// <summary>Settings of SOCKS4 and SOCKS4a clients (<see cref="ListenerProtocols.Socks4"/>).</summary>
public sealed class Socks4Options
{
    /// <summary>
    /// With users configured, the accounts a SOCKS4 client may use by naming them in USERID, which SOCKS4 sends without
    /// any password: anyone who knows such a name can use it. <c>*</c> allows every account. Empty (the default) refuses
    /// SOCKS4 clients whenever users are configured. Without users, SOCKS4 clients need no name, as SOCKS5 clients need
    /// no login.
    /// </summary>
    public IList<string> AllowWithUsers { get; } = new List<string>();

    /// <summary>Whether <paramref name="user"/> may be used by a SOCKS4 client.</summary>
    public bool Allows(string user)
    {
        ArgumentNullException.ThrowIfNull(user);
        foreach (string allowed in AllowWithUsers)
        {
            if (allowed == "*" || string.Equals(allowed, user, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
