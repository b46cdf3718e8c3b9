using System.Buffers;
using System.Net;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Benchmarks.Socks5;

/// <summary>A CONNECT request to port 443, for each kind of DST.ADDR.</summary>
[MemoryDiagnoser]
public class Socks5RequestBenchmarks
{
    private readonly byte[] _destination = new byte[Socks5Request.MaxLength];
    private ReadOnlySequence<byte> _wire;
    private Socks5Request _request;

    [Params(Socks5AddressType.IPv4, Socks5AddressType.IPv6, Socks5AddressType.DomainName)]
    public Socks5AddressType AddressType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // VER 05, CMD 01 (CONNECT), RSV 00, then ATYP, DST.ADDR and DST.PORT 443.
        (string hex, Socks5Address address) = AddressType switch
        {
            Socks5AddressType.IPv4 => ("05010001" + "C000020A" + "01BB", Socks5Address.FromIPAddress(IPAddress.Parse("192.0.2.10"))),
            Socks5AddressType.IPv6 => ("05010004" + "20010DB8000000000000000000000010" + "01BB", Socks5Address.FromIPAddress(IPAddress.Parse("2001:db8::10"))),
            _ => ("05010003" + "0F" + "7777772E6578616D706C652E636F6D" + "01BB", Socks5Address.FromDomainName("www.example.com")),
        };
        byte[] wire = Convert.FromHexString(hex);
        _wire = new ReadOnlySequence<byte>(wire);
        _request = new Socks5Request(Socks5Command.Connect, address, 443);

        Verify.That(Parse() == _request, $"request does not parse to {_request}");
        Verify.SameBytes(wire, _destination.AsSpan(0, Write()), "request");
    }

    /// <summary>Allocates the domain name's string for ATYP 03, and nothing otherwise.</summary>
    [Benchmark]
    public Socks5Request Parse()
    {
        var reader = new SequenceReader<byte>(_wire);
        return Socks5Request.TryParse(ref reader, out Socks5Request request, out _) ? request : default;
    }

    [Benchmark]
    public int Write() => _request.Write(_destination);
}
