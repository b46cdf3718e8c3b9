using System.CommandLine;
using System.Globalization;
using System.Net;
using Sockeye.Configuration;
using Sockeye.Server.Configuration;

namespace Sockeye;

/// <summary>
/// <c>sockeye check-config FILE</c>: reads a configuration exactly as the server would (the file, then SOCKEYE_*
/// environment variables), reports every problem, or prints what the server would do with it, rules included.
/// </summary>
internal static class ConfigCheck
{
    public static Command CreateCommand(TextWriter output, TextWriter error)
    {
        var file = new Argument<string>("FILE") { Description = "The JSON configuration file to check." };
        var command = new Command("check-config", "Validate a configuration file and print the effective settings and access rules.") { file };
        command.SetAction((parseResult, _) => RunAsync(parseResult.GetValue(file)!, output, error));
        return command;
    }

    public static async Task<int> RunAsync(string file, TextWriter output, TextWriter error)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SockeyeCommandLine.LoadSettings(new CommandLineValues { ConfigFile = file }, errors);
        if (settings is null)
        {
            foreach (string line in errors)
            {
                await error.WriteLineAsync($"sockeye: {line}").ConfigureAwait(false);
            }

            await error.WriteLineAsync($"sockeye: {file}: {errors.Count} problem{(errors.Count == 1 ? "" : "s")}; the server would not start.").ConfigureAwait(false);
            return SockeyeCommandLine.ExitUsage;
        }

        if (settings.IgnoredEnvironmentVariables.Count > 0)
        {
            // On standard error, where check-config reports problems: standard output stays the description of the settings.
            await error.WriteLineAsync(
                $"sockeye: warning: ignored SOCKEYE_* environment variables that name no setting: {string.Join(", ", settings.IgnoredEnvironmentVariables)}").ConfigureAwait(false);
        }

        await output.WriteAsync(Describe(file, settings.Server, settings.Metrics, settings.Admin)).ConfigureAwait(false);
        return 0;
    }

    private static string Describe(string file, SockeyeServerOptions options, MetricsSettings metrics, AdminSettings? admin)
    {
        var text = new System.Text.StringBuilder();
        CultureInfo invariant = CultureInfo.InvariantCulture;
        text.Append(invariant, $"{file}: valid.\n");
        text.Append("listeners: ");
        for (int i = 0; i < options.Listeners.Count; i++)
        {
            IPEndPoint listener = options.Listeners[i];
            ListenerProtocols protocols = options.Protocols.TryGetValue(listener, out ListenerProtocols configured) ? configured : ListenerProtocolDefaults.For(listener);
            text.Append(i == 0 ? "" : ", ").Append(listener).Append(" (").Append(DescribeProtocols(protocols)).Append(')');
        }

        text.Append('\n');
        text.Append(options.Users.Count == 0
            ? options.Gssapi is null ? "authentication: none (NO AUTH)\n" : ""
            : string.Create(invariant, $"authentication: username/password, {options.Users.Count} user{(options.Users.Count == 1 ? "" : "s")}\n"));
        if (options.Gssapi is { } gssapi)
        {
            text.Append(string.Create(invariant,
                $"authentication: GSSAPI (Kerberos), service {gssapi.ServiceName}, keytab {gssapi.Keytab ?? "from KRB5_KTNAME or Kerberos's default"}{(gssapi.StripRealm ? ", realm stripped" : "")}; protection at least {gssapi.MinimumProtection.ToString().ToLowerInvariant()}\n"));
        }
        text.Append(metrics.OtlpEndpoint is { } endpoint
            ? string.Create(invariant, $"metrics: pushed over OTLP/HTTP to {endpoint} every {metrics.ExportInterval}\n")
            : admin is null ? "metrics: not exported (the Sockeye.Server meter is still there for dotnet-counters)\n" : "");
        text.Append(admin is null
            ? "admin endpoint: off\n"
            : string.Create(invariant, $"admin endpoint: http://{admin.Listen}/ (status page, /status.json, /metrics for Prometheus, /healthz, /readyz); {(admin.Token is null ? "no token" : "/metrics and /status.json need the bearer token")}{(options.PerUserMetrics ? "; per-user series" : "")}\n"));

        IReadOnlyList<AccessRule> rules = options.GetEffectiveRules();
        if (options.Rules.Count == 0)
        {
            bool guarded = false;
            foreach (IPEndPoint listener in options.Listeners)
            {
                guarded |= !IPAddress.IsLoopback(listener.Address);
            }

            text.Append(guarded
                ? "rules: none configured; the built-in rules apply, which deny local destinations and this host's addresses because a listener is not on loopback:\n"
                : "rules: none configured; the built-in rule applies, which allows everything because every listener is on loopback:\n");
        }
        else
        {
            text.Append("rules (the first that matches decides; a request no rule matches is denied):\n");
        }

        for (int i = 0; i < rules.Count; i++)
        {
            AccessRule rule = rules[i];
            text.Append(invariant, $"  {i + 1}. {rule}");
            if (rule.Name is not null)
            {
                text.Append("  # ").Append(rule.Name);
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    private static string DescribeProtocols(ListenerProtocols protocols)
    {
        var names = new List<string>(3);
        if ((protocols & ListenerProtocols.Socks5) != 0)
        {
            names.Add("socks5");
        }

        if ((protocols & ListenerProtocols.Socks4) != 0)
        {
            names.Add("socks4");
        }

        if ((protocols & ListenerProtocols.Http) != 0)
        {
            names.Add("http");
        }

        return string.Join(", ", names);
    }
}
