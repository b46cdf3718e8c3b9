using System.Runtime.InteropServices;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Sockeye.Admin;
using Sockeye.Configuration;
using Sockeye.Hosting;
using Sockeye.Server;
using Sockeye.Server.Limits;
using Sockeye.Server.Listening;
using Sockeye.Users;

namespace Sockeye;

/// <summary>The <c>sockeye</c> command line: parses it, builds the settings, and runs the server until a signal stops it.</summary>
internal static class SockeyeCommandLine
{
    /// <summary>Bad command line or configuration.</summary>
    public const int ExitUsage = 2;

    /// <summary>The server could not run (e.g. its port is in use).</summary>
    public const int ExitFailure = 1;

    public static Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default) =>
        RunAsync(args, input: null, output, error, cancellationToken);

    /// <summary>Runs the command line with <paramref name="input"/> as standard input (<see langword="null"/>: the console).</summary>
    public static async Task<int> RunAsync(string[] args, TextReader? input, TextWriter? output, TextWriter? error, CancellationToken cancellationToken)
    {
        output ??= Console.Out;
        error ??= Console.Error;

        var listen = new Option<string[]>("--listen", "-l")
        {
            Description = "Endpoint to accept clients on, HOST:PORT or [IPv6]:PORT; repeat for several. Default: 127.0.0.1:1080.",
            HelpName = "HOST:PORT",
            Arity = ArgumentArity.OneOrMore,
        };
        var user = new Option<string[]>("--user", "-u")
        {
            Description = "Account NAME:PASSWORD; repeat for several. Any user makes authentication required.",
            HelpName = "NAME:PASSWORD",
            Arity = ArgumentArity.OneOrMore,
        };
        var usersFile = new Option<string>("--users-file")
        {
            Description = "File of NAME:HASH accounts, managed with 'sockeye user'; refused if its group or others may write it.",
            HelpName = "FILE",
        };
        var config = new Option<string>("--config", "-c") { Description = "JSON configuration file (see docs/configuration.md).", HelpName = "FILE" };
        var logLevel = new Option<string>("--log-level") { Description = "trace, debug, information, warning, error, critical or none. Default: information.", HelpName = "LEVEL" };
        var logFormat = new Option<string>("--log-format") { Description = "text (one line per event) or json (one JSON object per line). Default: text.", HelpName = "FORMAT" };
        var allowAnonymous = new Option<bool>("--allow-anonymous") { Description = "Allow a non-loopback listener without users: an open proxy." };
        var handshakeTimeout = new Option<string>("--handshake-timeout") { Description = "Time a client has to complete its handshake. Default: 10s.", HelpName = "DURATION" };
        var connectTimeout = new Option<string>("--connect-timeout") { Description = "Time to resolve and connect to a destination. Default: 10s.", HelpName = "DURATION" };
        var idleTimeout = new Option<string>("--idle-timeout") { Description = "Close a tunnel idle this long; 0 for never. Default: 5m.", HelpName = "DURATION" };
        var metricsOtlp = new Option<string>("--metrics-otlp") { Description = "Push metrics over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318.", HelpName = "URL" };
        var shutdownTimeout = new Option<string>("--shutdown-timeout") { Description = "Grace period for open tunnels on SIGTERM/SIGINT. Default: 10s.", HelpName = "DURATION" };
        var adminListen = new Option<string>("--admin-listen")
        {
            Description = "Serve the admin endpoint (status page, /metrics, /healthz, /readyz) on HOST:PORT. Off loopback it needs admin.token.",
            HelpName = "HOST:PORT",
        };

        var root = new RootCommand("Sockeye: a SOCKS5 proxy server (RFC 1928, RFC 1929).")
        {
            listen, user, usersFile, config, logLevel, logFormat, allowAnonymous, handshakeTimeout, connectTimeout, idleTimeout, shutdownTimeout, metricsOtlp,
            adminListen,
        };

        root.SetAction((parseResult, token) =>
        {
            var values = new CommandLineValues
            {
                Listen = parseResult.GetValue(listen) ?? [],
                Users = parseResult.GetValue(user) ?? [],
                UsersFile = parseResult.GetValue(usersFile),
                ConfigFile = parseResult.GetValue(config),
                LogLevel = parseResult.GetValue(logLevel),
                LogFormat = parseResult.GetValue(logFormat),
                AllowAnonymous = parseResult.GetValue(allowAnonymous),
                HandshakeTimeout = parseResult.GetValue(handshakeTimeout),
                ConnectTimeout = parseResult.GetValue(connectTimeout),
                IdleTimeout = parseResult.GetValue(idleTimeout),
                ShutdownTimeout = parseResult.GetValue(shutdownTimeout),
                MetricsOtlp = parseResult.GetValue(metricsOtlp),
                AdminListen = parseResult.GetValue(adminListen),
            };
            return ServeAsync(values, error, cancellationToken);
        });
        root.Subcommands.Add(ConfigCheck.CreateCommand(output, error));
        root.Subcommands.Add(HealthCommand.Create(output, error));

        root.Add(UserCommands.Create(input, output, error));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError parseError in parsed.Errors)
            {
                await error.WriteLineAsync($"sockeye: {parseError.Message} (see sockeye --help)").ConfigureAwait(false);
            }

            return ExitUsage;
        }

        // The host handles SIGINT/SIGTERM with a drain; System.CommandLine must not kill the process first.
        var invocation = new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null };
        return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    // SIGUSR1's number on Linux (and on every architecture .NET runs Linux on).
    private const int SigUsr1 = 10;

    private static async Task<int> ServeAsync(CommandLineValues values, TextWriter error, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = LoadSettings(values, errors);
        if (settings is null)
        {
            foreach (string line in errors)
            {
                await error.WriteLineAsync($"sockeye: {line}").ConfigureAwait(false);
            }

            return ExitUsage;
        }

        AccessLogFile? accessLog = null;
        if (settings.AccessLogPath is { } accessLogPath)
        {
            try
            {
                accessLog = AccessLogFile.Open(accessLogPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"sockeye: accessLog.path: cannot write '{accessLogPath}': {e.Message}").ConfigureAwait(false);
                return ExitUsage;
            }
        }

        // Disposed after the host, so that the access lines of the sessions the drain closed are written too.
        using AccessLogFile? accessLogFile = accessLog;

        // SIGUSR1 (10 on Linux; the runtime takes raw signal numbers on Unix): reopen the access log, after logrotate moved it.
        using PosixSignalRegistration? reopen = accessLog is not null && !OperatingSystem.IsWindows()
            ? PosixSignalRegistration.Create((PosixSignal)SigUsr1, context =>
            {
                context.Cancel = true;
                accessLog.Reopen();
            })
            : null;
        using IHost host = BuildHost(settings, reloadErrors => LoadSettings(values, reloadErrors), accessLog);
        ILogger hostLogger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sockeye");
        if (settings.IgnoredEnvironmentVariables.Count > 0)
        {
            // Once, at start: a reload reads the same environment again, and says nothing of it.
            HostLog.EnvironmentVariablesIgnored(hostLogger, string.Join(", ", settings.IgnoredEnvironmentVariables));
        }

        LogFileLimit(hostLogger);
        if (settings.Metrics.OtlpEndpoint is { } metricsEndpoint)
        {
            HostLog.MetricsExport(hostLogger, metricsEndpoint, settings.Metrics.ExportInterval);
        }
        try
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (SockeyeListenException e)
        {
            await error.WriteLineAsync($"sockeye: {e.Message}").ConfigureAwait(false);
            return ExitFailure;
        }
        catch (IOException e) when (settings.Admin is not null)
        {
            // Kestrel's way of saying the admin address cannot be listened on: "Failed to bind to address …: address
            // already in use." The SOCKS listeners opened first were closed by the host's stop.
            await error.WriteLineAsync($"sockeye: admin.listen: {e.Message}").ConfigureAwait(false);
            return ExitFailure;
        }
    }

    /// <summary>The settings from the config file, the environment and the command line; null with <paramref name="errors"/> filled when they are not valid.</summary>
    internal static SockeyeSettings? LoadSettings(CommandLineValues values, List<string> errors)
    {
        try
        {
            IConfiguration configuration = BuildConfiguration(values.ConfigFile);
            SockeyeSettings? settings = SettingsReader.Read(configuration, values, errors);
            if (settings is null)
            {
                return null;
            }

            // A reload reads these files again when they change (SettingsChangeSource).
            var watched = new List<string>(2);
            if (values.ConfigFile is { } configFile)
            {
                watched.Add(Path.GetFullPath(configFile));
            }

            if ((values.UsersFile ?? configuration["usersFile"]) is { } usersFile && !string.IsNullOrWhiteSpace(usersFile))
            {
                watched.Add(Path.GetFullPath(usersFile));
            }

            return settings with { WatchedFiles = watched };
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            errors.Add($"--config: cannot read '{values.ConfigFile}': {e.Message}");
        }
        catch (Exception e) when (e is FormatException or InvalidDataException)
        {
            errors.Add($"--config: '{values.ConfigFile}' is not valid JSON: {DescribeJsonError(e)}");
        }

        return null;
    }

    /// <summary>
    /// Where the JSON parser stopped, 1-based as editors count (the parser's own numbers start at 0), and why; the
    /// configuration layer's message when it found the fault itself (a duplicate key).
    /// </summary>
    internal static string DescribeJsonError(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Text.Json.JsonException { LineNumber: long line, BytePositionInLine: long column })
            {
                string reason = inner.Message;
                int position = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
                return $"line {line + 1}, column {column + 1}: {(position > 0 ? reason[..position] : reason)}";
            }
        }

        return (e.InnerException ?? e).Message;
    }

    private static IConfiguration BuildConfiguration(string? configFile)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }

        builder.AddEnvironmentVariables(SettingsReader.EnvironmentPrefix);
        return builder.Build();
    }

    private static void LogFileLimit(ILogger logger)
    {
        if (OpenFileLimit.RaiseToHardLimit() is not (ulong before, ulong after))
        {
            return;
        }

        if (after > before)
        {
            HostLog.FileLimitRaised(logger, before, after);
        }
        else
        {
            HostLog.FileLimit(logger, after);
        }
    }

    private static IHost BuildHost(SockeyeSettings settings, Func<List<string>, SockeyeSettings?> loadSettings, AccessLogFile? accessLog)
    {
        if (settings.Admin is not { } admin)
        {
            HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            ConfigureHost(builder, settings, loadSettings, accessLog);
            return builder.Build();
        }

        // The admin endpoint's Kestrel shares the host, so it starts after the SOCKS listeners and stops after them:
        // /readyz answers 503 for the whole drain.
        WebApplicationBuilder web = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });

        // Only Sockeye's settings configure it: no appsettings.json from the working directory, no ASPNETCORE_URLS.
        web.Configuration.Sources.Clear();
        web.Logging.ClearProviders();
        ConfigureHost(web, settings, loadSettings, accessLog);
        AdminEndpoint.ConfigureServer(web, admin);
        WebApplication app = web.Build();
        AdminEndpoint.Map(app, admin);
        return app;
    }

    private static void ConfigureHost(IHostApplicationBuilder builder, SockeyeSettings settings, Func<List<string>, SockeyeSettings?> loadSettings, AccessLogFile? accessLog)
    {
        // The level follows reloads: the loggers read it through options whose change token a reload fires.
        var logLevel = new LogLevelInForce(settings.LogLevel);
        builder.Services.AddSingleton(logLevel);
        builder.Services.AddSingleton<IConfigureOptions<LoggerFilterOptions>>(logLevel);
        builder.Services.AddSingleton<IOptionsChangeTokenSource<LoggerFilterOptions>>(logLevel);
        if (settings.JsonLogs)
        {
            // One object per line, for log shippers: Timestamp, EventId, LogLevel, Category, Message and the event's
            // fields under State, each with the name docs/logging.md gives it.
            builder.Logging.AddJsonConsole(console =>
            {
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                console.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
        }
        else
        {
            builder.Logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }

        // The console logger writes from a bounded queue on a thread of its own, and by default a logger finding the
        // queue full waits for room: with stdout no longer read (a stalled pipe, a stopped log shipper) every thread
        // that logs would wait, the event loops among them, and every tunnel with them. Dropping is what a full log
        // can afford; the logger reports how many lines it dropped once it can write again.
        builder.Services.Configure<ConsoleLoggerOptions>(console => console.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);
        builder.Services.Configure<ConsoleLifetimeOptions>(lifetime => lifetime.SuppressStatusMessages = true);
        if (accessLog is not null)
        {
            // The access log goes to its file instead of the console.
            builder.Logging.AddProvider(accessLog);
            builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(AccessLogFile.Category, LogLevel.None);

            // Whatever logLevel says of the console: the file is there to hold every session.
            builder.Logging.AddFilter<AccessLogFile>(AccessLogFile.Category, LogLevel.Information);
        }

        // A listener that cannot open is reported by ServeAsync as one plain line; the host's own report of the same
        // failure would add a stack trace to it.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        // Kestrel's per-request lines and its start banner are not the proxy's business (event 1107 says where the admin
        // endpoint listens); its warnings and errors are.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

        // The host must not give up on the drain before the server does.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = settings.Server.ShutdownTimeout + TimeSpan.FromSeconds(5));
        if (settings.Metrics.OtlpEndpoint is not null || settings.Admin is not null)
        {
            // Only when asked for: without an exporter no meter provider exists, and recording stays a flag check.
            builder.Services.AddOpenTelemetry().WithMetrics(metrics =>
            {
                metrics.AddMeter(SockeyeServer.MeterName);
                if (settings.Metrics.OtlpEndpoint is { } endpoint)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        exporter.Endpoint = endpoint;
                        exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)settings.Metrics.ExportInterval.TotalMilliseconds;
                    });
                }

                if (settings.Admin is not null)
                {
                    // Each scrape reads the instruments afresh: a scrape right after a tunnel closes sees its bytes.
                    metrics.AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0);
                }
            });
        }

        builder.Services.AddSingleton(services => new SockeyeServer(settings.Server, services.GetRequiredService<ILoggerFactory>(), TimeProvider.System));
        builder.Services.AddSingleton<ServiceManagerNotifier>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ServiceManagerNotifier>());

        // Reloads: SIGHUP and the watched files fire the change tokens of an options monitor, which reads the settings
        // again through the factory and hands each reading to the hosted service.
        builder.Services.AddSingleton(services => new SettingsChangeSource(TimeProvider.System));
        builder.Services.AddSingleton<IOptionsChangeTokenSource<SettingsLoad>>(services => services.GetRequiredService<SettingsChangeSource>());
        builder.Services.AddSingleton<IOptionsFactory<SettingsLoad>>(services => new SettingsLoadFactory(loadSettings, services.GetRequiredService<SettingsChangeSource>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Sockeye")));
        builder.Services.AddHostedService(services => new SockeyeHostedService(
            services.GetRequiredService<SockeyeServer>(), settings, services.GetRequiredService<IOptionsMonitor<SettingsLoad>>(),
            services.GetRequiredService<SettingsChangeSource>(), logLevel, services.GetRequiredService<ILoggerFactory>().CreateLogger("Sockeye"),
            services.GetRequiredService<ServiceManagerNotifier>()));
    }
}
