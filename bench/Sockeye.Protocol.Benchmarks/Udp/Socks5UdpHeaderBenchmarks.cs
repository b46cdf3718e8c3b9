using System.Net;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;

namespace Sockeye.Protocol.Benchmarks.Udp;

/// <summary>The header of a datagram to port 53 with a 32-byte payload, for each kind of DST.ADDR.</summary>
[MemoryDiagnoser]
public class Socks5UdpHeaderBenchmarks
{
    private const ushort Port = 53;
    private const int PayloadLength = 32;

    private readonly byte[] _destination = new byte[Socks5Limits.MaxUdpHeaderLength];
    private byte[] _datagram = [];
    private Socks5Address _address;

    [Params(Socks5AddressType.IPv4, Socks5AddressType.IPv6, Socks5AddressType.DomainName)]
    public Socks5AddressType AddressType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // RSV 0000, FRAG 00, then ATYP, DST.ADDR and DST.PORT 53; the payload follows.
        (string hex, Socks5Address address) = AddressType switch
        {
            Socks5AddressType.IPv4 => ("000000" + "01" + "C0000235" + "0035", Socks5Address.FromIPAddress(IPAddress.Parse("192.0.2.53"))),
            Socks5AddressType.IPv6 => ("000000" + "04" + "20010DB8000000000000000000000053" + "0035", Socks5Address.FromIPAddress(IPAddress.Parse("2001:db8::53"))),
            _ => ("000000" + "03" + "0F" + "7777772E6578616D706C652E636F6D" + "0035", Socks5Address.FromDomainName("www.example.com")),
        };
        byte[] header = Convert.FromHexString(hex);
        _datagram = new byte[header.Length + PayloadLength];
        header.CopyTo(_datagram, 0);
        _address = address;

        Verify.That(
            Socks5UdpHeader.TryParse(_datagram, out Socks5UdpHeader parsed, out int headerLength, out _) &&
            headerLength == header.Length && parsed.Port == Port && parsed.GetDestination() == _address,
            $"datagram header does not parse to {_address}:{Port}");
        Verify.SameBytes(header, _destination.AsSpan(0, Write()), "datagram header");
    }

    /// <summary>The header is a ref struct over the datagram, so the payload offset and port stand in for it.</summary>
    [Benchmark]
    public int Parse()
    {
        return Socks5UdpHeader.TryParse(_datagram, out Socks5UdpHeader header, out int headerLength, out _)
            ? headerLength + header.Port
            : -1;
    }

    [Benchmark]
    public int Write() => Socks5UdpHeader.Write(_destination, 0, _address, Port);
}
