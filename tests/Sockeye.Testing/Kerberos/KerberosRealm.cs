using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Sockeye.Testing.Kerberos;

/// <summary>
/// A real MIT Kerberos KDC (Debian's krb5-kdc; kdb5_util and kadmin.local from krb5-admin-server, kinit from krb5-user)
/// with a realm of its own (<see cref="Realm"/>), started on 127.0.0.1 on a free port (UDP and TCP), its configuration,
/// database, stash and keytabs in a fresh temporary folder. It holds the service principal <see cref="ServicePrincipal"/>
/// (random key, exported to <see cref="KeytabPath"/>) and the user <see cref="UserName"/> with
/// <see cref="UserPassword"/>. Disposing kills krb5kdc and deletes the folder.
/// </summary>
/// <remarks>
/// <para>
/// Child processes (a Sockeye server, curl, Dante) get the realm through <see cref="Environment"/>: KRB5_CONFIG,
/// KRB5_KDC_PROFILE, KRB5_KTNAME, KRB5CCNAME and KRB5RCACHEDIR. Nothing is looked up in DNS and nothing outside the
/// folder is read or written (the replay cache included).
/// </para>
/// <para>
/// The test process itself (NegotiateAuthentication in-process): MIT's library reads those variables with the C
/// library's <c>getenv</c>, and on Linux <see cref="System.Environment.SetEnvironmentVariable(string, string?)"/> only
/// changes .NET's own copy of the environment, which <c>getenv</c> never sees. Call <see cref="UseInThisProcess"/>
/// instead: it sets them in both (<c>setenv</c>) and restores the old values on dispose. MIT reads them again for every
/// krb5 context, that is on each GSSAPI call, so realms can follow one another in one process; two realms cannot be in
/// use at once, and <c>setenv</c> races with <c>getenv</c> on other threads, so every test that does this belongs to
/// one xunit collection (not run in parallel with each other) and does it before it starts authenticating.
/// </para>
/// </remarks>
public sealed class KerberosRealm : IAsyncDisposable, IDisposable
{
    /// <summary>The realm every instance serves: each has its own KDC, database and configuration.</summary>
    public const string Realm = "SOCKEYE.TEST";

    /// <summary>The service principal's name, without the realm (a host-based service: rcmd on localhost).</summary>
    public const string ServicePrincipal = "rcmd/localhost";

    /// <summary>The user principal every instance holds (password <see cref="UserPassword"/>).</summary>
    public const string UserName = "alice";

    /// <summary>The Kerberos clock skew every instance allows (libdefaults clockskew), small so expired tickets fail at once.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private const int PortAttempts = 5;

    private readonly StringBuilder _kdcOutput = new();
    private Process? _kdc;
    private int _disposed;

    private KerberosRealm(string directory)
    {
        Directory = directory;
        ConfigPath = Path.Combine(directory, "krb5.conf");
        KdcProfilePath = Path.Combine(directory, "kdc.conf");
        KeytabPath = Path.Combine(directory, "service.keytab");
        DefaultCredentialCachePath = Path.Combine(directory, "ccache");
        UserPassword = RandomSecret();
    }

    /// <summary>The temporary folder that holds everything; deleted on dispose.</summary>
    public string Directory { get; }

    /// <summary>krb5.conf (KRB5_CONFIG): the realm, its KDC on 127.0.0.1:<see cref="Port"/>, no DNS.</summary>
    public string ConfigPath { get; }

    /// <summary>kdc.conf (KRB5_KDC_PROFILE): where the KDC listens and keeps its database.</summary>
    public string KdcProfilePath { get; }

    /// <summary>The keytab with <see cref="ServicePrincipal"/>'s keys (KRB5_KTNAME is <c>FILE:</c> this).</summary>
    public string KeytabPath { get; }

    /// <summary>The credential cache KRB5CCNAME names (<c>FILE:</c> this); empty until something kinits into it.</summary>
    public string DefaultCredentialCachePath { get; }

    /// <summary>The port the KDC listens on, UDP and TCP, on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary><see cref="UserName"/>'s password, random per instance.</summary>
    public string UserPassword { get; }

    /// <summary><c>alice@SOCKEYE.TEST</c>: the name an acceptor reports for <see cref="UserName"/>.</summary>
    public static string UserPrincipalName => $"{UserName}@{Realm}";

    /// <summary>The variables a child process needs to use this realm (values are absolute paths).</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["KRB5_CONFIG"] = ConfigPath,
        ["KRB5_KDC_PROFILE"] = KdcProfilePath,
        ["KRB5_KTNAME"] = "FILE:" + KeytabPath,
        ["KRB5CCNAME"] = "FILE:" + DefaultCredentialCachePath,
        ["KRB5RCACHEDIR"] = Directory,
    };

    /// <summary>
    /// Creates the realm (database, <see cref="ServicePrincipal"/> and its keytab, <see cref="UserName"/>) and starts its
    /// KDC, returning once the KDC has bound its sockets. A port taken between choosing and binding is retried on
    /// another, up to five times.
    /// </summary>
    public static async Task<KerberosRealm> StartAsync()
    {
        foreach (string program in (string[])[Programs.Krb5Kdc, Programs.Kdb5Util, Programs.KadminLocal, Programs.Kinit])
        {
            if (!File.Exists(program))
            {
                throw new InvalidOperationException(
                    $"{program} is missing: install krb5-kdc, krb5-admin-server and krb5-user (.ci/run does).");
            }
        }

        var realm = new KerberosRealm(System.IO.Directory.CreateTempSubdirectory("sockeye-krb5-").FullName);
        try
        {
            await realm.CreateAsync();
            return realm;
        }
        catch
        {
            await realm.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Adds a user principal with <paramref name="password"/>. <paramref name="maxTicketLifetime"/> caps its tickets'
    /// lifetime (kadmin's <c>-maxlife</c>), for tests of expired tickets; the KDC grants at least one second.
    /// </summary>
    public Task AddPrincipalAsync(string name, string password, TimeSpan? maxTicketLifetime = null)
    {
        CheckName(name);
        CheckPassword(password);
        string life = maxTicketLifetime is { } max ? $" -maxlife \"{Seconds(max)} seconds\"" : "";
        return KadminAsync($"addprinc -pw \"{password}\"{life} {name}");
    }

    /// <summary>Adds a service principal (e.g. <c>socks/localhost</c>) with a random key; export it with <see cref="ExportKeytabAsync"/>.</summary>
    public Task AddServicePrincipalAsync(string name)
    {
        CheckName(name);
        return KadminAsync($"addprinc -randkey {name}");
    }

    /// <summary>
    /// Writes <paramref name="principal"/>'s keys to <paramref name="keytabPath"/> (appending if it exists). This
    /// changes the key (a new kvno): keytabs exported earlier for that principal no longer work.
    /// </summary>
    public Task ExportKeytabAsync(string principal, string keytabPath)
    {
        CheckName(principal);
        CheckPath(keytabPath);
        return KadminAsync($"ktadd -k \"{keytabPath}\" {principal}");
    }

    /// <summary>
    /// Gets <paramref name="principal"/> a ticket-granting ticket into the file credential cache
    /// <paramref name="credentialCachePath"/> (<c>kinit -c</c>, the password on standard input), for
    /// <paramref name="lifetime"/> if given (<c>kinit -l</c>).
    /// </summary>
    public async Task KinitAsync(string principal, string password, string credentialCachePath, TimeSpan? lifetime = null)
    {
        CheckName(principal);
        List<string> args = ["-c", "FILE:" + credentialCachePath];
        if (lifetime is { } life)
        {
            args.AddRange(["-l", Seconds(life) + "s"]);
        }

        args.Add(principal);
        await RunAsync(Programs.Kinit, args, password + "\n");
    }

    /// <summary><see cref="KinitAsync(string, string, string, TimeSpan?)"/> for <see cref="UserName"/> into <see cref="DefaultCredentialCachePath"/>.</summary>
    public Task KinitUserAsync() => KinitAsync(UserName, UserPassword, DefaultCredentialCachePath);

    /// <summary>
    /// Points MIT Kerberos in this process at the realm: sets <see cref="Environment"/> in the C library's environment
    /// (what MIT's <c>getenv</c> reads) and in .NET's; disposing restores both. See the remarks on the class.
    /// </summary>
    public IDisposable UseInThisProcess() => NativeEnvironment.Set(Environment);

    /// <summary>What krb5kdc has written so far (its log goes to standard error), for failure messages.</summary>
    public string KdcOutput
    {
        get
        {
            lock (_kdcOutput)
            {
                return _kdcOutput.ToString();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        StopKdc();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Left behind in the temp directory: harmless.
        }
    }

    private async Task CreateAsync()
    {
        // The database does not depend on the port; only the two files naming it are written again on a retry.
        WriteConfiguration(FreePort());
        await RunAsync(Programs.Kdb5Util, ["-r", Realm, "create", "-s", "-P", RandomSecret()]);
        await AddServicePrincipalAsync(ServicePrincipal);
        await ExportKeytabAsync(ServicePrincipal, KeytabPath);
        await AddPrincipalAsync(UserName, UserPassword);

        for (int attempt = 1; ; attempt++)
        {
            if (await TryStartKdcAsync())
            {
                return;
            }

            if (attempt == PortAttempts)
            {
                throw new InvalidOperationException(
                    $"krb5kdc could not bind a free port in {PortAttempts} attempts (last {Port}):\n{KdcOutput}");
            }

            WriteConfiguration(FreePort());
        }
    }

    /// <summary>True once krb5kdc says it is serving; false if the port was taken; throws on any other failure.</summary>
    private async Task<bool> TryStartKdcAsync()
    {
        lock (_kdcOutput)
        {
            _kdcOutput.Clear();
        }

        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = StartInfo(Programs.Krb5Kdc, ["-n", "-r", Realm]);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_kdcOutput)
            {
                _kdcOutput.AppendLine(e.Data);
            }

            if (e.Data.Contains("commencing operation", StringComparison.Ordinal))
            {
                serving.TrySetResult();
            }
        };
        process.OutputDataReceived += collect;
        process.ErrorDataReceived += collect;
        process.Start();
        _kdc = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        Task exited = process.WaitForExitAsync();
        Task first = await Task.WhenAny(serving.Task, exited, Task.Delay(StartTimeout));
        if (first == serving.Task)
        {
            return true;
        }

        int? exitCode = first == exited ? process.ExitCode : null;
        StopKdc();
        if (exitCode is not null)
        {
            string output = KdcOutput;
            if (output.Contains("Address already in use", StringComparison.Ordinal))
            {
                return false;
            }

            throw new InvalidOperationException($"krb5kdc exited with {exitCode} on port {Port}:\n{output}");
        }

        throw new TimeoutException($"krb5kdc did not start serving on port {Port} within {StartTimeout.TotalSeconds} s:\n{KdcOutput}");
    }

    private void StopKdc()
    {
        if (Interlocked.Exchange(ref _kdc, null) is { } process)
        {
            try
            {
                process.Kill();
                process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }

            process.Dispose();
        }
    }

    private void WriteConfiguration(int port)
    {
        Port = port;
        string p = port.ToString(CultureInfo.InvariantCulture);
        string skew = Seconds(ClockSkew).ToString(CultureInfo.InvariantCulture);
        File.WriteAllText(ConfigPath, $$"""
            [libdefaults]
                default_realm = {{Realm}}
                dns_lookup_kdc = false
                dns_lookup_realm = false
                dns_canonicalize_hostname = false
                rdns = false
                ignore_acceptor_hostname = false
                clockskew = {{skew}}
                default_ccache_name = FILE:{{DefaultCredentialCachePath}}
                default_keytab_name = FILE:{{KeytabPath}}

            [realms]
                {{Realm}} = {
                    kdc = 127.0.0.1:{{p}}
                    kdc = tcp/127.0.0.1:{{p}}
                }

            [domain_realm]
                localhost = {{Realm}}
                .localhost = {{Realm}}
            """);
        File.WriteAllText(KdcProfilePath, $$"""
            [kdcdefaults]
                kdc_listen = 127.0.0.1:{{p}}
                kdc_tcp_listen = 127.0.0.1:{{p}}

            [realms]
                {{Realm}} = {
                    database_name = {{Path.Combine(Directory, "principal")}}
                    key_stash_file = {{Path.Combine(Directory, "stash")}}
                    acl_file = {{Path.Combine(Directory, "kadm5.acl")}}
                    max_life = 1h
                    max_renewable_life = 0
                }

            [logging]
                kdc = STDERR
                admin_server = FILE:{{Path.Combine(Directory, "kadmin.log")}}
                default = FILE:{{Path.Combine(Directory, "krb5.log")}}
            """);
    }

    private Task KadminAsync(string query) => RunAsync(Programs.KadminLocal, ["-r", Realm, "-q", query]);

    private ProcessStartInfo StartInfo(string program, IEnumerable<string> args)
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

        foreach ((string name, string value) in Environment)
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>Runs a program to its end, bounded (killed after 30 s); throws with its output unless it exits 0.</summary>
    private async Task RunAsync(string program, IEnumerable<string> args, string? input = null)
    {
        var start = StartInfo(program, args);
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            if (input is not null)
            {
                await process.StandardInput.WriteAsync(input);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // It exited without reading: its exit code and output say why.
        }

        using var timeout = new CancellationTokenSource(ProcessTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException(
                $"{Describe(start)} did not exit within {ProcessTimeout.TotalSeconds} s:\n{await stdout}{await stderr}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Describe(start)} exited with {process.ExitCode}:\n{await stdout}{await stderr}");
        }

        // kadmin.local -q exits 0 even when the query fails (a duplicate principal, a missing one): it says so on
        // standard error, where the only other line it writes is that a new principal has no password policy.
        string errors = await stderr;
        if (program == Programs.KadminLocal &&
            errors.Split('\n').Any(line => line.Length > 0 && !line.StartsWith("No policy specified for ", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException($"{Describe(start)} failed:\n{await stdout}{errors}");
        }
    }

    private static string Describe(ProcessStartInfo start)
    {
        // No secrets in failure messages: passwords are after -pw / -P.
        var args = new List<string>();
        bool hide = false;
        foreach (string arg in start.ArgumentList)
        {
            args.Add(hide ? "***" : Regex.Replace(arg, "-pw \"[^\"]*\"", "-pw ***"));
            hide = arg == "-P";
        }

        return $"{Path.GetFileName(start.FileName)} {string.Join(' ', args)}";
    }

    private static int FreePort()
    {
        // Free on both protocols at this moment; krb5kdc binds both, and a loss of the race is retried.
        for (int attempt = 0; ; attempt++)
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)tcp.LocalEndPoint!).Port;
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
                // Taken for UDP: choose another.
            }
        }
    }

    private static string RandomSecret() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    private static long Seconds(TimeSpan span) => Math.Max(1, (long)Math.Ceiling(span.TotalSeconds));

    private static void CheckName(string name)
    {
        if (!Regex.IsMatch(name, @"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?(@[A-Z0-9.-]+)?$"))
        {
            throw new ArgumentException($"Not a principal name this fixture accepts: '{name}'.", nameof(name));
        }
    }

    private static void CheckPassword(string password)
    {
        if (password.Length == 0 || password.IndexOfAny(['"', '\\', '\n', '\r']) >= 0)
        {
            throw new ArgumentException("Passwords must be non-empty, without quotes, backslashes or line breaks.", nameof(password));
        }
    }

    private static void CheckPath(string path)
    {
        if (!Path.IsPathFullyQualified(path) || path.IndexOfAny(['"', '\\', '\n', '\r', ' ']) >= 0)
        {
            throw new ArgumentException($"Keytab paths must be absolute, without quotes or spaces: '{path}'.", nameof(path));
        }
    }

    private static class Programs
    {
        public const string Krb5Kdc = "/usr/sbin/krb5kdc";
        public const string Kdb5Util = "/usr/sbin/kdb5_util";
        public const string KadminLocal = "/usr/sbin/kadmin.local";
        public const string Kinit = "/usr/bin/kinit";
    }
}
