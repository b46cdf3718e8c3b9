namespace Sockeye.Protocol.Http;

/// <summary>What the heads compute from their fields: lookup, persistence, hop-by-hop fields, and the Create checks.</summary>
internal static class HttpFieldRules
{
    /// <summary>
    /// Hop-by-hop fields a proxy never forwards (RFC 9110 §7.6.1), besides those Connection names. Transfer-Encoding is
    /// not among them: the proxy passes a chunked body through verbatim, so its framing field travels with it.
    /// </summary>
    private static readonly string[] HopByHop = ["Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Upgrade"];

    public static string? Get(HttpHeaderField[] fields, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (HttpHeaderField field in fields)
        {
            if (field.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return field.Value;
            }
        }

        return null;
    }

    /// <summary>
    /// RFC 9112 §9.3: "close" in Connection ends the connection after this message; otherwise HTTP/1.1 persists and
    /// HTTP/1.0 persists only with "keep-alive". <paramref name="proxyConnection"/>: Proxy-Connection counts as
    /// Connection, since clients such as curl send it to proxies instead.
    /// </summary>
    public static bool KeepAlive(int minorVersion, HttpHeaderField[] fields, bool proxyConnection)
    {
        bool keepAlive = false;
        foreach (HttpHeaderField field in fields)
        {
            if (field.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                || (proxyConnection && field.Name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase)))
            {
                if (HttpSyntax.ListContains(field.Value, "close"))
                {
                    return false;
                }

                keepAlive |= HttpSyntax.ListContains(field.Value, "keep-alive");
            }
        }

        return minorVersion >= 1 || keepAlive;
    }

    /// <summary>Whether a proxy drops <paramref name="name"/>: a fixed hop-by-hop field, or one a Connection field names.</summary>
    public static bool IsHopByHop(string name, HttpHeaderField[] fields)
    {
        foreach (string hop in HopByHop)
        {
            if (name.Equals(hop, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        foreach (HttpHeaderField field in fields)
        {
            if (field.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase) && HttpSyntax.ListContains(field.Value, name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The checks of <c>Create</c>: what a parse would accept, so that whatever is created writes and parses back.</summary>
    public static HttpHeaderField[] Validate(IReadOnlyList<HttpHeaderField> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var copy = new HttpHeaderField[fields.Count];
        for (int i = 0; i < copy.Length; i++)
        {
            HttpHeaderField field = fields[i];
            if (field.Name is null || !HttpSyntax.IsToken(field.Name))
            {
                throw new ArgumentException($"Field {i}'s name is not a token (RFC 9110 §5.1).", nameof(fields));
            }

            if (field.Value is null || !HttpSyntax.IsFieldValue(field.Value))
            {
                throw new ArgumentException($"Field {i} ({field.Name}) has a value with a control character, a char above U+00FF, or surrounding whitespace.", nameof(fields));
            }

            copy[i] = field;
        }

        return copy;
    }

    public static int FieldsLength(HttpHeaderField[] fields)
    {
        int length = 0;
        foreach (HttpHeaderField field in fields)
        {
            length += HttpHeadWriter.FieldLength(field.Name, field.Value);
        }

        return length;
    }
}
