using System.Buffers;
using System.Net;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Benchmarks.Socks5;

/// <summary>A success reply to CONNECT, for each kind of BND.ADDR a server reports.</summary>
[MemoryDiagnoser]
public class Socks5ReplyBenchmarks
{
    private readonly byte[] _destination = new byte[Socks5Reply.MaxLength];
    private ReadOnlySequence<byte> _wire;
    private Socks5Reply _reply;

    // A server binds an IP address, never a name: a domain BND.ADDR is legal but not what Sockeye sends.
    [Params(Socks5AddressType.IPv4, Socks5AddressType.IPv6)]
    public Socks5AddressType AddressType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // VER 05, REP 00 (succeeded), RSV 00, then ATYP, BND.ADDR and BND.PORT 50000.
        (string hex, IPAddress bound) = AddressType switch
        {
            Socks5AddressType.IPv4 => ("05000001" + "C6336407" + "C350", IPAddress.Parse("198.51.100.7")),
            _ => ("05000004" + "20010DB8000000000000000000000007" + "C350", IPAddress.Parse("2001:db8::7")),
        };
        byte[] wire = Convert.FromHexString(hex);
        _wire = new ReadOnlySequence<byte>(wire);
        _reply = new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromIPAddress(bound), 50000);

        Verify.That(Parse() == _reply, $"reply does not parse to {_reply}");
        Verify.SameBytes(wire, _destination.AsSpan(0, Write()), "reply");
    }

    [Benchmark]
    public Socks5Reply Parse()
    {
        var reader = new SequenceReader<byte>(_wire);
        return Socks5Reply.TryParse(ref reader, out Socks5Reply reply, out _) ? reply : default;
    }

    [Benchmark]
    public int Write() => _reply.Write(_destination);
}
