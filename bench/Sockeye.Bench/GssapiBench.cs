using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sockeye.Client;
using Sockeye.Protocol.Gssapi;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Bench;

/// <summary>
/// What each GSSAPI protection level (RFC 1961) costs: one Sockeye process with <c>gssapi</c> configured against a real
/// MIT KDC of its own (krb5kdc on loopback, a temporary realm), driven by Sockeye.Client at level none, integrity and
/// confidentiality. Bulk throughput both ways and the proxy's CPU per GiB, and the logins a second (greeting, context,
/// protection level, CONNECT, a 64-byte round trip) with the proxy's CPU per 1 000. Medians of the runs.
/// </summary>
internal sealed class GssapiBench(GssapiBenchSettings settings)
{
    private const int ChunkBytes = 64 * 1024;

    private static readonly GssapiProtectionLevel[] Levels = [GssapiProtectionLevel.None, GssapiProtectionLevel.Integrity, GssapiProtectionLevel.Confidentiality];

    private readonly Dictionary<(string Figure, GssapiProtectionLevel Level), List<double>> _results = [];

    public async Task<int> RunAsync()
    {
        if (settings.Pin && OperatingSystem.IsLinux())
        {
            Native.PinEveryThread(2); // CPU 1; the proxy gets CPU 0.
        }

        await using KerberosRealm realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        string keytab = Path.Combine(realm.Directory, "sockeye.keytab");
        await realm.ExportKeytabAsync(KerberosRealm.ServicePrincipal, keytab);
        var proxyEnvironment = new Dictionary<string, string>(realm.Environment) { ["SOCKEYE_GSSAPI__KEYTAB"] = keytab };

        using var targets = new Targets();
        await using ProxyUnderTest proxy = await ProxyUnderTest.StartSockeyeAsync("sockeye", settings.Sockeye, settings.Pin ? "0" : null, withUser: false, proxyEnvironment);
        // The client (this process) runs on the JIT whatever the server is, and the first login fetches the service
        // ticket from the KDC: neither belongs in a figure.
        if (settings.JitWarmUp > TimeSpan.Zero)
        {
            Console.Error.WriteLine($"warming up: {settings.JitWarmUp.TotalSeconds:0} s of logins and bulk at every level");
            var warmUpEnd = DateTime.UtcNow + settings.JitWarmUp;
            while (DateTime.UtcNow < warmUpEnd)
            {
                foreach (GssapiProtectionLevel level in Levels)
                {
                    await LoginsAsync(proxy, targets, level, TimeSpan.FromSeconds(1));
                    await ThroughputAsync(proxy, targets, level, upload: true, 64L << 20);
                    await ThroughputAsync(proxy, targets, level, upload: false, 64L << 20);
                }
            }
        }

        for (int run = 1; run <= settings.Runs; run++)
        {
            foreach (GssapiProtectionLevel level in Levels)
            {
                Console.Error.WriteLine($"run {run}/{settings.Runs}, {Name(level)}");
                foreach (bool upload in new[] { true, false })
                {
                    (double rate, double cpuPerGiB) = await ThroughputAsync(proxy, targets, level, upload, settings.Bytes);
                    string direction = upload ? "upload" : "download";
                    Record($"Throughput, 1 stream, {direction} (MiB/s)", level, rate / (1 << 20));
                    Record($"Proxy CPU per GiB, {direction} (s)", level, cpuPerGiB);
                }

                (double perSecond, double cpuPer1000) = await LoginsAsync(proxy, targets, level, settings.LoginDuration);
                Record("GSSAPI logins per second (1 worker)", level, perSecond);
                Record("Proxy CPU per 1 000 logins (s)", level, cpuPer1000);
            }
        }

        string report = Report(proxy);
        Console.WriteLine(report);
        if (settings.Output is { } output)
        {
            await File.WriteAllTextAsync(output, report);
        }

        return 0;
    }

    private static Socks5Client NewClient(ProxyUnderTest proxy, GssapiProtectionLevel level) =>
        new(new Socks5Proxy("localhost", proxy.EndPoint!.Port) { Gssapi = new GssapiClientOptions { ProtectionLevel = level } });

    /// <summary>One stream of <paramref name="bytes"/> through the proxy at <paramref name="level"/>; bytes a second and proxy CPU seconds per GiB.</summary>
    private static async Task<(double BytesPerSecond, double CpuPerGiB)> ThroughputAsync(ProxyUnderTest proxy, Targets targets, GssapiProtectionLevel level, bool upload, long bytes)
    {
        targets.SourceBytes = bytes;
        Socks5Client client = NewClient(proxy, level);
        await using Socks5Connection connection = await client.ConnectAsync("127.0.0.1", upload ? targets.SinkPort : targets.SourcePort);
        byte[] buffer = new byte[ChunkBytes];
        double cpuBefore = proxy.CpuSeconds();
        var clock = Stopwatch.StartNew();
        long moved = 0;
        if (upload)
        {
            for (; moved < bytes; moved += ChunkBytes)
            {
                await connection.Stream.WriteAsync(buffer.AsMemory(0, (int)Math.Min(ChunkBytes, bytes - moved)));
            }

            moved = bytes;
            await connection.Stream.FlushAsync();
            connection.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);

            // The sink closes once it has read every byte: its EOF is the proof of delivery.
            while (await connection.Stream.ReadAsync(buffer) > 0)
            {
            }
        }
        else
        {
            int read;
            while ((read = await connection.Stream.ReadAsync(buffer)) > 0)
            {
                moved += read;
            }

            if (moved != bytes)
            {
                throw new InvalidDataException($"{moved} bytes arrived at {Name(level)} instead of {bytes}");
            }
        }

        double seconds = clock.Elapsed.TotalSeconds;
        double cpu = proxy.CpuSeconds() - cpuBefore;
        return (moved / seconds, cpu / (moved / (double)(1L << 30)));
    }

    /// <summary>Logins one after another for <paramref name="duration"/>: a second, and proxy CPU seconds per 1 000.</summary>
    private static async Task<(double PerSecond, double CpuPer1000)> LoginsAsync(ProxyUnderTest proxy, Targets targets, GssapiProtectionLevel level, TimeSpan duration)
    {
        byte[] ping = new byte[64];
        byte[] pong = new byte[64];
        double cpuBefore = proxy.CpuSeconds();
        var clock = Stopwatch.StartNew();
        int done = 0;
        while (clock.Elapsed < duration)
        {
            await using Socks5Connection connection = await NewClient(proxy, level).ConnectAsync("127.0.0.1", targets.EchoPort);
            await connection.Stream.WriteAsync(ping);
            await connection.Stream.ReadExactlyAsync(pong);
            done++;
        }

        double seconds = clock.Elapsed.TotalSeconds;
        double cpu = proxy.CpuSeconds() - cpuBefore;
        return (done / seconds, cpu / done * 1000);
    }

    private void Record(string figure, GssapiProtectionLevel level, double value)
    {
        if (!_results.TryGetValue((figure, level), out List<double>? values))
        {
            _results[(figure, level)] = values = [];
        }

        values.Add(value);
    }

    private string Report(ProxyUnderTest proxy)
    {
        var document = new StringBuilder();
        document.AppendLine(CultureInfo.InvariantCulture, $"| Figure (median of {settings.Runs}) | none | integrity | confidentiality |");
        document.AppendLine("|---|---:|---:|---:|");
        foreach (string figure in _results.Keys.Select(key => key.Figure).Distinct())
        {
            document.Append(CultureInfo.InvariantCulture, $"| {figure} |");
            foreach (GssapiProtectionLevel level in Levels)
            {
                List<double> values = _results[(figure, level)];
                values.Sort();
                document.Append(CultureInfo.InvariantCulture, $" {Format(values[values.Count / 2])} |");
            }

            document.AppendLine();
        }

        document.AppendLine();
        document.AppendLine(CultureInfo.InvariantCulture, $"server:  {settings.Sockeye}{(proxy.JitCompiled ? " (JIT)" : "")}");
        document.AppendLine(CultureInfo.InvariantCulture, $"bulk:    {settings.Bytes >> 20} MiB per run, one stream; logins for {settings.LoginDuration.TotalSeconds:0} s per run");
        document.AppendLine(CultureInfo.InvariantCulture, $"pinning: {(settings.Pin ? "proxy on CPU 0, generator, client and targets on CPU 1" : "none")}");
        document.AppendLine(CultureInfo.InvariantCulture, $"command: {string.Join(' ', settings.CommandLine.Skip(1))}");
        return document.ToString();
    }

    private static string Format(double value) => value switch
    {
        >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 1 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.000", CultureInfo.InvariantCulture),
    };

    private static string Name(GssapiProtectionLevel level) => level.ToString().ToLowerInvariant();
}

/// <summary>The options of <c>Sockeye.Bench gssapi</c>.</summary>
internal sealed record GssapiBenchSettings(string Sockeye, bool Pin, int Runs, long Bytes, TimeSpan LoginDuration, TimeSpan JitWarmUp, string? Output, string[] CommandLine);
