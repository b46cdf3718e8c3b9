using System.Collections.Concurrent;

namespace Sockeye.Server.Relay;

/// <summary>
/// Empty pipes for the splice relay, rented while a direction moves data and returned when it goes quiet, like relay
/// buffers: an idle tunnel holds no pipe (each holds two descriptors, which a server with 10 000 tunnels cannot spare).
/// One per server, never static. Disposing closes the pooled pipes.
/// </summary>
internal sealed class SplicePipePool : IDisposable
{
    // Enough to serve bursts without creating pipes; beyond it, returned pipes are closed.
    private const int MaxPooled = 256;

    private readonly ConcurrentBag<(int ReadEnd, int WriteEnd)> _pipes = [];
    private readonly int _pipeSize;
    private bool _disposed;

    public SplicePipePool(int pipeSize) => _pipeSize = pipeSize;

    /// <summary>The bytes a pipe can hold, and so the most one splice moves.</summary>
    public int PipeSize => _pipeSize;

    public bool TryRent(out (int ReadEnd, int WriteEnd) pipe, out int errno)
    {
        errno = 0;
        if (_pipes.TryTake(out pipe))
        {
            return true;
        }

        bool created = LinuxSplice.TryCreatePipe(_pipeSize, out int readEnd, out int writeEnd, out errno);
        pipe = (readEnd, writeEnd);
        return created;
    }

    /// <summary>Returns an empty pipe. A pipe that may still hold bytes must be given up with <see cref="Release"/> instead.</summary>
    public void Return((int ReadEnd, int WriteEnd) pipe)
    {
        if (Volatile.Read(ref _disposed) || _pipes.Count >= MaxPooled)
        {
            Discard(pipe);
            return;
        }

        _pipes.Add(pipe);
    }

    /// <summary>Gives a pipe up after use: back to the pool when empty, closed when it may still hold bytes.</summary>
    public void Release((int ReadEnd, int WriteEnd) pipe, bool mayHoldBytes)
    {
        if (mayHoldBytes)
        {
            Discard(pipe);
        }
        else
        {
            Return(pipe);
        }
    }

    private static void Discard((int ReadEnd, int WriteEnd) pipe)
    {
        LinuxSplice.Close(pipe.ReadEnd);
        LinuxSplice.Close(pipe.WriteEnd);
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        while (_pipes.TryTake(out (int ReadEnd, int WriteEnd) pipe))
        {
            Discard(pipe);
        }
    }
}
