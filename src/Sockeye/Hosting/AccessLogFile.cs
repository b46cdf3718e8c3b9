using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Sockeye.Hosting;

/// <summary>
/// The access log (category <c>Sockeye.Access</c>, event 2900) in a file of its own (<c>accessLog.path</c>): one line
/// per session, the console's text after a UTC timestamp. A thread of its own writes the lines from a bounded queue, so
/// no session, and no event loop, ever waits for the disk. <see cref="Reopen"/> (SIGUSR1) closes the file and opens the
/// path again, so that logrotate can move it away: every line queued before the signal goes to the old file, flushed,
/// and every line after it to the new one.
/// </summary>
internal sealed class AccessLogFile : ILoggerProvider
{
    /// <summary>The category this provider writes; every other category gets a logger that writes nothing.</summary>
    public const string Category = "Sockeye.Access";

    // Lines waiting for the writer: about 200 bytes each, so at most some 13 MB when the disk stalls. Beyond that lines
    // are counted and the count is written instead, once the writer catches up.
    private const int QueueLength = 65536;

    private readonly string _path;
    private readonly Channel<string?> _lines = Channel.CreateBounded<string?>(new BoundedChannelOptions(QueueLength) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Task _writer;
    private FileStream _file;
    private int _reopenRequested;
    private long _dropped;

    private AccessLogFile(string path, FileStream file)
    {
        _path = path;
        _file = file;
        _writer = Task.Factory.StartNew(WriteAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Opens (or creates) <paramref name="path"/> for appending.</summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be written.</exception>
    public static AccessLogFile Open(string path) => new(path, OpenForAppend(path));

    /// <summary>Lines dropped because the queue was full (for tests and diagnostics).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Closes the file once the lines queued so far are in it, and opens the path again (SIGUSR1).</summary>
    public void Reopen()
    {
        Volatile.Write(ref _reopenRequested, 1);

        // A nudge, so that the writer acts now even with no line to write; if the queue is full it acts before its next line.
        _lines.Writer.TryWrite(null);
    }

    public ILogger CreateLogger(string categoryName) => categoryName == Category ? new Writer(this) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Writes what is queued, then closes the file.</summary>
    public void Dispose()
    {
        if (_lines.Writer.TryComplete())
        {
            _writer.Wait(TimeSpan.FromSeconds(5));
        }
    }

    private static FileStream OpenForAppend(string path) =>
        new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 64 * 1024);

    private void Enqueue(string line)
    {
        if (!_lines.Writer.TryWrite(line))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task WriteAsync()
    {
        long droppedReported = 0;
        try
        {
            while (await _lines.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_lines.Reader.TryRead(out string? line))
                {
                    if (Interlocked.Exchange(ref _reopenRequested, 0) == 1)
                    {
                        ReopenNow();
                    }

                    long dropped = Interlocked.Read(ref _dropped);
                    if (dropped != droppedReported)
                    {
                        Write($"{Timestamp()} {dropped - droppedReported} access line(s) dropped: the disk did not keep up");
                        droppedReported = dropped;
                    }

                    if (line is not null)
                    {
                        Write(line);
                    }
                }

                // The queue is empty: what was written reaches the file now, not when a buffer fills.
                try
                {
                    _file.Flush();
                }
                catch (IOException)
                {
                    // As for a write: the writer goes on.
                }
            }
        }
        finally
        {
            _file.Dispose();
        }
    }

    private void ReopenNow()
    {
        FileStream next;
        try
        {
            next = OpenForAppend(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Lines go on into the file already open, wherever it was moved: none is lost, and the next SIGUSR1 tries again.
            Write($"{Timestamp()} could not open {_path} again ({e.Message}); still writing to the file opened before");
            return;
        }

        _file.Flush();
        _file.Dispose();
        _file = next;
    }

    private void Write(string line)
    {
        try
        {
            _file.Write(Encoding.UTF8.GetBytes(line + "\n"));
        }
        catch (IOException)
        {
            // The disk is full, or the file system failed: the line is counted as dropped, and the writer goes on.
            Interlocked.Increment(ref _dropped);
        }
    }

    private static string Timestamp() => DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);

    private sealed class Writer(AccessLogFile file) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                file.Enqueue($"{Timestamp()} {formatter(state, exception)}");
            }
        }
    }
}
