using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Protocol.Benchmarks.UsernamePassword;

/// <summary>An RFC 1929 request with a 5-byte username and a 15-byte password.</summary>
[MemoryDiagnoser]
public class UsernamePasswordRequestBenchmarks
{
    private readonly byte[] _destination = new byte[UsernamePasswordRequest.MaxLength];
    private readonly byte[] _scratch = new byte[UsernamePasswordRequest.ScratchLength];
    private ReadOnlySequence<byte> _wire;
    private byte[] _username = [];
    private byte[] _password = [];

    [GlobalSetup]
    public void Setup()
    {
        // VER 01, ULEN 5, "alice", PLEN 15, "s3cret-passw0rd".
        byte[] wire = Convert.FromHexString("01" + "05" + "616C696365" + "0F" + "7333637265742D7061737377307264");
        _wire = new ReadOnlySequence<byte>(wire);
        _username = Encoding.ASCII.GetBytes("alice");
        _password = Encoding.ASCII.GetBytes("s3cret-passw0rd");

        var reader = new SequenceReader<byte>(_wire);
        Verify.That(
            UsernamePasswordRequest.TryParse(ref reader, _scratch, out UsernamePasswordRequest parsed, out _) &&
            parsed.Username.SequenceEqual(_username) && parsed.Password.SequenceEqual(_password),
            "credentials do not parse to alice / s3cret-passw0rd");
        Verify.SameBytes(wire, _destination.AsSpan(0, Write()), "username/password request");
    }

    /// <summary>The request is a ref struct over the scratch buffer, so the field lengths stand in for it.</summary>
    [Benchmark]
    public int Parse()
    {
        var reader = new SequenceReader<byte>(_wire);
        return UsernamePasswordRequest.TryParse(ref reader, _scratch, out UsernamePasswordRequest request, out _)
            ? request.Username.Length + request.Password.Length
            : -1;
    }

    /// <summary>A ref struct cannot be a field, so this includes the constructor's two length checks.</summary>
    [Benchmark]
    public int Write() => new UsernamePasswordRequest(_username, _password).Write(_destination);
}
