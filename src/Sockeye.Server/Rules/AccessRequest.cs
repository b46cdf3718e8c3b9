using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Rules;

/// <summary>
/// What a rule is checked against. <see cref="Name"/> is the domain the client asked for, if it asked for one;
/// <see cref="Address"/> the destination address, once known (for a name, each address it resolved to);
/// <see cref="Port"/> is -1 while unknown.
/// </summary>
internal readonly struct AccessRequest
{
    private AccessRequest(IPAddress client, string? user, AccessCommands command, string? name, IPAddress? address, int port, bool destinationKnown)
    {
        Client = Normalize(client);
        User = user;
        Command = command;
        Name = name;
        Address = address is null ? null : Normalize(address);
        Port = port;
        DestinationKnown = destinationKnown;
    }

    public IPAddress Client { get; }

    public string? User { get; }

    public AccessCommands Command { get; }

    public string? Name { get; }

    public IPAddress? Address { get; }

    public int Port { get; }

    /// <summary>False before there is any destination: a BIND before its peer, a UDP ASSOCIATE before its datagrams.</summary>
    public bool DestinationKnown { get; }

    /// <summary>A request for <paramref name="address"/>, or for <paramref name="name"/> resolved to <paramref name="address"/>.</summary>
    public static AccessRequest To(IPAddress client, string? user, AccessCommands command, string? name, IPAddress? address, int port) =>
        new(client, user, command, name, address, port, destinationKnown: true);

    /// <summary>A request whose destination comes later (BIND, UDP ASSOCIATE).</summary>
    public static AccessRequest Pending(IPAddress client, string? user, AccessCommands command) =>
        new(client, user, command, null, null, -1, destinationKnown: false);

    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; rules are written with plain IPv4.
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>The outcome of <see cref="AccessPolicy.Evaluate"/>.</summary>
internal enum AccessVerdict
{
    Allow,
    Deny,

    /// <summary>Depends on what is not known yet (the addresses of a name, the BIND peer, each datagram).</summary>
    Undecided,
}

/// <summary>The verdict, and the 1-based number of the rule that gave it (0: no rule matched, or none decided yet).</summary>
internal readonly record struct AccessDecision(AccessVerdict Verdict, int RuleNumber);
