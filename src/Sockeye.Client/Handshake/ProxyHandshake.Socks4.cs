using Sockeye.Protocol.Socks4;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Handshake;

/// <summary>SOCKS4a: one request, one eight-byte reply.</summary>
internal sealed partial class ProxyHandshake
{
    /// <summary>
    /// A name goes in SOCKS4a's form, unresolved, as SOCKS5 names do; an IPv4 address as plain SOCKS4; an IPv6 address
    /// cannot go at all. USERID is the credential's user name, or empty.
    /// </summary>
    private async Task<Socks5Reply> Socks4ConnectAsync(Socks5Address destination, ushort port, CancellationToken cancellationToken)
    {
        Step = HandshakeStep.Request;
        if (destination.Type == Socks5AddressType.IPv6)
        {
            throw SocksErrors.CannotCarry(Hop, destination.ToString(port), "SOCKS4 carries IPv4 addresses and (SOCKS4a) names, not IPv6 addresses");
        }

        var request = new Socks4Request(Socks4Command.Connect, destination, port, Hop.Proxy.Credential?.UserName ?? "");
        await SendAsync(request.Write(Buffer), cancellationToken).ConfigureAwait(false);
        Socks4Reply reply = await ReceiveAsync<MessageParsers.Socks4, Socks4Reply, Socks4ParseError>(cancellationToken).ConfigureAwait(false);
        if (reply.Code != Socks4ReplyCode.Granted)
        {
            throw SocksErrors.Socks4Rejected(Hop, destination.ToString(port), (byte)reply.Code);
        }

        return new Socks5Reply(Socks5ReplyCode.Succeeded, Destinations.FromIPAddress(reply.Address), reply.Port);
    }
}
