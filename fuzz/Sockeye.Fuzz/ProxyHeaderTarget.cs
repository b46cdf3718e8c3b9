using System.Buffers;
using Sockeye.Protocol.ProxyProtocol;

namespace Sockeye.Fuzz;

/// <summary>
/// The PROXY protocol header parser (<see cref="ProxyHeader.TryParse"/>) fed arbitrary bytes, split into two segments
/// where the first byte says, and checked for what must hold whatever the bytes: no exception, a reader that has not
/// moved unless a header was parsed, a length within the input and the bound, and a header that writes back and parses
/// to the same fields.
/// </summary>
public static class ProxyHeaderTarget
{
    /// <summary>The bound the server passes (its handshake input area).</summary>
    public const int MaxLength = 2048;

    /// <summary>Runs one input; returns whether it held a header. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        ReadOnlySequence<byte> sequence = Segments.Of(bytes, split);
        var reader = new SequenceReader<byte>(sequence);
        bool parsed = ProxyHeader.TryParse(ref reader, MaxLength, out ProxyHeader header, out ProxyParseError error);
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            Check(header.Length == 0, "a failed parse returned a header");
            return false;
        }

        Check(error == ProxyParseError.None, "a parsed header came with an error");
        Check(header.Length == reader.Consumed, "the header's length is not what was consumed");
        Check(header.Length <= bytes.Length, "the header is longer than the input");
        Check(header.Length <= (header.Version == ProxyProtocolVersion.V1 ? ProxyHeader.MaxV1Length : MaxLength), "the header is longer than its bound");
        Check(header.Source is null == header.Destination is null, "one endpoint without the other");
        if (header.Command == ProxyCommand.Local)
        {
            Check(header.Source is null, "a LOCAL header with a source");
        }

        // What was parsed writes back, and the writing parses to the same fields.
        Span<byte> written = stackalloc byte[128];
        int length = ProxyHeader.Write(written, header.Version, header.Command, header.Source, header.Destination);
        var again = new SequenceReader<byte>(new ReadOnlySequence<byte>(written[..length].ToArray()));
        Check(ProxyHeader.TryParse(ref again, MaxLength, out ProxyHeader reparsed, out _), "a header written from a parsed one does not parse");
        Check(reparsed.Source?.Equals(header.Source) ?? header.Source is null, "the source changed in a round trip");
        Check(reparsed.Destination?.Equals(header.Destination) ?? header.Destination is null, "the destination changed in a round trip");
        return true;
    }

    private static void Check(bool condition, string invariant)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(invariant);
        }
    }
}

/// <summary>An invariant of a fuzz target that did not hold: a bug, which the fuzzer reports as a crash.</summary>
public sealed class FuzzInvariantException : Exception
{
    public FuzzInvariantException()
    {
    }

    public FuzzInvariantException(string message)
        : base(message)
    {
    }

    public FuzzInvariantException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
