using System.Diagnostics;

namespace Sockeye.Testing.Origins;

/// <summary>
/// Debian's git, started with an environment of its own: nothing inherited but PATH, HOME a folder the origin owns, no
/// system configuration, never a prompt. So neither the user's configuration nor a GIT_DIR from around the test run
/// can change what it does.
/// </summary>
internal static class GitCommand
{
    /// <summary>Where Debian's git package installs it.</summary>
    public const string Path = "/usr/bin/git";

    /// <summary>How long one git command may run before it is killed.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public static ProcessStartInfo StartInfo(string home, string? workingDirectory, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? home,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        string path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        start.Environment.Clear();
        start.Environment["PATH"] = path;
        start.Environment["HOME"] = home;
        start.Environment["LC_ALL"] = "C";
        start.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        start.Environment["GIT_TERMINAL_PROMPT"] = "0";
        return start;
    }

    /// <summary>Runs git to completion and returns its standard output; throws with its error output when it fails.</summary>
    public static async Task<string> RunAsync(string home, string? workingDirectory, params string[] args)
    {
        using Process process = Process.Start(StartInfo(home, workingDirectory, args))!;
        process.StandardInput.Close();
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Limit);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', args)} exited with {process.ExitCode}: {await error}");
        }

        return await output;
    }
}
