using System.Net;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>Turns what callers write (a host string, a port number) into what the codec sends.</summary>
internal static class Destinations
{
    /// <summary>
    /// An IPv4 or IPv6 literal becomes an address (ATYP X'01' or X'04'); anything else is a name, sent unresolved
    /// (ATYP X'03'), as curl's socks5h does, so the proxy resolves it and this machine's DNS never sees it.
    /// </summary>
    public static Socks5Address FromHost(string host, string parameterName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host, parameterName);
        ReadOnlySpan<char> literal = host.AsSpan();
        if (literal.Length > 2 && literal[0] == '[' && literal[^1] == ']')
        {
            literal = literal[1..^1];
        }

        // IPAddress.TryParse also reads the short and hex forms ("127.1", "0x7f.1") as IPv4, as inet_aton, the URL
        // standard and System.Uri do: such a host names an address everywhere, so it goes as one.
        if (IPAddress.TryParse(literal, out IPAddress? address))
        {
            return FromIPAddress(address);
        }

        try
        {
            return Socks5Address.FromDomainName(host);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(e.Message, parameterName, e);
        }
    }

    /// <summary>An IPv4-mapped IPv6 address is sent as the IPv4 address it stands for.</summary>
    public static Socks5Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return Socks5Address.FromIPAddress(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="port"/> is not 0–65535.</exception>
    public static ushort ToPort(int port, string parameterName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port, parameterName);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue, parameterName);
        return (ushort)port;
    }
}
