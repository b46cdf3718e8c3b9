using System.Net;
using Microsoft.Extensions.Configuration;
using Sockeye.Server.Configuration;

namespace Sockeye.Configuration;

/// <summary>
/// Reads the <c>rules</c> array of the configuration into <see cref="AccessRule"/>s, reporting every problem with its
/// key, e.g. <c>rules[2].ports: '80-70' is an empty range; write the lower port first.</c>
/// </summary>
/// <remarks>
/// Each list (clients, commands, destinations, ports, users) is either a JSON array or one comma-separated string, the
/// form an environment variable can give. <c>users</c> is a list of names, or one of the words <c>any</c> and
/// <c>anonymous</c>; a list holds names only, so a user really called "anonymous" can still be named.
/// </remarks>
internal static class RulesReader
{
    private static readonly HashSet<string> KnownRuleKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "action", "name", "clients", "users", "commands", "destinations", "ports", "log", "route", "fallback", "bindAddress", "interface",
    };

    public static void Read(IConfigurationSection section, IList<AccessRule> rules, List<string> errors)
    {
        if (section.Value is not null)
        {
            errors.Add("rules: must be a list of rules, e.g. [ { \"action\": \"allow\" } ]; see docs/configuration.md.");
            return;
        }

        foreach (IConfigurationSection ruleSection in section.GetChildren())
        {
            string key = $"rules[{ruleSection.Key}]";
            var rule = new AccessRule();
            foreach (IConfigurationSection field in ruleSection.GetChildren())
            {
                if (!KnownRuleKeys.Contains(field.Key))
                {
                    errors.Add($"{key}.{field.Key}: unknown rule setting; a rule has action, name, clients, users, commands, destinations, ports, log, route, fallback, bindAddress and interface.");
                }
            }

            ReadAction(ruleSection, key, rule, errors);
            rule.Name = ruleSection["name"];
            rule.Log = SettingsReader.ParseBool(ruleSection["log"], $"{key}.log", errors);
            ReadClients(ruleSection, key, rule, errors);
            ReadUsers(ruleSection, key, rule, errors);
            ReadCommands(ruleSection, key, rule, errors);
            ReadRoute(ruleSection, key, rule, errors);
            foreach (string text in ReadList(ruleSection, "destinations"))
            {
                if (DestinationPattern.TryParse(text, out DestinationPattern? pattern, out string? problem))
                {
                    rule.Destinations.Add(pattern!);
                }
                else
                {
                    errors.Add($"{key}.destinations: {problem}.");
                }
            }

            foreach (string text in ReadList(ruleSection, "ports"))
            {
                if (PortRange.TryParse(text, out PortRange range, out string? problem))
                {
                    rule.Ports.Add(range);
                }
                else
                {
                    errors.Add($"{key}.ports: {problem}.");
                }
            }

            rules.Add(rule);
        }
    }

    private static void ReadAction(IConfigurationSection rule, string key, AccessRule target, List<string> errors)
    {
        string? text = rule["action"]?.Trim();
        if (string.Equals(text, "allow", StringComparison.OrdinalIgnoreCase))
        {
            target.Action = AccessAction.Allow;
        }
        else if (string.Equals(text, "deny", StringComparison.OrdinalIgnoreCase))
        {
            target.Action = AccessAction.Deny;
        }
        else
        {
            errors.Add(text is null
                ? $"{key}.action: every rule needs an action, allow or deny."
                : $"{key}.action: '{text}' is not allow or deny.");
        }
    }

    private static void ReadClients(IConfigurationSection rule, string key, AccessRule target, List<string> errors)
    {
        foreach (string text in ReadList(rule, "clients"))
        {
            if (TryParseClientNetwork(text, out System.Net.IPNetwork network, out string? problem))
            {
                target.Clients.Add(network);
            }
            else
            {
                errors.Add($"{key}.clients: {problem ?? $"'{text}' is not a network such as 192.168.0.0/16 or an address; clients are matched by address, not by name"}.");
            }
        }
    }

    /// <summary>
    /// A client network: the same syntax as a destination's network or address, without names, since a client is
    /// matched by address only. <paramref name="problem"/> is the parser's reason when it has one.
    /// </summary>
    internal static bool TryParseClientNetwork(string text, out System.Net.IPNetwork network, out string? problem)
    {
        if (DestinationPattern.TryParse(text, out DestinationPattern? pattern, out problem) && pattern!.Network is { } parsed)
        {
            network = parsed;
            return true;
        }

        network = default;
        return false;
    }

    private static void ReadUsers(IConfigurationSection rule, string key, AccessRule target, List<string> errors)
    {
        IConfigurationSection users = rule.GetSection("users");
        if (users.Value is { } word)
        {
            switch (word.Trim().ToUpperInvariant())
            {
                case "ANY":
                    return;
                case "ANONYMOUS":
                    target.Anonymous = true;
                    return;
                default:
                    errors.Add($"{key}.users: '{word}' is not any or anonymous; list user names as an array, e.g. [\"alice\"].");
                    return;
            }
        }

        foreach (IConfigurationSection user in users.GetChildren())
        {
            if (string.IsNullOrEmpty(user.Value))
            {
                errors.Add($"{key}.users[{user.Key}]: a user name is needed.");
                continue;
            }

            target.Users.Add(user.Value);
        }
    }

    private static void ReadCommands(IConfigurationSection rule, string key, AccessRule target, List<string> errors)
    {
        List<string> names = ReadList(rule, "commands");
        if (names.Count == 0)
        {
            return;
        }

        AccessCommands commands = AccessCommands.None;
        bool valid = true;
        foreach (string name in names)
        {
            switch (name.ToUpperInvariant())
            {
                case "CONNECT":
                    commands |= AccessCommands.Connect;
                    break;
                case "BIND":
                    commands |= AccessCommands.Bind;
                    break;
                case "UDP" or "UDP-ASSOCIATE" or "UDPASSOCIATE":
                    commands |= AccessCommands.UdpAssociate;
                    break;
                default:
                    errors.Add($"{key}.commands: '{name}' is not connect, bind or udp.");
                    valid = false;
                    break;
            }
        }

        if (valid)
        {
            target.Commands = commands;
        }
    }

    /// <summary>An array, or one comma-separated string (the form an environment variable gives); empty entries are dropped.</summary>
    /// <summary>
    /// <c>route</c> (<c>direct</c>, an upstream URI, or a list of them for a chain), <c>fallback</c> (the same forms),
    /// <c>bindAddress</c> (one address per family) and <c>interface</c>: how an allow rule's destinations are reached.
    /// </summary>
    private static void ReadRoute(IConfigurationSection section, string key, AccessRule rule, List<string> errors)
    {
        bool hasRoute = section.GetSection("route").Exists();
        bool hasFallback = section.GetSection("fallback").Exists();
        List<string> bindAddresses = ReadList(section, "bindAddress");
        string? device = section["interface"];
        if (!hasRoute && !hasFallback && bindAddresses.Count == 0 && device is null)
        {
            return;
        }

        if (rule.Action != AccessAction.Allow)
        {
            errors.Add($"{key}: route, fallback, bindAddress and interface belong to allow rules; a deny rule reaches nothing.");
            return;
        }

        RouteOptions route = ReadUpstreams(ReadList(section, "route"), $"{key}.route", errors);
        foreach (string text in bindAddresses)
        {
            if (!IPAddress.TryParse(text, out IPAddress? address))
            {
                errors.Add($"{key}.bindAddress: '{text}' is not an IP address.");
            }
            else if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? route.BindAddressV4 is not null : route.BindAddressV6 is not null)
            {
                errors.Add($"{key}.bindAddress: give at most one IPv4 and one IPv6 address.");
            }
            else if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            {
                route.BindAddressV4 = address;
            }
            else
            {
                route.BindAddressV6 = address;
            }
        }

        if (device is not null)
        {
            if (!IsInterfaceName(device))
            {
                errors.Add($"{key}.interface: '{device}' is not an interface name (1 to 15 letters, digits, '.', '-', '_' or ':').");
            }
            else if (!OperatingSystem.IsLinux())
            {
                errors.Add($"{key}.interface: choosing the interface (SO_BINDTODEVICE) works on Linux only.");
            }

            route.Interface = device;
        }

        if (hasFallback)
        {
            RouteOptions fallback = ReadUpstreams(ReadList(section, "fallback"), $"{key}.fallback", errors);
            (fallback.BindAddressV4, fallback.BindAddressV6, fallback.Interface) = (route.BindAddressV4, route.BindAddressV6, route.Interface);
            route.Fallback = fallback;
        }

        rule.Route = route;
    }

    /// <summary>A route's hops from their URIs; <c>direct</c> (or nothing) for none.</summary>
    private static RouteOptions ReadUpstreams(List<string> texts, string key, List<string> errors)
    {
        var route = new RouteOptions();
        if (texts is ["direct"] || texts.Count == 0)
        {
            return route;
        }

        foreach (string text in texts)
        {
            if (text.Equals("direct", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{key}: 'direct' cannot be part of a chain; a route is either direct or a list of upstreams.");
                continue;
            }

            try
            {
                route.Upstreams.Add(Sockeye.Client.Socks5Proxy.FromUri(new Uri(text, UriKind.Absolute)));
            }
            catch (Exception e) when (e is UriFormatException or ArgumentException)
            {
                errors.Add($"{key}: '{Redact(text)}' is not an upstream proxy; write socks5://host:port, socks4a://host:port or http://host:port (user:password@ before the host where it asks for a login).");
            }
        }

        return route;
    }

    /// <summary>A URI as an error message may show it: without the password it may carry.</summary>
    private static string Redact(string text)
    {
        int at = text.LastIndexOf('@');
        int scheme = text.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? string.Concat(text.AsSpan(0, scheme + 3), "***", text.AsSpan(at)) : text;
    }

    private static bool IsInterfaceName(string name) =>
        name.Length is > 0 and < 16 && name.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or ':');

    internal static List<string> ReadList(IConfigurationSection rule, string name)
    {
        IConfigurationSection section = rule.GetSection(name);
        var items = new List<string>();
        if (section.Value is { } single)
        {
            items.AddRange(single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            return items;
        }

        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (!string.IsNullOrWhiteSpace(child.Value))
            {
                items.Add(child.Value.Trim());
            }
        }

        return items;
    }
}
