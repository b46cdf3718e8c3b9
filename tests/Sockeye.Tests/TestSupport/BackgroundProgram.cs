using System.Diagnostics;
using System.Text;

namespace Sockeye.Tests.TestSupport;

/// <summary>
/// A third-party server (HAProxy, Redis) the test starts and owns: its output collected, and killed on dispose, so no
/// test leaves one running.
/// </summary>
internal sealed class BackgroundProgram : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();

    private BackgroundProgram(Process process) => _process = process;

    /// <summary>Everything it printed so far, stdout and stderr interleaved.</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static BackgroundProgram Start(string program, params string[] args)
    {
        var process = new Process { StartInfo = ExternalProgram.StartInfo(program, args) };
        var background = new BackgroundProgram(process);
        process.OutputDataReceived += (_, e) => background.Append(e.Data);
        process.ErrorDataReceived += (_, e) => background.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return background;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _output.AppendLine(line);
        }
    }
}
