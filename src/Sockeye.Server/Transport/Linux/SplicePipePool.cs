using System.Collections.Concurrent;
using System.Diagnostics;
using Sockeye.Server.Interop;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// Empty pipes for the splice relay, rented while a direction moves data and returned when it goes quiet, like relay
/// buffers: an idle tunnel holds no pipe (each holds two descriptors, which a server with 10 000 tunnels cannot spare).
/// One per server, never static. Disposing closes the pooled pipes.
/// </summary>
/// <remarks>
/// The pipes in existence, pooled or rented, are capped (<see cref="Limits.DescriptorBudget.SplicePipes"/>): without a cap
/// every busy tunnel could hold two pipes, four descriptors beyond its sockets, and run the process out of them. At the
/// cap, or when pipe2(2) fails, <see cref="TryRent"/> says no and the direction copies through a buffer instead.
/// <para>
/// Each end is owned by a <see cref="DescriptorHandle"/>, kept here from the pipe's creation to its close, pooled or
/// rented; renters get plain descriptors, and renting and returning never touch the handles. So a pool dropped without
/// <see cref="Dispose"/> has every one of its pipes closed by the handles' finalizers. A rented pipe its renter never
/// gives back stays open while the pool lives (its handles are still here), counted in <see cref="PipesOpen"/>.
/// </para>
/// </remarks>
internal sealed class SplicePipePool : IDisposable
{
    // Enough to serve bursts without creating pipes; beyond it, returned pipes are closed.
    private const int MaxPooled = 256;

    private readonly ConcurrentBag<(int ReadEnd, int WriteEnd)> _pipes = [];

    // Every open pipe, pooled or rented, by its read end: changed only when a pipe is created or closed.
    private readonly ConcurrentDictionary<int, (DescriptorHandle ReadEnd, DescriptorHandle WriteEnd)> _handles = new();
    private readonly int _pipeSize;
    private readonly int _maxPipes;
    private int _pipesOpen;

    // Pipes in _pipes, kept here: ConcurrentBag.Count takes the bag's global lock and every thread's list lock, which on
    // each return (several per short tunnel) would serialise every loop of the server on one lock. Between the bag
    // operation and this count the two may differ by the returns in flight, so the pool may hold a few over MaxPooled.
    private int _pooled;
    private bool _disposed;

    /// <param name="pipeSize">The capacity each pipe is given.</param>
    /// <param name="maxPipes">The most pipes open at once, pooled or rented.</param>
    public SplicePipePool(int pipeSize, int maxPipes = Limits.DescriptorBudget.MaxSplicePipes)
    {
        _pipeSize = pipeSize;
        _maxPipes = maxPipes;
    }

    /// <summary>The bytes a pipe can hold, and so the most one splice moves.</summary>
    public int PipeSize => _pipeSize;

    /// <summary>Pipes open now, pooled or rented.</summary>
    public int PipesOpen => Volatile.Read(ref _pipesOpen);

    /// <summary>
    /// Rents an empty pipe, from the pool or new; <see langword="false"/> at the cap on pipes (<paramref name="errno"/>
    /// EMFILE) or when the kernel refuses one (its errno).
    /// </summary>
    public bool TryRent(out (int ReadEnd, int WriteEnd) pipe, out int errno)
    {
        errno = 0;
        if (_pipes.TryTake(out pipe))
        {
            Interlocked.Decrement(ref _pooled);
            return true;
        }

        if (Interlocked.Increment(ref _pipesOpen) > _maxPipes)
        {
            Interlocked.Decrement(ref _pipesOpen);
            errno = Errno.EMFILE;
            pipe = (-1, -1);
            return false;
        }

        if (!LinuxSplice.TryCreatePipe(_pipeSize, out DescriptorHandle? readEnd, out DescriptorHandle? writeEnd, out errno))
        {
            Interlocked.Decrement(ref _pipesOpen);
            pipe = (-1, -1);
            return false;
        }

        pipe = (readEnd.Descriptor, writeEnd.Descriptor);
        _handles[pipe.ReadEnd] = (readEnd, writeEnd);
        return true;
    }

    /// <summary>Returns an empty pipe. A pipe that may still hold bytes must be given up with <see cref="Release"/> instead.</summary>
    public void Return((int ReadEnd, int WriteEnd) pipe)
    {
        if (Volatile.Read(ref _disposed))
        {
            Discard(pipe);
            return;
        }

        if (Interlocked.Increment(ref _pooled) > MaxPooled)
        {
            Interlocked.Decrement(ref _pooled);
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

    private void Discard((int ReadEnd, int WriteEnd) pipe)
    {
        // Out of the map before the close: once closed, the read end's number may be a new pipe's.
        if (_handles.TryRemove(pipe.ReadEnd, out (DescriptorHandle ReadEnd, DescriptorHandle WriteEnd) handles))
        {
            Debug.Assert(handles.WriteEnd.Descriptor == pipe.WriteEnd, "A pipe's write end came back with another's read end.");
            handles.ReadEnd.Dispose();
            handles.WriteEnd.Dispose();
            Interlocked.Decrement(ref _pipesOpen);
        }
        else
        {
            Debug.Fail($"Pipe {pipe} was not this pool's: left open rather than closing descriptors it may not own.");
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        while (_pipes.TryTake(out (int ReadEnd, int WriteEnd) pipe))
        {
            Interlocked.Decrement(ref _pooled);
            Discard(pipe);
        }
    }
}
