using System.Diagnostics;
using System.Text;
using Sockeye.Testing;
using Xunit.Abstractions;

namespace Sockeye.Bench.Tests;

/// <summary>Runs the load generator (bench/Sockeye.Bench) from this project's output, as a user runs it.</summary>
internal static class BenchProcess
{
    /// <summary>The generator's dll and the server built with the tests.</summary>
    public static string GeneratorDll => Path.Combine(AppContext.BaseDirectory, "Sockeye.Bench.dll");

    public static string SockeyeDll => Path.Combine(AppContext.BaseDirectory, "sockeye.dll");

    /// <summary>
    /// Runs <c>dotnet</c> with <paramref name="args"/>, killed (and the test failed) after <paramref name="limit"/>;
    /// returns its exit code and everything it wrote, which also goes to <paramref name="output"/>.
    /// </summary>
    public static async Task<(int ExitCode, string Transcript)> RunAsync(IReadOnlyList<string> args, TimeSpan limit, ITestOutputHelper output)
    {
        var start = new ProcessStartInfo(DotnetHost.Find())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Nothing SOCKEYE_* from the machine: the generator passes its own settings to each server it starts.
        foreach (string name in start.Environment.Keys.Where(key => key.StartsWith("SOCKEYE_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        var transcript = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"the load generator did not finish within {limit}:\n{Snapshot()}");
        }

        string text = Snapshot();
        output.WriteLine(text);
        return (process.ExitCode, text);

        void Append(string? line)
        {
            if (line is not null)
            {
                lock (transcript)
                {
                    transcript.AppendLine(line);
                }
            }
        }

        string Snapshot()
        {
            lock (transcript)
            {
                return transcript.ToString();
            }
        }
    }
}
