using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Rules;

/// <summary>
/// The server's ordered access rules, first match wins, no match denies. A request may be asked about before all of it
/// is known: a name before it resolves, a BIND or UDP ASSOCIATE before any peer or datagram exists. Rules whose
/// destination or port cannot be judged yet make the answer <see cref="AccessVerdict.Undecided"/> unless every way
/// they could go leads to the same action; the final check, with everything known, always decides.
/// </summary>
internal sealed class AccessPolicy
{
    private readonly AccessRule[] _rules;

    public AccessPolicy(IReadOnlyList<AccessRule> rules)
    {
        _rules = new AccessRule[rules.Count];
        for (int i = 0; i < rules.Count; i++)
        {
            _rules[i] = rules[i];
        }

        AllowsEverything = _rules.Length > 0 && IsUnconditional(_rules[0]) && _rules[0].Action == AccessAction.Allow;
    }

    /// <summary>Whether the first rule allows everything, so that no request needs checking.</summary>
    public bool AllowsEverything { get; }

    /// <summary>The rule with the 1-based number <paramref name="number"/>.</summary>
    public AccessRule this[int number] => _rules[number - 1];

    public AccessDecision Evaluate(in AccessRequest request)
    {
        if (AllowsEverything)
        {
            return new AccessDecision(AccessVerdict.Allow, 1);
        }

        // Actions of the earlier rules that might match once the destination is known.
        bool mightAllow = false;
        bool mightDeny = false;
        for (int i = 0; i < _rules.Length; i++)
        {
            AccessRule rule = _rules[i];
            if ((rule.Commands & request.Command) == 0 || !MatchesClient(rule, request.Client) || !MatchesUser(rule, request.User))
            {
                continue;
            }

            Match destination = MatchDestination(rule, request);
            Match port = MatchPort(rule, request.Port);
            if (destination == Match.No || port == Match.No)
            {
                continue;
            }

            bool allows = rule.Action == AccessAction.Allow;
            if (destination == Match.Yes && port == Match.Yes)
            {
                bool conflict = allows ? mightDeny : mightAllow;
                return conflict
                    ? new AccessDecision(AccessVerdict.Undecided, 0)
                    : new AccessDecision(allows ? AccessVerdict.Allow : AccessVerdict.Deny, i + 1);
            }

            mightAllow |= allows;
            mightDeny |= !allows;
        }

        return mightAllow ? new AccessDecision(AccessVerdict.Undecided, 0) : new AccessDecision(AccessVerdict.Deny, 0);
    }

    /// <summary>
    /// The number of the first rule that certainly matches <paramref name="request"/> as it stands (its destination as
    /// the client sent it), ignoring rules that only might match once a name resolves; 0 for none. A route is chosen by
    /// it: a destination sent onward is never resolved here.
    /// </summary>
    public int FirstCertainMatch(in AccessRequest request)
    {
        for (int i = 0; i < _rules.Length; i++)
        {
            AccessRule rule = _rules[i];
            if ((rule.Commands & request.Command) != 0 && MatchesClient(rule, request.Client) && MatchesUser(rule, request.User)
                && MatchDestination(rule, request) == Match.Yes && MatchPort(rule, request.Port) == Match.Yes)
            {
                return i + 1;
            }
        }

        return 0;
    }

    private static bool IsUnconditional(AccessRule rule) =>
        rule.Commands == AccessCommands.All && rule.Clients.Count == 0 && rule.Users.Count == 0 && !rule.Anonymous
        && rule.Destinations.Count == 0 && rule.Ports.Count == 0 && !rule.Log && rule.Route is null;

    private static bool MatchesClient(AccessRule rule, IPAddress client)
    {
        IList<IPNetwork> clients = rule.Clients;
        if (clients.Count == 0)
        {
            return true;
        }

        for (int i = 0; i < clients.Count; i++)
        {
            if (clients[i].Contains(client))
            {
                return true;
            }
        }

        return false;
    }

    private static bool MatchesUser(AccessRule rule, string? user)
    {
        IList<string> users = rule.Users;
        if (users.Count == 0 && !rule.Anonymous)
        {
            return true;
        }

        if (user is null)
        {
            return rule.Anonymous;
        }

        for (int i = 0; i < users.Count; i++)
        {
            if (string.Equals(users[i], user, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A network pattern (or the host's addresses) matches the destination's address, a name pattern the name the
    /// client asked for, so the addresses a name resolves to are judged both by the name and by where they are.
    /// </summary>
    private static Match MatchDestination(AccessRule rule, in AccessRequest request)
    {
        IList<DestinationPattern> patterns = rule.Destinations;
        if (patterns.Count == 0)
        {
            return Match.Yes;
        }

        bool unknown = false;
        for (int i = 0; i < patterns.Count; i++)
        {
            DestinationPattern pattern = patterns[i];
            if (pattern.MatchesAddresses)
            {
                if (request.Address is not null)
                {
                    if (pattern.Matches(request.Address))
                    {
                        return Match.Yes;
                    }
                }
                else if (request.Name is not null || !request.DestinationKnown)
                {
                    // A name not resolved yet, or no destination yet: any address is possible.
                    unknown = true;
                }
            }
            else if (request.Name is not null)
            {
                if (pattern.Matches(request.Name))
                {
                    return Match.Yes;
                }
            }
            else if (!request.DestinationKnown)
            {
                unknown = true;
            }
        }

        return unknown ? Match.Unknown : Match.No;
    }

    private static Match MatchPort(AccessRule rule, int port)
    {
        IList<PortRange> ranges = rule.Ports;
        if (ranges.Count == 0)
        {
            return Match.Yes;
        }

        if (port < 0)
        {
            return Match.Unknown;
        }

        for (int i = 0; i < ranges.Count; i++)
        {
            if (ranges[i].Contains(port))
            {
                return Match.Yes;
            }
        }

        return Match.No;
    }

    private enum Match
    {
        No,
        Yes,
        Unknown,
    }
}
