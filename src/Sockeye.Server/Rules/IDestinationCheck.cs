using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Rules;

/// <summary>
/// Asks the access rules about one concrete destination of a session whose request they could not decide up front:
/// each address of a name (CONNECT), the peer that connected (BIND), each datagram's destination (UDP ASSOCIATE).
/// Implemented by the session, which knows the client and the user, so the commands need no closure.
/// </summary>
internal interface IDestinationCheck
{
    /// <summary>Whether the rules allow <paramref name="command"/> to reach <paramref name="address"/>:<paramref name="port"/>,
    /// which the client named as <paramref name="name"/> if it gave a name. A denial is logged.</summary>
    bool Permits(AccessCommands command, string? name, IPAddress address, int port);

    /// <summary>
    /// Whether the rules allow <paramref name="command"/> to send to <paramref name="name"/>:<paramref name="port"/> onward
    /// through an upstream, which resolves it: the name is never resolved here, so a name an address rule might judge once
    /// resolved is judged by the first rule that certainly matches it, as a routed CONNECT's is. A denial is logged.
    /// </summary>
    bool PermitsUnresolved(AccessCommands command, string name, int port);
}
