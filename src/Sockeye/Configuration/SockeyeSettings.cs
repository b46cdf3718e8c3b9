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
}

/// <summary>Where and how often the executable pushes the <c>Sockeye.Server</c> meter over OTLP/HTTP; no endpoint, no export.</summary>
internal sealed record MetricsSettings(Uri? OtlpEndpoint, TimeSpan ExportInterval)
{
    /// <summary>The export interval when none is configured.</summary>
    public static readonly TimeSpan DefaultExportInterval = TimeSpan.FromSeconds(15);
}
