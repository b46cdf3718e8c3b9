using System.Diagnostics;
using System.Globalization;
using System.Net;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Server.Tests.Clients;

/// <summary>
/// Runs Clients/rfc1961_client.py, a SOCKS5 client with GSSAPI authentication (RFC 1961) on Debian's python3-gssapi
/// (MIT Kerberos underneath), as a child process that sees nothing of the test but the realm's krb5.conf and credential
/// cache. Its exit codes are the constants here (the script's docstring says the same).
/// </summary>
internal static class PythonGssapiClient
{
    public const string Python = "/usr/bin/python3";
    public const string GssapiModule = "/usr/lib/python3/dist-packages/gssapi/__init__.py";

    public const int Succeeded = 0;
    public const int ProtocolError = 3;
    public const int NoAcceptableMethod = 4;
    public const int GssapiFailed = 5;
    public const int ServerAborted = 6;
    public const int ReplyFailed = 7;
    public const int LevelUnacceptable = 8;
    public const int TimedOut = 9;

    // Longer than the script's own 20 s per network operation, so the script reports a timeout itself when it can.
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(60);

    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Clients", "rfc1961_client.py");

    public static bool IsInstalled => File.Exists(Python) && File.Exists(GssapiModule);

    public static string Endpoint(IPEndPoint endPoint) =>
        endPoint.Address.ToString() + ":" + endPoint.Port.ToString(CultureInfo.InvariantCulture);

    public static Task<TestServer> StartServerAsync(KerberosRealm realm, Action<SockeyeServerOptions>? configure = null) => GssapiServers.StartAsync(realm, configure);

    /// <summary>
    /// Runs the script with <paramref name="arguments"/> (<c>--proxy</c> first, pointing at <paramref name="proxy"/>),
    /// in an environment of its own: PATH, LANG, and KRB5_CONFIG and KRB5CCNAME of <paramref name="realm"/>, nothing
    /// else (no keytab, no proxy variables). Killed, and the test failed, if it has not exited within a minute.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(KerberosRealm realm, IPEndPoint proxy, params string[] arguments)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        start.Environment["LANG"] = "C.UTF-8";
        start.Environment["KRB5_CONFIG"] = realm.Environment["KRB5_CONFIG"];
        start.Environment["KRB5CCNAME"] = realm.Environment["KRB5CCNAME"];

        // -I: isolated, no PYTHON* variables, no user site-packages: Debian's python3-gssapi or nothing.
        foreach (string argument in (string[])["-I", ScriptPath, "--proxy", Endpoint(proxy), .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ProcessTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"rfc1961_client.py {string.Join(' ', arguments)} did not exit within {ProcessTimeout.TotalSeconds} s; killed.\n" +
                $"stdout:\n{await output}\nstderr:\n{await error}");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>What a failed assertion shows: the exit code, the script's standard error and the KDC's log.</summary>
    public static string Explain(KerberosRealm realm, int exitCode, string error) =>
        $"exit code {exitCode}\nstderr:\n{error}\nKDC:\n{realm.KdcOutput}";
}

/// <summary>
/// Skips when python3-gssapi is not installed, except in CI (CI=true), where a missing package must fail the run:
/// <c>.ci/run</c> installs it.
/// </summary>
internal sealed class PythonGssapiFactAttribute : FactAttribute
{
    public PythonGssapiFactAttribute()
    {
        if (PythonGssapiSkip.Reason() is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <inheritdoc cref="PythonGssapiFactAttribute"/>
internal sealed class PythonGssapiTheoryAttribute : TheoryAttribute
{
    public PythonGssapiTheoryAttribute()
    {
        if (PythonGssapiSkip.Reason() is { } reason)
        {
            Skip = reason;
        }
    }
}

internal static class PythonGssapiSkip
{
    public static string? Reason()
    {
        bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        return inCi || PythonGssapiClient.IsInstalled
            ? null
            : "python3-gssapi is not installed: apt-get install python3-gssapi, as .ci/run does";
    }
}
