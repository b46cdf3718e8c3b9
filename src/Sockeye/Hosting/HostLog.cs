using Microsoft.Extensions.Logging;

namespace Sockeye.Hosting;

/// <summary>Events of the sockeye executable itself, IDs 1100–1199 (host range, see docs/logging.md).</summary>
internal static partial class HostLog
{
    [LoggerMessage(1101, LogLevel.Information, "Open-file limit {Before} raised to {After}, the hard limit (event 1011 says how it is divided)", EventName = "FileLimitRaised")]
    public static partial void FileLimitRaised(ILogger logger, ulong before, ulong after);

    [LoggerMessage(1102, LogLevel.Information, "Open-file limit {Limit} (already the hard limit; event 1011 says how it is divided)", EventName = "FileLimit")]
    public static partial void FileLimit(ILogger logger, ulong limit);

    [LoggerMessage(1103, LogLevel.Information, "SIGHUP: reading the configuration again", EventName = "ReloadRequested")]
    public static partial void ReloadRequested(ILogger logger);

    [LoggerMessage(1104, LogLevel.Error, "Reload failed, the settings in force are unchanged: {Problems}", EventName = "ReloadFailed")]
    public static partial void ReloadFailed(ILogger logger, string problems);

    [LoggerMessage(1105, LogLevel.Information, "Pushing metrics over OTLP/HTTP to {Endpoint} every {Interval}", EventName = "MetricsExport")]
    public static partial void MetricsExport(ILogger logger, Uri endpoint, TimeSpan interval);

    [LoggerMessage(1106, LogLevel.Information, "SIGHUP was ignored when the process started (as under nohup); it now reloads the configuration", EventName = "HangupWasIgnored")]
    public static partial void HangupWasIgnored(ILogger logger);

    [LoggerMessage(1107, LogLevel.Information, "Admin endpoint on {Address}/ ({Access})", EventName = "AdminListening")]
    public static partial void AdminListening(ILogger logger, string address, string access);

    [LoggerMessage(1108, LogLevel.Warning, "Changed in the configuration, but in force only from the next start: {Settings}", EventName = "NeedsRestart")]
    public static partial void NeedsRestart(ILogger logger, string settings);

    [LoggerMessage(1109, LogLevel.Information, "{Cause}: reading the configuration again", EventName = "ReloadingChangedFile")]
    public static partial void ReloadingChangedFile(ILogger logger, string cause);

    [LoggerMessage(1110, LogLevel.Warning, "Log level {Before} is now {After}", EventName = "LogLevelChanged")]
    public static partial void LogLevelChanged(ILogger logger, LogLevel before, LogLevel after);

    [LoggerMessage(1111, LogLevel.Warning, "Ignored SOCKEYE_* environment variables that name no setting: {Variables}", EventName = "EnvironmentVariablesIgnored")]
    public static partial void EnvironmentVariablesIgnored(ILogger logger, string variables);
}
