using System.Buffers;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Benchmarks.Socks5;

/// <summary>The client's greeting, offering no authentication and username/password (what curl sends with credentials).</summary>
[MemoryDiagnoser]
public class Socks5GreetingBenchmarks
{
    private readonly byte[] _destination = new byte[Socks5Limits.MaxGreetingLength];
    private ReadOnlySequence<byte> _wire;
    private Socks5Greeting _greeting;

    [GlobalSetup]
    public void Setup()
    {
        // VER 05, NMETHODS 2, METHODS 00 02.
        byte[] wire = Convert.FromHexString("05020002");
        _wire = new ReadOnlySequence<byte>(wire);
        _greeting = Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]);

        Verify.That(Parse() == _greeting, "greeting does not parse to {00, 02}");
        Verify.SameBytes(wire, _destination.AsSpan(0, Write()), "greeting");
    }

    [Benchmark]
    public Socks5Greeting Parse()
    {
        var reader = new SequenceReader<byte>(_wire);
        return Socks5Greeting.TryParse(ref reader, out Socks5Greeting greeting, out _) ? greeting : default;
    }

    [Benchmark]
    public int Write() => _greeting.Write(_destination);
}
