using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>A datagram received through a UDP association: how many payload bytes, and who sent them.</summary>
/// <param name="ReceivedBytes">The payload bytes copied into the caller's buffer (the SOCKS5 header is removed).</param>
/// <param name="Source">The address that sent the datagram to the proxy's relay, as the relay reports it.</param>
/// <param name="SourcePort">The port it was sent from.</param>
public readonly record struct Socks5UdpReceiveResult(int ReceivedBytes, Socks5Address Source, int SourcePort);
