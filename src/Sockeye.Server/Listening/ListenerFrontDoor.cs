using Sockeye.Server.Configuration;

namespace Sockeye.Server.Listening;

/// <summary>How a listener greets its clients: the protocols it speaks, and the PROXY header it reads first, if any.</summary>
/// <param name="Protocols">The protocols the client's first byte may choose from.</param>
/// <param name="ProxyProtocol">The PROXY protocol settings; null when the client's own bytes come first.</param>
internal sealed record ListenerFrontDoor(ListenerProtocols Protocols, ProxyProtocolOptions? ProxyProtocol);
