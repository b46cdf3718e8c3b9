using System.Buffers;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Benchmarks.Socks5;

/// <summary>The server's method selection: username/password.</summary>
[MemoryDiagnoser]
public class Socks5MethodSelectionBenchmarks
{
    private readonly byte[] _destination = new byte[Socks5MethodSelection.Length];
    private ReadOnlySequence<byte> _wire;
    private Socks5MethodSelection _selection;

    [GlobalSetup]
    public void Setup()
    {
        // VER 05, METHOD 02.
        byte[] wire = Convert.FromHexString("0502");
        _wire = new ReadOnlySequence<byte>(wire);
        _selection = new Socks5MethodSelection(Socks5AuthMethod.UsernamePassword);

        Verify.That(Parse() == _selection, "method selection does not parse to 02");
        Verify.SameBytes(wire, _destination.AsSpan(0, Write()), "method selection");
    }

    [Benchmark]
    public Socks5MethodSelection Parse()
    {
        var reader = new SequenceReader<byte>(_wire);
        return Socks5MethodSelection.TryParse(ref reader, out Socks5MethodSelection selection, out _) ? selection : default;
    }

    [Benchmark]
    public int Write() => _selection.Write(_destination);
}
