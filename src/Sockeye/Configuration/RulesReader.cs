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
        "action", "name", "clients", "users", "commands", "destinations", "ports", "log",
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
                    errors.Add($"{key}.{field.Key}: unknown rule setting; a rule has action, name, clients, users, commands, destinations, ports and log.");
                }
            }

            ReadAction(ruleSection, key, rule, errors);
            rule.Name = ruleSection["name"];
            rule.Log = SettingsReader.ParseBool(ruleSection["log"], $"{key}.log", errors);
            ReadClients(ruleSection, key, rule, errors);
            ReadUsers(ruleSection, key, rule, errors);
            ReadCommands(ruleSection, key, rule, errors);
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
