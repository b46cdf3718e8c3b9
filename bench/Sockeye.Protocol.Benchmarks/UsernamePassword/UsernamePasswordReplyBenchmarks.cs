using System.Buffers;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Protocol.Benchmarks.UsernamePassword;

/// <summary>The RFC 1929 success reply.</summary>
[MemoryDiagnoser]
public class UsernamePasswordReplyBenchmarks
{
    private readonly byte[] _destination = new byte[UsernamePasswordReply.Length];
    private ReadOnlySequence<byte> _wire;
    private UsernamePasswordReply _reply;

    [GlobalSetup]
    public void Setup()
    {
        // VER 01, STATUS 00.
        byte[] wire = Convert.FromHexString("0100");
        _wire = new ReadOnlySequence<byte>(wire);
        _reply = UsernamePasswordReply.Success;

        Verify.That(Parse() == _reply, "reply does not parse to success");
        Verify.SameBytes(wire, _destination.AsSpan(0, Write()), "username/password reply");
    }

    [Benchmark]
    public UsernamePasswordReply Parse()
    {
        var reader = new SequenceReader<byte>(_wire);
        return UsernamePasswordReply.TryParse(ref reader, out UsernamePasswordReply reply, out _) ? reply : default;
    }

    [Benchmark]
    public int Write() => _reply.Write(_destination);
}
