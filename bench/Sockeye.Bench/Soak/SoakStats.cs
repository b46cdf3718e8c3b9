using System.Collections.Concurrent;

namespace Sockeye.Bench.Soak;

/// <summary>What a soak worker does in one operation.</summary>
internal enum SoakOperation
{
    /// <summary>CONNECT, a transfer both ways, every byte due.</summary>
    Connect,

    /// <summary>CONNECT; the client stops reading for a while mid-download, then resumes: every byte still due.</summary>
    ClientStall,

    /// <summary>CONNECT; the target reads nothing for a while after the header: every byte still due.</summary>
    TargetStall,

    /// <summary>CONNECT; the client resets (RST) mid-transfer: what arrived must be right, the target's side must end.</summary>
    ClientReset,

    /// <summary>CONNECT; the target resets mid-download: what arrived must be right, the tunnel must end.</summary>
    TargetReset,

    /// <summary>CONNECT to a port nobody listens on: the reply must be X'05'.</summary>
    Refused,

    /// <summary>BIND; a peer connects to the announced address; a transfer both ways, every byte due.</summary>
    Bind,

    /// <summary>UDP ASSOCIATE; datagrams to the UDP echo, one at a time, each checked.</summary>
    Udp,
}

/// <summary>
/// The soak's counters, shared by its workers and targets. Bytes are "lost" only where the design says they must
/// arrive (a fault's expected truncation is not a loss); a byte that arrives with the wrong value, or beyond what was
/// sent, is "corrupted".
/// </summary>
internal sealed class SoakStats
{
    /// <summary>Failures that are not an operation's (a target's own), listed under this name.</summary>
    public const string TargetSide = "target";

    private const int MessagesKept = 20;

    private readonly long[] _operations = new long[OperationCount];
    private readonly long[] _errors = new long[OperationCount];
    private readonly ConcurrentDictionary<string, long> _errorMessages = new(StringComparer.Ordinal);
    private long _targetErrors;
    private long _bytesChecked;
    private long _bytesLost;
    private long _bytesCorrupted;
    private long _datagramsChecked;
    private long _datagramsLost;
    private long _datagramsCorrupted;

    public static int OperationCount { get; } = Enum.GetValues<SoakOperation>().Length;

    public long BytesChecked => Volatile.Read(ref _bytesChecked);

    public long BytesLost => Volatile.Read(ref _bytesLost);

    public long BytesCorrupted => Volatile.Read(ref _bytesCorrupted);

    public long DatagramsChecked => Volatile.Read(ref _datagramsChecked);

    public long DatagramsLost => Volatile.Read(ref _datagramsLost);

    public long DatagramsCorrupted => Volatile.Read(ref _datagramsCorrupted);

    public long TargetErrors => Volatile.Read(ref _targetErrors);

    public long Operations(SoakOperation operation) => Volatile.Read(ref _operations[(int)operation]);

    public long Errors(SoakOperation operation) => Volatile.Read(ref _errors[(int)operation]);

    public long TotalOperations()
    {
        long total = 0;
        for (int i = 0; i < OperationCount; i++)
        {
            total += Volatile.Read(ref _operations[i]);
        }

        return total;
    }

    public long TotalErrors()
    {
        long total = TargetErrors;
        for (int i = 0; i < OperationCount; i++)
        {
            total += Volatile.Read(ref _errors[i]);
        }

        return total;
    }

    /// <summary>Each distinct error with how often it happened, most frequent first, at most 20.</summary>
    public IReadOnlyList<(string Message, long Count)> ErrorMessages() =>
        _errorMessages.OrderByDescending(entry => entry.Value).Take(MessagesKept).Select(entry => (entry.Key, entry.Value)).ToList();

    public void CountOperation(SoakOperation operation) => Interlocked.Increment(ref _operations[(int)operation]);

    public void CountError(SoakOperation operation, string message)
    {
        Interlocked.Increment(ref _errors[(int)operation]);
        _errorMessages.AddOrUpdate($"{Name(operation)}: {message}", 1, (_, count) => count + 1);
    }

    public void CountTargetError(string message)
    {
        Interlocked.Increment(ref _targetErrors);
        _errorMessages.AddOrUpdate($"{TargetSide}: {message}", 1, (_, count) => count + 1);
    }

    /// <summary>A received stretch of a transfer: how many bytes were checked, and how many mismatched.</summary>
    public void CountChecked(long bytes, long mismatches)
    {
        Interlocked.Add(ref _bytesChecked, bytes);
        if (mismatches > 0)
        {
            Interlocked.Add(ref _bytesCorrupted, mismatches);
        }
    }

    public void CountLost(long bytes)
    {
        if (bytes > 0)
        {
            Interlocked.Add(ref _bytesLost, bytes);
        }
    }

    public void CountCorrupted(long bytes)
    {
        if (bytes > 0)
        {
            Interlocked.Add(ref _bytesCorrupted, bytes);
        }
    }

    public void CountDatagrams(long checkedCount, long lost, long corrupted)
    {
        Interlocked.Add(ref _datagramsChecked, checkedCount);
        Interlocked.Add(ref _datagramsLost, lost);
        Interlocked.Add(ref _datagramsCorrupted, corrupted);
    }

    public static string Name(SoakOperation operation) => operation switch
    {
        SoakOperation.Connect => "connect",
        SoakOperation.ClientStall => "connect, client stalls",
        SoakOperation.TargetStall => "connect, target stalls",
        SoakOperation.ClientReset => "connect, client resets",
        SoakOperation.TargetReset => "connect, target resets",
        SoakOperation.Refused => "connect, refused",
        SoakOperation.Bind => "bind",
        SoakOperation.Udp => "udp associate",
        _ => operation.ToString(),
    };
}
