using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sockeye.Configuration;
using Sockeye.Hosting;
using Sockeye.Server;
using Sockeye.Server.Status;

namespace Sockeye.Admin;

/// <summary>
/// The admin endpoint, served by Kestrel: <c>/metrics</c> (Prometheus text, through OpenTelemetry's exporter),
/// <c>/healthz</c>, <c>/readyz</c>, <c>/status.json</c> and the status page at <c>/</c>.
/// </summary>
/// <remarks>
/// With a token, <c>/metrics</c> and <c>/status.json</c> require <c>Authorization: Bearer TOKEN</c>. The health checks
/// stay open, since they tell nothing but up or down and orchestrators probe them without credentials, and so does the
/// page itself: it holds no data, and asks for the token before it fetches any.
/// </remarks>
internal static class AdminEndpoint
{
    /// <summary>The busiest client addresses the status lists.</summary>
    public const int TopClients = 20;

    private static readonly byte[] StatusPage = LoadStatusPage();

    /// <summary>Makes Kestrel listen on the admin address only, with bounds fit for an endpoint a few scrapers use.</summary>
    public static void ConfigureServer(WebApplicationBuilder builder, AdminSettings admin)
    {
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(admin.Listen);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = 64;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
        });
    }

    /// <summary>Puts the endpoints on <paramref name="app"/>.</summary>
    public static void Map(WebApplication app, AdminSettings admin)
    {
        SockeyeServer server = app.Services.GetRequiredService<SockeyeServer>();
        IHostApplicationLifetime lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        byte[]? tokenHash = admin.Token is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(admin.Token));
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sockeye");
        lifetime.ApplicationStarted.Register(() =>
        {
            // The address Kestrel really listens on: with port 0 the system chose it.
            ICollection<string>? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
            string where = addresses is { Count: > 0 } ? string.Join(", ", addresses) : $"http://{admin.Listen}";
            HostLog.AdminListening(logger, where, tokenHash is null ? "no token, loopback only" : "/metrics and /status.json need the bearer token");
        });

        app.Use((context, next) =>
        {
            PathString path = context.Request.Path;
            if (tokenHash is not null && (path == "/metrics" || path == "/status.json") && !Authorized(context.Request, tokenHash))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"sockeye\"";
                return Task.CompletedTask;
            }

            return next(context);
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint();
        app.Run(context => HandleAsync(context, server, lifetime));
    }

    private static Task HandleAsync(HttpContext context, SockeyeServer server, IHostApplicationLifetime lifetime)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return Task.CompletedTask;
        }

        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        switch (request.Path.Value)
        {
            case "/healthz":
                return PlainAsync(response, StatusCodes.Status200OK, "ok\n");
            case "/readyz":
                string? notReady = NotReadyBecause(server, lifetime);
                return notReady is null
                    ? PlainAsync(response, StatusCodes.Status200OK, ReadyText(server))
                    : PlainAsync(response, StatusCodes.Status503ServiceUnavailable, $"not ready: {notReady}\n");
            case "/status.json":
                response.ContentType = "application/json; charset=utf-8";
                ServerStatus status = server.GetStatus(TopClients);
                return HttpMethods.IsHead(request.Method)
                    ? Task.CompletedTask
                    : JsonSerializer.SerializeAsync(response.Body, status, StatusJsonContext.Default.ServerStatus, context.RequestAborted);
            case "/" or "/index.html":
                response.ContentType = "text/html; charset=utf-8";
                response.Headers.ContentSecurityPolicy =
                    "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";
                response.ContentLength = StatusPage.Length;
                return HttpMethods.IsHead(request.Method) ? Task.CompletedTask : response.Body.WriteAsync(StatusPage, context.RequestAborted).AsTask();
            default:
                return PlainAsync(response, StatusCodes.Status404NotFound, "not found: the admin endpoint serves /, /status.json, /metrics, /healthz and /readyz\n");
        }
    }

    /// <summary>
    /// <c>ready</c>, and with shared limits whether they are shared now. An instance on its own limits still serves, so
    /// it stays ready (a balancer that took it out would only load the others), but the body says so for whoever looks.
    /// </summary>
    internal static string ReadyText(SockeyeServer server) =>
        server.SharedLimitsState is "off" ? "ready\n" : $"ready (shared limits: {server.SharedLimitsState})\n";

    /// <summary>Why the server is not ready, or null when it is: draining, or a listener that does not accept.</summary>
    internal static string? NotReadyBecause(SockeyeServer server, IHostApplicationLifetime lifetime)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return "draining";
        }

        if (server.IsReady)
        {
            return null;
        }

        ServerStatus status = server.GetStatus(0);
        if (status.Draining)
        {
            return "draining";
        }

        if (status.StartedAt is null)
        {
            return "starting";
        }

        var closed = new List<string>();
        foreach (ListenerStatus listener in status.Listeners)
        {
            if (!listener.Accepting)
            {
                closed.Add(listener.EndPoint);
            }
        }

        return closed.Count == 0 ? "no listener" : $"not accepting on {string.Join(", ", closed)}";
    }

    private static bool Authorized(HttpRequest request, byte[] tokenHash)
    {
        string? header = request.Headers.Authorization;
        const string Scheme = "Bearer ";
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Hashes of equal length, compared in constant time: neither the token's bytes nor its length leak through timing.
        Span<byte> given = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(header.AsSpan(Scheme.Length).Trim().ToString()), given);
        return CryptographicOperations.FixedTimeEquals(given, tokenHash);
    }

    private static Task PlainAsync(HttpResponse response, int status, string text)
    {
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync(text);
    }

    private static byte[] LoadStatusPage()
    {
        using Stream stream = typeof(AdminEndpoint).Assembly.GetManifestResourceStream("Sockeye.Admin.status.html")
            ?? throw new InvalidOperationException("The status page is missing from the assembly's resources.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
