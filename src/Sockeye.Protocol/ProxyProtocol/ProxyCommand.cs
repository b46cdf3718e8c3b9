namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>What the sender says about the connection. Values are the low nibble of a v2 header's 13th byte.</summary>
public enum ProxyCommand : byte
{
    /// <summary>
    /// The balancer opened the connection itself (a health check): the real connection's endpoints are the true ones,
    /// and any addresses in the header are ignored. Only v2 has it.
    /// </summary>
    Local = 0,

    /// <summary>
    /// The connection is relayed for a client; <see cref="ProxyHeader.Source"/> names it when the family is one with
    /// addresses. Every v1 line, <c>UNKNOWN</c> included, is reported with this command.
    /// </summary>
    Proxy = 1,
}
