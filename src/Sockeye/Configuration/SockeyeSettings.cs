using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;

namespace Sockeye.Configuration;

/// <summary>The daemon's effective settings: the server's options plus what only the executable uses.</summary>
internal sealed record SockeyeSettings(SockeyeServerOptions Server, LogLevel LogLevel, bool AllowAnonymous, MetricsSettings Metrics)
{
    /// <summary>Whether the console log is JSON lines (<c>logFormat: json</c>) rather than text.</summary>
    public bool JsonLogs { get; init; }

    /// <summary>The file the access log (event 2900) goes to instead of the console (<c>accessLog.path</c>); none by default.</summary>
    public string? AccessLogPath { get; init; }

    /// <summary>The admin endpoint (<c>admin.listen</c>, <c>admin.token</c>); null when it is off, as by default.</summary>
    public AdminSettings? Admin { get; init; }

    /// <summary>
    /// The <c>SOCKEYE_*</c> environment variables that name no setting, in ordinal order: ignored, with a warning at start
    /// (event 1111) and from <c>sockeye check-config</c>, since Kubernetes sets such variables for a Service named
    /// <c>sockeye</c>. Empty when there are none.
    /// </summary>
    public IReadOnlyList<string> IgnoredEnvironmentVariables { get; init; } = [];

    /// <summary>The files a change of which reloads the settings: the configuration file and the users file, full paths, those that are set.</summary>
    public IReadOnlyList<string> WatchedFiles { get; init; } = [];

    /// <summary>
    /// The settings the executable applies only at start (the log format, the access log's file, metrics export, the
    /// admin endpoint) that differ between these and <paramref name="inForce"/>, as the keys an operator writes; empty
    /// when none does. The server reports its own (SockeyeServer.Reload).
    /// </summary>
    public string RestartOnlyChanges(SockeyeSettings inForce)
    {
        var changed = new List<string>();
        if (JsonLogs != inForce.JsonLogs)
        {
            changed.Add("logFormat");
        }

        if (!string.Equals(AccessLogPath, inForce.AccessLogPath, StringComparison.Ordinal))
        {
            changed.Add("accessLog.path");
        }

        if (Metrics != inForce.Metrics)
        {
            changed.Add("metrics.otlpEndpoint/exportInterval");
        }

        if (Server.PerUserMetrics != inForce.Server.PerUserMetrics)
        {
            changed.Add("metrics.perUser");
        }

        if (Admin != inForce.Admin)
        {
            changed.Add("admin");
        }

        return string.Join(", ", changed);
    }
}

/// <summary>Where the admin endpoint listens, and the bearer token it requires for everything but health checks (null: none).</summary>
internal sealed record AdminSettings(System.Net.IPEndPoint Listen, string? Token)
{
    /// <summary>The shortest token accepted: guessing must be hopeless, not merely slow.</summary>
    public const int MinTokenLength = 16;

    /// <summary>Leaves the token out: a record would print it, and settings end up in logs and exceptions.</summary>
    public override string ToString() => $"admin {Listen}{(Token is null ? "" : ", with a token")}";
}

/// <summary>Where and how often the executable pushes the <c>Sockeye.Server</c> meter over OTLP/HTTP; no endpoint, no export.</summary>
internal sealed record MetricsSettings(Uri? OtlpEndpoint, TimeSpan ExportInterval)
{
    /// <summary>The export interval when none is configured.</summary>
    public static readonly TimeSpan DefaultExportInterval = TimeSpan.FromSeconds(15);
}
