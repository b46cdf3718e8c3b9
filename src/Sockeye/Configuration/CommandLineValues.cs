namespace Sockeye.Configuration;

/// <summary>What was given on the command line; each value, when present, wins over the config file and the environment.</summary>
internal sealed record CommandLineValues
{
    public IReadOnlyList<string> Listen { get; init; } = [];

    public IReadOnlyList<string> Users { get; init; } = [];

    public string? UsersFile { get; init; }

    public string? ConfigFile { get; init; }

    public string? LogLevel { get; init; }

    /// <summary>--log-format: <c>text</c> (one line per event) or <c>json</c> (one JSON object per line).</summary>
    public string? LogFormat { get; init; }

    public bool AllowAnonymous { get; init; }

    public string? HandshakeTimeout { get; init; }

    public string? ConnectTimeout { get; init; }

    public string? IdleTimeout { get; init; }

    public string? ShutdownTimeout { get; init; }

    /// <summary>--metrics-otlp: the OTLP/HTTP collector to push metrics to.</summary>
    public string? MetricsOtlp { get; init; }

    /// <summary>--admin-listen: where the admin endpoint (metrics, health, status page) listens.</summary>
    public string? AdminListen { get; init; }
}
