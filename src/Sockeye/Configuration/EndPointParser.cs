using System.Globalization;
using System.Net;

namespace Sockeye.Configuration;

/// <summary>Reads listener endpoints: 127.0.0.1:1080, [::1]:1080, localhost:1080 (IPv4 loopback), *:1080 (all IPv4).</summary>
internal static class EndPointParser
{
    public static bool TryParse(string? text, out IPEndPoint? endPoint, out string problem)
    {
        endPoint = null;
        problem = "";
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            problem = "is empty; write HOST:PORT, e.g. 127.0.0.1:1080 or [::1]:1080";
            return false;
        }

        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            problem = $"'{text}' is not HOST:PORT; write e.g. 127.0.0.1:1080 or [::1]:1080";
            return false;
        }

        string host = text[..colon];
        string portText = text[(colon + 1)..];
        if (!ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
        {
            problem = $"'{portText}' in '{text}' is not a port number (0 to 65535)";
            return false;
        }

        IPAddress? address;
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            if (!IPAddress.TryParse(host[1..^1], out address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                problem = $"'{host}' in '{text}' is not an IPv6 address";
                return false;
            }
        }
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
        }
        else if (host == "*")
        {
            address = IPAddress.Any;
        }
        else if (!IPAddress.TryParse(host, out address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            problem = host.Contains(':', StringComparison.Ordinal)
                ? $"'{text}': put an IPv6 address in brackets, e.g. [::1]:1080"
                : $"'{host}' in '{text}' is not an IPv4 address (or localhost, *, or [IPv6])";
            return false;
        }

        endPoint = new IPEndPoint(address, port);
        return true;
    }
}
