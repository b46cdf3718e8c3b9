namespace Sockeye.Tests.TestSupport;

/// <summary>Bounds for every wait in these tests, so a hang fails in seconds with a line number rather than never.</summary>
internal static class TestTimeouts
{
    /// <summary>Any single network operation on loopback.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(10);

    /// <summary>A child process starting (the runtime and the host warm up) until it prints that it listens.</summary>
    public static readonly TimeSpan ProcessStart = TimeSpan.FromSeconds(20);

    /// <summary>A child process exiting once told to.</summary>
    public static readonly TimeSpan ProcessExit = TimeSpan.FromSeconds(15);

    /// <summary>After <paramref name="task"/> or <see cref="Default"/>, whichever comes first; then a <see cref="TimeoutException"/>.</summary>
    public static Task DefaultTimeout(this Task task) => task.WaitAsync(Default);

    /// <inheritdoc cref="DefaultTimeout(Task)"/>
    public static Task<T> DefaultTimeout<T>(this Task<T> task) => task.WaitAsync(Default);

    /// <inheritdoc cref="DefaultTimeout(Task)"/>
    public static Task DefaultTimeout(this ValueTask task) => task.AsTask().WaitAsync(Default);

    /// <inheritdoc cref="DefaultTimeout(Task)"/>
    public static Task<T> DefaultTimeout<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Default);
}
