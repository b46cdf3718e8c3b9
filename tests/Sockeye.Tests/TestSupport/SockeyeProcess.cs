using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Testing;
using Xunit.Abstractions;

namespace Sockeye.Tests.TestSupport;

/// <summary>
/// The built <c>sockeye</c> executable run as a child process (<c>dotnet sockeye.dll ...</c>), its stdout and stderr
/// collected line by line. Disposing kills it if it is still running, so no test leaks a process.
/// </summary>
internal sealed partial class SockeyeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper _testOutput;
    private readonly Lock _lock = new();
    private readonly StringBuilder _transcript = new();
    private readonly List<string> _stdout = [];
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waiters = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SockeyeProcess(Process process, ITestOutputHelper testOutput)
    {
        _process = process;
        _testOutput = testOutput;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The process id: with <c>openFileLimit</c>, prlimit's, which it keeps when it executes dotnet.</summary>
    public int Id => _process.Id;

    /// <summary>Everything the process printed so far, stdout and stderr interleaved, for failure messages.</summary>
    public string Transcript
    {
        get
        {
            lock (_lock)
            {
                return _transcript.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet sockeye.dll</c> with <paramref name="args"/>; its transcript goes to <paramref name="testOutput"/> on dispose.</summary>
    /// <param name="testOutput">Where the transcript goes.</param>
    /// <param name="args">The command line after <c>sockeye.dll</c>.</param>
    /// <param name="environment">Variables to set for the process.</param>
    /// <param name="hangupIgnored">
    /// Start it with SIGHUP ignored, as <c>nohup</c> and some supervisors do (a shell's <c>trap "" HUP</c>, then
    /// <c>exec</c>: the ignored disposition survives exec, and the process keeps the shell's pid).
    /// </param>
    /// <param name="openFileLimit">
    /// Start it under this open-file limit, soft and hard, set by util-linux's <c>prlimit</c> (the process cannot raise it).
    /// </param>
    public static SockeyeProcess Start(ITestOutputHelper testOutput, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, bool hangupIgnored = false,
        int? openFileLimit = null)
    {
        string assembly = Path.Combine(Path.GetDirectoryName(typeof(SockeyeCommandLine).Assembly.Location)!, "sockeye.dll");
        Assert.True(File.Exists(assembly), $"{assembly} is missing");

        var startInfo = new ProcessStartInfo(hangupIgnored ? "/bin/sh" : openFileLimit is null ? DotnetHost.Find() : "/usr/bin/prlimit")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (openFileLimit is { } limit)
        {
            Assert.False(hangupIgnored, "one wrapper at a time");
            Assert.True(File.Exists("/usr/bin/prlimit"), "prlimit (util-linux) is missing");
            startInfo.ArgumentList.Add(FormattableString.Invariant($"--nofile={limit}:{limit}"));
            startInfo.ArgumentList.Add("--");
            startInfo.ArgumentList.Add(DotnetHost.Find());
        }

        if (hangupIgnored)
        {
            startInfo.ArgumentList.Add("-c");
            startInfo.ArgumentList.Add("trap '' HUP; exec \"$0\" \"$@\"");
            startInfo.ArgumentList.Add(DotnetHost.Find());
        }

        startInfo.ArgumentList.Add(assembly);
        foreach (string arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        // Only what the test sets: nothing SOCKEYE_* leaks in from the machine running the tests.
        foreach (string name in startInfo.Environment.Keys.Where(k => k.StartsWith("SOCKEYE_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            startInfo.Environment.Remove(name);
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        var process = new Process { StartInfo = startInfo };
        var sockeye = new SockeyeProcess(process, testOutput);
        process.OutputDataReceived += (_, e) => sockeye.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => sockeye.OnLine(e.Data, isError: true);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sockeye;
    }

    /// <summary>Waits, bounded, for a stdout line matching <paramref name="pattern"/> (one already printed counts).</summary>
    public async Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            foreach (string line in _stdout)
            {
                Match match = pattern.Match(line);
                if (match.Success)
                {
                    return match;
                }
            }

            _waiters.Add((pattern, found));
        }

        // Either the line arrives, or stdout ends (the process exited) without it.
        try
        {
            await Task.WhenAny(found.Task, _stdoutClosed.Task).WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"sockeye printed no line matching /{pattern}/ within {timeout}:\n{Transcript}");
        }

        if (found.Task.IsCompleted)
        {
            return await found.Task;
        }

        throw new InvalidOperationException($"sockeye's output ended without a line matching /{pattern}/:\n{Transcript}");
    }

    /// <summary>Waits for the line "Listening on 127.0.0.1:PORT" and returns the port.</summary>
    public async Task<int> WaitForListeningPortAsync()
    {
        Match match = await WaitForOutputAsync(ListeningLine(), TestTimeouts.ProcessStart);
        return int.Parse(match.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Sends SIGTERM, as a service manager or <c>docker stop</c> would.</summary>
    public async Task TerminateAsync()
    {
        using Process kill = Process.Start(new ProcessStartInfo("kill", $"-TERM {_process.Id}") { UseShellExecute = false })!;
        await kill.WaitForExitAsync().WaitAsync(TestTimeouts.Default);
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Sends SIGHUP: read the configuration again.</summary>
    public void Hangup() => Assert.Equal(0, NativeMethods.Kill(_process.Id, NativeMethods.SigHup));

    /// <summary>Sends SIGUSR1: reopen the access log file, as logrotate's postrotate does.</summary>
    public void ReopenLogs() => Assert.Equal(0, NativeMethods.Kill(_process.Id, NativeMethods.SigUsr1));

    /// <summary>Sends SIGTERM straight from this process, with no <c>kill</c> process to start in between.</summary>
    public void TerminateNow() => Assert.Equal(0, NativeMethods.Kill(_process.Id, NativeMethods.SigTerm));

    /// <summary>Sends SIGKILL, as the OOM killer or a lost host would: the process gets no chance to say goodbye.</summary>
    public void Kill() => Assert.Equal(0, NativeMethods.Kill(_process.Id, NativeMethods.SigKill));

    /// <summary>Waits, bounded, for the process to exit and its output to be fully read; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TestTimeouts.Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"sockeye did not exit within {timeout}:\n{Transcript}");
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TestTimeouts.Default);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already gone.
        }
        finally
        {
            _process.Dispose();
            _testOutput.WriteLine($"sockeye's output:\n{Transcript}");
        }
    }

    private static class NativeMethods
    {
        public const int SigHup = 1;
        public const int SigKill = 9;
        public const int SigUsr1 = 10;
        public const int SigTerm = 15;

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Kill(int pid, int signal);
    }

    [GeneratedRegex(@"Listening on 127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningLine();

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            (isError ? _stderrClosed : _stdoutClosed).TrySetResult();
            return;
        }

        lock (_lock)
        {
            _transcript.Append(isError ? "[stderr] " : "").AppendLine(line);
            if (isError)
            {
                return;
            }

            _stdout.Add(line);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                Match match = _waiters[i].Pattern.Match(line);
                if (match.Success)
                {
                    _waiters[i].Found.TrySetResult(match);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
