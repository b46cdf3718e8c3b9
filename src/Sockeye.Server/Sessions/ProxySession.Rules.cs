using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Client;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Rules;
using Sockeye.Server.Status;

namespace Sockeye.Server.Sessions;

/// <summary>The access rules, as one session applies them.</summary>
internal sealed partial class ProxySession : IDestinationCheck
{
    // What the rules said about the request itself. Undecided means the commands must ask again for each concrete
    // destination; a decided request needs no further checks, since every destination it can reach gets the same answer.
    private AccessVerdict _requestVerdict = AccessVerdict.Allow;

    // The route the rules chose for a CONNECT (or for a UDP ASSOCIATE, only one through a SOCKS5 upstream); null for the
    // server's own direct connection.
    private RouteOptions? _route;

    /// <summary>The user as rules see it: <see langword="null"/> for a client that did not authenticate.</summary>
    private string? RuleUser => _settings.RequiresAuthentication ? _user : null;

    /// <summary>What the commands consult for each concrete destination; <see langword="null"/> when the request was decided.</summary>
    private IDestinationCheck? DestinationCheck => _requestVerdict == AccessVerdict.Undecided ? this : null;

    /// <summary>Checks the request as the client made it; on a denial answers X'02' and returns false.</summary>
    private async Task<bool> CheckRequestAsync(Socks5Request request)
    {
        if (_settings.Policy.AllowsEverything)
        {
            return true;
        }

        AccessCommands command = request.Command switch
        {
            Socks5Command.Connect => AccessCommands.Connect,
            Socks5Command.Bind => AccessCommands.Bind,
            _ => AccessCommands.UdpAssociate,
        };

        // CONNECT names its destination; BIND's peer and UDP's datagrams come later. A name written as an address
        // ("0", "127.1") is judged as that address, like the address it is, with no name for name patterns to match.
        bool literal = request.Destination.TryGetLiteralIPAddress(out IPAddress? address);
        AccessRequest access = command == AccessCommands.Connect
            ? AccessRequest.To(ClientAddress, RuleUser, command, literal ? null : request.Destination.DomainName, address, request.Port)
            : AccessRequest.Pending(ClientAddress, RuleUser, command);
        _requestVerdict = Decide(access, out int ruleNumber);
        _route = null;
        if (_requestVerdict != AccessVerdict.Deny)
        {
            if (command == AccessCommands.Connect)
            {
                ChooseRoute(access, ruleNumber);
            }
            else if (command == AccessCommands.UdpAssociate)
            {
                ChooseUdpRoute(access, ruleNumber);
            }

            return true;
        }

        await FailAsync(Socks5ReplyCode.ConnectionNotAllowed, SessionCloseReason.RuleDenied).ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// Takes the route of the rule that allows the destination as the client sent it. A request still undecided (a name an
    /// address rule might judge once resolved) takes the route of the first rule that certainly matches it: sent onward, the
    /// name is never resolved here, so no address rule can judge it; sent directly, it is judged address by address as usual.
    /// </summary>
    private void ChooseRoute(in AccessRequest access, int ruleNumber)
    {
        int number = _requestVerdict == AccessVerdict.Allow ? ruleNumber : _settings.Policy.FirstCertainMatch(access);
        if (number > 0 && _settings.Policy[number] is { Action: AccessAction.Allow, Route: { } route })
        {
            _route = route;
            if (!route.IsDirect)
            {
                _requestVerdict = AccessVerdict.Allow;
            }

            if (_services.SessionLogger.IsEnabled(LogLevel.Debug))
            {
                SessionLog.RouteChosen(_services.SessionLogger, _id, Describe(access), route.ToString(), number);
            }
        }
    }

    /// <inheritdoc/>
    public bool Permits(AccessCommands command, string? name, IPAddress address, int port) =>
        Decide(AccessRequest.To(ClientAddress, RuleUser, command, name, address, port), out _) != AccessVerdict.Deny;

    /// <inheritdoc/>
    public bool PermitsUnresolved(AccessCommands command, string name, int port)
    {
        AccessRequest request = AccessRequest.To(ClientAddress, RuleUser, command, name, null, port);
        AccessVerdict verdict = Decide(request, out _);
        if (verdict != AccessVerdict.Undecided)
        {
            return verdict == AccessVerdict.Allow;
        }

        int number = _settings.Policy.FirstCertainMatch(request);
        return number > 0 && _settings.Policy[number].Action == AccessAction.Allow;
    }

    /// <summary>
    /// UDP ASSOCIATE's route: that of the first rule that certainly matches the request (its datagrams' destinations
    /// still to come), when it allows. A direct route gives the association its egress address; an upstream route must
    /// end with a SOCKS5 proxy, the only kind with UDP ASSOCIATE, or the request is refused (X'07') rather than served
    /// around the route (RunUdpAssociateAsync). The verdict stays as it is: each datagram's destination is still put to
    /// the rules.
    /// </summary>
    private void ChooseUdpRoute(in AccessRequest access, int ruleNumber)
    {
        int number = _requestVerdict == AccessVerdict.Allow ? ruleNumber : _settings.Policy.FirstCertainMatch(access);
        if (number > 0 && _settings.Policy[number] is { Action: AccessAction.Allow, Route: { } route })
        {
            _route = route;
            if (_services.SessionLogger.IsEnabled(LogLevel.Debug))
            {
                SessionLog.RouteChosen(_services.SessionLogger, _id, Describe(access), route.ToString(), number);
            }
        }
    }

    private AccessVerdict Decide(in AccessRequest request, out int ruleNumber)
    {
        AccessDecision decision = _settings.Policy.Evaluate(request);
        ruleNumber = decision.RuleNumber;
        if (decision.Verdict == AccessVerdict.Undecided)
        {
            return AccessVerdict.Undecided;
        }

        AccessRule? rule = decision.RuleNumber > 0 ? _settings.Policy[decision.RuleNumber] : null;
        if (decision.Verdict == AccessVerdict.Deny)
        {
            if (_services.Metrics.CountsRuleDenials)
            {
                _services.Metrics.RuleDenied(rule is null ? "none" : rule.Name ?? $"rule {decision.RuleNumber}");
            }

            string denier = rule is null ? "no rule matched" : rule.Name is { } name ? $"rule '{name}'" : $"rule {decision.RuleNumber}";
            _services.Accounting.Refused(RefusalKind.Rule, ClientAddress, _userName, $"{Describe(request.Command)} {Describe(request)}: {denier}");
        }

        ILogger log = _services.SessionLogger;
        if (rule is { Log: true } && log.IsEnabled(LogLevel.Information))
        {
            SessionLog.RuleApplied(log, _id, _clientEndPoint, Describe(request.Command), Describe(request), LogText.Escape(_user),
                decision.Verdict == AccessVerdict.Allow ? "allowed" : "denied", decision.RuleNumber, rule.Name ?? "");
        }
        else if (decision.Verdict == AccessVerdict.Deny && log.IsEnabled(LogLevel.Debug))
        {
            SessionLog.RuleDenied(log, _id, _clientEndPoint, Describe(request.Command), Describe(request), LogText.Escape(_user), decision.RuleNumber, rule?.Name ?? "no rule matched");
        }

        return decision.Verdict;
    }

    private static string Describe(AccessCommands command) => command switch
    {
        AccessCommands.Connect => "CONNECT",
        AccessCommands.Bind => "BIND",
        _ => "UDP",
    };

    /// <summary>The destination as rule log lines show it; the name the client gave is escaped (LogText).</summary>
    private static string Describe(in AccessRequest request)
    {
        if (!request.DestinationKnown)
        {
            return "(destination to come)";
        }

        string? name = LogText.Escape(request.Name);
        string where = request.Address is null ? $"{name}:{request.Port}" : new IPEndPoint(request.Address, request.Port).ToString();
        return name is null || request.Address is null ? where : $"{name} ({where})";
    }
}
