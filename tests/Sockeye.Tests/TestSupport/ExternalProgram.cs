using System.Diagnostics;

namespace Sockeye.Tests.TestSupport;

/// <summary>A program from the system (systemd-analyze, promtool) run to completion, bounded, its output collected.</summary>
internal static class ExternalProgram
{
    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/> and no input; kills it after a minute.</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunAsync(string program, params string[] args) => RunWithInputAsync(program, null, args);

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/>, <paramref name="input"/> on its standard input; kills it after a minute.</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunWithInputAsync(string program, string? input, params string[] args) =>
        RunAsync(StartInfo(program, args), input);

    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="args"/> and no input, its environment changed by
    /// <paramref name="environment"/> (a null value removes the variable); kills it after a minute.
    /// </summary>
    public static Task<(int ExitCode, string Output, string Error)> RunAsync(string program, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        ProcessStartInfo start = StartInfo(program, args);
        foreach ((string name, string? value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return RunAsync(start, null);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(ProcessStartInfo start, string? input)
    {
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>How every program a test drives is started: its three streams redirected, no shell.</summary>
    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }
}
