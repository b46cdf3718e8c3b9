using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Protocol.Http;

/// <summary>
/// The two request-target forms a proxy serves (RFC 9112 §3.2), with RFC 3986's authority:
/// <code>
/// authority-form = uri-host ":" port                                   (CONNECT)
/// absolute-form  = "http:" "//" uri-host [ ":" port ] path-abempty [ "?" query ] [ "#" fragment ]
/// uri-host       = IP-literal / IPv4address / reg-name                 IP-literal = "[" IPv6address "]"
/// reg-name       = *( unreserved / pct-encoded / sub-delims )
/// </code>
/// </summary>
internal static class HttpTargetParser
{
    /// <summary>A DNS name's longest text form; RFC 3986 sets no limit, but nothing longer resolves.</summary>
    public const int MaxHostLength = 255;

    /// <summary>unreserved and sub-delims (RFC 3986 §2.2, §2.3); '%' starts a pct-encoded triplet, checked on its own.</summary>
    private static readonly SearchValues<char> RegNameChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%");

    private static readonly SearchValues<char> SchemeChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.");

    private static readonly SearchValues<char> Ipv6Chars = SearchValues.Create("0123456789ABCDEFabcdef:.");

    public static bool TryParse(string target, bool connect, out HttpRequestTarget result, out HttpParseError error)
    {
        result = default;
        if (connect)
        {
            // RFC 9110 §9.3.6: CONNECT's target is only ever host:port.
            if (!TryParseAuthority(target, requirePort: true, out string host, out ushort port, out error))
            {
                return false;
            }

            result = new HttpRequestTarget(host, port, "");
            return true;
        }

        if (target.StartsWith('/') || target == "*")
        {
            error = HttpParseError.NotAProxyRequest;
            return false;
        }

        ReadOnlySpan<char> text = target;
        int colon = text.IndexOf(':');
        if (colon <= 0 || !char.IsAsciiLetter(text[0]) || text[..colon].ContainsAnyExcept(SchemeChars))
        {
            error = HttpParseError.Malformed;
            return false;
        }

        if (!text[..colon].Equals("http", StringComparison.OrdinalIgnoreCase))
        {
            error = HttpParseError.UnsupportedScheme;
            return false;
        }

        ReadOnlySpan<char> rest = text[(colon + 1)..];
        if (!rest.StartsWith("//", StringComparison.Ordinal))
        {
            error = HttpParseError.Malformed;
            return false;
        }

        rest = rest[2..];
        int authorityEnd = rest.IndexOfAny("/?#");
        ReadOnlySpan<char> authority = authorityEnd < 0 ? rest : rest[..authorityEnd];
        ReadOnlySpan<char> tail = authorityEnd < 0 ? [] : rest[authorityEnd..];
        if (!TryParseAuthority(authority, requirePort: false, out string name, out ushort namedPort, out error))
        {
            return false;
        }

        // RFC 9110 §4.2.4 (the fragment is never sent) and §4.2.1 (an empty path is "/").
        int hash = tail.IndexOf('#');
        if (hash >= 0)
        {
            tail = tail[..hash];
        }

        string pathAndQuery = tail.IsEmpty ? "/" : tail[0] == '?' ? string.Concat("/", tail) : tail.ToString();
        result = new HttpRequestTarget(name, namedPort, pathAndQuery);
        return true;
    }

    private static bool TryParseAuthority(ReadOnlySpan<char> authority, bool requirePort, out string host, out ushort port, out HttpParseError error)
    {
        host = "";
        port = 0;
        if (authority.Contains('@'))
        {
            // Userinfo in a target hands credentials to whoever logs it (RFC 9110 §4.2.4 deprecates it); refuse.
            error = HttpParseError.Malformed;
            return false;
        }

        ReadOnlySpan<char> hostText;
        ReadOnlySpan<char> after;
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']');
            if (close < 0 || !IsIpv6(authority[1..close]))
            {
                error = HttpParseError.Malformed;
                return false;
            }

            hostText = authority[1..close];
            after = authority[(close + 1)..];
        }
        else
        {
            int colon = authority.IndexOf(':');
            hostText = colon < 0 ? authority : authority[..colon];
            after = colon < 0 ? [] : authority[colon..];
            if (hostText.IsEmpty)
            {
                error = HttpParseError.MissingHost;
                return false;
            }

            if (!IsRegName(hostText))
            {
                error = HttpParseError.Malformed;
                return false;
            }
        }

        if (after.IsEmpty)
        {
            port = 80;
            error = requirePort ? HttpParseError.MissingHost : HttpParseError.None;
            if (requirePort)
            {
                return false;
            }
        }
        else if (after[0] != ':')
        {
            error = HttpParseError.Malformed;
            return false;
        }
        else if (!TryParsePort(after[1..], out port))
        {
            error = HttpParseError.MissingHost;
            return false;
        }

        host = hostText.ToString().ToLowerInvariant();
        error = HttpParseError.None;
        return true;
    }

    /// <summary>1 to 65535, at most five digits: RFC 3986 allows an empty port, but a proxy has nowhere to go with one.</summary>
    private static bool TryParsePort(ReadOnlySpan<char> digits, out ushort port)
    {
        port = 0;
        if (digits.IsEmpty || digits.Length > 5)
        {
            return false;
        }

        int value = 0;
        foreach (char c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        if (value is 0 or > ushort.MaxValue)
        {
            return false;
        }

        port = (ushort)value;
        return true;
    }

    private static bool IsRegName(ReadOnlySpan<char> name)
    {
        if (name.Length > MaxHostLength || name.ContainsAnyExcept(RegNameChars))
        {
            return false;
        }

        for (int i = name.IndexOf('%'); i >= 0; i = name.IndexOf('%'))
        {
            if (i + 2 >= name.Length || !char.IsAsciiHexDigit(name[i + 1]) || !char.IsAsciiHexDigit(name[i + 2]))
            {
                return false;
            }

            name = name[(i + 3)..];
        }

        return true;
    }

    /// <summary>IPv6address only: no zone (RFC 6874's "%25" is for browsers, not proxies) and no IPvFuture.</summary>
    private static bool IsIpv6(ReadOnlySpan<char> literal) =>
        !literal.IsEmpty
        && !literal.ContainsAnyExcept(Ipv6Chars)
        && IPAddress.TryParse(literal, out IPAddress? address)
        && address.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>Whether <paramref name="host"/> is an IPv6 address (so a Host field brackets it).</summary>
    public static bool IsIpv6Host(string host) => host.Contains(':', StringComparison.Ordinal);
}
