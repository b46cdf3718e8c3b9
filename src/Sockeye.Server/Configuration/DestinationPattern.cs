using System.Net;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Configuration;

/// <summary>
/// A destination an <see cref="AccessRule"/> names: a network (<c>10.0.0.0/8</c>, or one address), an exact domain
/// name (<c>example.com</c>), or every name under a domain (<c>*.example.com</c>, which does not match
/// <c>example.com</c> itself). Names compare without regard to ASCII case or a trailing dot. <c>@host</c>
/// (<see cref="ThisHost"/>) names the proxy host's own addresses, every unicast address of every interface, as the
/// running server keeps them current; the built-in rules of <see cref="SockeyeServerOptions.GetEffectiveRules()"/> use
/// it too.
/// </summary>
public sealed class DestinationPattern
{
    private DestinationPattern(IPNetwork? network, string? name, bool isSuffix, HostAddresses? hostAddresses = null)
    {
        Network = network;
        Name = name;
        IsSuffix = isSuffix;
        HostAddresses = hostAddresses;
    }

    /// <summary>The network, for a pattern that names addresses; otherwise <see langword="null"/>.</summary>
    public IPNetwork? Network { get; }

    /// <summary>
    /// The lower-case domain, for a pattern that names a domain: the exact name, or for <c>*.example.com</c> the
    /// suffix <c>example.com</c>. <see langword="null"/> for a network or the host's addresses.
    /// </summary>
    public string? Name { get; }

    /// <summary>Whether the pattern is a <c>*.suffix</c> wildcard.</summary>
    public bool IsSuffix { get; }

    /// <summary>The host's addresses, for the built-in pattern that matches them; otherwise <see langword="null"/>.</summary>
    internal HostAddresses? HostAddresses { get; }

    /// <summary>
    /// The keyword for the proxy host's own addresses in a configuration file. Not a domain name (<c>@</c> cannot be in
    /// one), so no name is ever taken for it.
    /// </summary>
    public const string ThisHostKeyword = "@host";

    /// <summary>
    /// The pattern <c>@host</c>: the proxy host's own addresses. A server binds it to the addresses it keeps current
    /// (listing them when the system reports a change, and every 30 seconds); unbound, as here, it matches nothing.
    /// </summary>
    public static DestinationPattern ThisHost { get; } = new(null, null, isSuffix: false) { IsThisHost = true };

    /// <summary>Whether this is <see cref="ThisHost"/>, or that pattern bound to a server's list of its addresses.</summary>
    public bool IsThisHost { get; private init; }

    /// <summary>Whether the pattern matches destination addresses (a network, the host's addresses) rather than names.</summary>
    internal bool MatchesAddresses => Network is not null || IsThisHost;

    /// <summary>A pattern matching the addresses of <paramref name="network"/>.</summary>
    public static DestinationPattern ForNetwork(IPNetwork network) => new(network, null, isSuffix: false);

    /// <summary>A pattern matching whatever addresses <paramref name="hostAddresses"/> holds when it is asked.</summary>
    internal static DestinationPattern ForHostAddresses(HostAddresses hostAddresses) => new(null, null, isSuffix: false, hostAddresses) { IsThisHost = true };

    /// <summary>Parses <c>10.0.0.0/8</c>, <c>2001:db8::/32</c>, <c>192.0.2.7</c>, <c>example.com</c>, <c>*.example.com</c> or <c>@host</c>.</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="pattern">The pattern, when the text is valid.</param>
    /// <param name="error">Why the text is not a destination pattern, when it is not.</param>
    public static bool TryParse(string? text, out DestinationPattern? pattern, out string? error)
    {
        pattern = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "a network, a domain name or *.domain is needed";
            return false;
        }

        if (text.Equals(ThisHostKeyword, StringComparison.OrdinalIgnoreCase))
        {
            pattern = ThisHost;
            error = null;
            return true;
        }

        if (text == "*")
        {
            error = "'*' is not a destination; leave destinations out to match every destination";
            return false;
        }

        if (IPAddress.TryParse(text, out IPAddress? single) && !text.Contains('/', StringComparison.Ordinal))
        {
            single = Normalize(single);
            pattern = ForNetwork(new IPNetwork(single, single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            error = null;
            return true;
        }

        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            return TryParseNetwork(text, slash, out pattern, out error);
        }

        bool isSuffix = text.StartsWith("*.", StringComparison.Ordinal);
        string name = (isSuffix ? text[2..] : text).TrimEnd('.').ToLowerInvariant();
        if (!IsDomainName(name))
        {
            error = $"'{text}' is not a network (such as 10.0.0.0/8), a domain name (such as example.com), a wildcard (such as *.example.com) or @host";
            return false;
        }

        pattern = new DestinationPattern(null, name, isSuffix);
        error = null;
        return true;
    }

    /// <summary>Whether <paramref name="address"/> is in the pattern's network (or is one of the host's); always false for a name pattern.</summary>
    public bool Matches(IPAddress address) =>
        Network is { } network ? network.Contains(Normalize(address)) : HostAddresses is { } host && host.Contains(address);

    /// <summary>Whether the domain name <paramref name="name"/> is the pattern's name, or under its suffix.</summary>
    public bool Matches(ReadOnlySpan<char> name)
    {
        if (Name is null)
        {
            return false;
        }

        if (name.EndsWith('.'))
        {
            name = name[..^1];
        }

        if (!IsSuffix)
        {
            return name.Equals(Name, StringComparison.OrdinalIgnoreCase);
        }

        // "*.example.com" matches "a.example.com" and "a.b.example.com", but neither "example.com" nor "badexample.com".
        return name.Length > Name.Length + 1
            && name[^(Name.Length + 1)] == '.'
            && name[^Name.Length..].Equals(Name, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The pattern as it is written in a configuration file.</summary>
    public override string ToString() =>
        Network?.ToString() ?? (IsThisHost ? ThisHostKeyword : IsSuffix ? "*." + Name : Name!);

    private static bool TryParseNetwork(string text, int slash, out DestinationPattern? pattern, out string? error)
    {
        pattern = null;
        if (!IPAddress.TryParse(text.AsSpan(0, slash), out IPAddress? address)
            || !int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int prefix))
        {
            error = $"'{text}' is not a network such as 10.0.0.0/8 or 2001:db8::/32";
            return false;
        }

        int maxPrefix = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        if (prefix > maxPrefix)
        {
            error = $"'{text}' has a prefix longer than {maxPrefix} bits";
            return false;
        }

        // A rule written as 10.0.0.5/8 most likely meant something narrower than the /8 it would silently become.
        IPAddress baseAddress = MaskHostBits(address, prefix);
        if (!baseAddress.Equals(address))
        {
            error = $"'{text}' has bits set after its /{prefix} prefix (the network would be {new IPNetwork(baseAddress, prefix)})";
            return false;
        }

        // Addresses are matched in their IPv4 form, so an IPv4-mapped network (::ffff:10.0.0.0/104) becomes 10.0.0.0/8.
        pattern = baseAddress.IsIPv4MappedToIPv6 && prefix >= 96
            ? ForNetwork(new IPNetwork(baseAddress.MapToIPv4(), prefix - 96))
            : ForNetwork(new IPNetwork(baseAddress, prefix));
        error = null;
        return true;
    }

    private static IPAddress MaskHostBits(IPAddress address, int prefix)
    {
        byte[] bytes = address.GetAddressBytes();
        for (int bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(bytes);
    }

    private static bool IsDomainName(string name)
    {
        if (name.Length is 0 or > 253 || name.StartsWith('.') || name.Contains("..", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
