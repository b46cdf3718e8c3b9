using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Sockeye.Testing.Origins;

/// <summary>
/// A real HTTP/1.1 destination for proxy tests: Kestrel in process, on a loopback address with a port the system
/// chose, plain or HTTPS (a self-signed certificate made for it). It serves
/// <list type="bullet">
/// <item><c>GET /hello</c>: <see cref="HelloBody"/>;</item>
/// <item><c>POST /echo</c>: the request body, streamed back, any size;</item>
/// <item><c>GET|HEAD /bytes/{n}</c>: <c>n</c> bytes of <see cref="OriginContent"/>, with a Content-Length (n ≤ 64 MiB);</item>
/// <item><c>GET|HEAD /chunked/{n}</c>: the same bytes in several flushes, without one (Transfer-Encoding: chunked);</item>
/// <item><c>GET|HEAD /status/{code}</c>: an empty response with that status (200–599);</item>
/// <item><c>GET /headers</c>: the request's headers, one <c>Name: value</c> line each;</item>
/// <item><c>GET /source</c>: the client's IP address, as the origin saw it;</item>
/// <item><c>/git/{name}.git/…</c>: git's smart HTTP protocol for the repositories of <see cref="CreateRepositoryAsync"/>.</item>
/// </list>
/// and counts the TCP connections it accepts. Everything it writes lives in one temporary folder, deleted on dispose.
/// </summary>
public sealed partial class OriginServer : IAsyncDisposable
{
    /// <summary>Where Debian's git package installs git, which <c>/git/</c> and <see cref="CreateRepositoryAsync"/> run.</summary>
    public const string GitPath = GitCommand.Path;

    /// <summary>What <c>GET /hello</c> answers.</summary>
    public const string HelloBody = "Hello from the Sockeye origin.\n";

    private static readonly string[] ProxyVariables =
        ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

    private readonly string _root;
    private readonly string _home;
    private readonly string _repositories;
    private readonly OriginCertificate? _certificate;
    private readonly GitHttpBackend _git;
    private readonly ConcurrentDictionary<IPAddress, byte> _remoteAddresses = new();
    private int _connectionsAccepted;
    private WebApplication? _app;

    private OriginServer(bool tls, IPAddress address)
    {
        Address = address;
        _root = Directory.CreateTempSubdirectory("sockeye-origin-").FullName;
        _home = Directory.CreateDirectory(Path.Combine(_root, "home")).FullName;
        _repositories = Directory.CreateDirectory(Path.Combine(_root, "repositories")).FullName;
        _git = new GitHttpBackend(_repositories, _home);
        if (tls)
        {
            _certificate = OriginCertificate.Create(address, Path.Combine(_root, "origin.pem"));
        }
    }

    /// <summary>The loopback address it listens on.</summary>
    public IPAddress Address { get; }

    public IPEndPoint EndPoint => new(Address, Port);

    public int Port { get; private set; }

    public bool IsTls => _certificate is not null;

    /// <summary>
    /// <c>http://ADDRESS:PORT/</c>, or for HTTPS <c>https://localhost:PORT/</c> so the name matches the certificate
    /// (the address itself when it is not 127.0.0.1: localhost need not resolve to it, and the certificate names it).
    /// </summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The certificate (no private key) as PEM, for curl's <c>--cacert</c> and git's <c>GIT_SSL_CAINFO</c>; null when plain.</summary>
    public string? CertificatePemPath => _certificate?.PemPath;

    /// <summary>The certificate HTTPS clients see; null when plain.</summary>
    public X509Certificate2? Certificate => _certificate?.Certificate;

    /// <summary>TCP connections accepted so far (TLS or not, whatever came over them).</summary>
    public int ConnectionsAccepted => Volatile.Read(ref _connectionsAccepted);

    /// <summary>The distinct client addresses of those connections.</summary>
    public IReadOnlyCollection<IPAddress> RemoteAddresses => [.. _remoteAddresses.Keys];

    /// <summary>Starts one and returns once it listens.</summary>
    /// <param name="tls">HTTPS with a self-signed certificate, rather than plain HTTP.</param>
    /// <param name="address">A loopback address (127.0.0.1 by default; ::1, 127.0.0.2, …).</param>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not a loopback address.</exception>
    public static async Task<OriginServer> StartAsync(bool tls, IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        if (!IPAddress.IsLoopback(address))
        {
            throw new ArgumentException($"{address} is not a loopback address: an origin never listens beyond this host.", nameof(address));
        }

        var server = new OriginServer(tls, address);
        try
        {
            await server.StartKestrelAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>An absolute URL on this origin: <paramref name="pathAndQuery"/> relative to <see cref="BaseUri"/>.</summary>
    public Uri Url(string pathAndQuery) => new(BaseUri, pathAndQuery.TrimStart('/'));

    /// <summary>The clone URL of a repository made by <see cref="CreateRepositoryAsync"/>.</summary>
    public Uri RepositoryUrl(string name) => Url($"git/{name}.git");

    /// <summary>Whether <paramref name="certificate"/> is this origin's certificate.</summary>
    public bool Trusts(X509Certificate? certificate) => _certificate?.Matches(certificate) ?? false;

    /// <summary>
    /// A handler that trusts this origin's certificate (and, as always, the system's roots) and uses no proxy, whatever
    /// the environment says; a test that wants one sets <see cref="SocketsHttpHandler.Proxy"/> and
    /// <see cref="SocketsHttpHandler.UseProxy"/>.
    /// </summary>
    public SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        if (_certificate is { } certificate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, errors) => certificate.Validate(presented, errors);
        }

        return handler;
    }

    /// <summary>
    /// Environment variables for a git client of this origin, to apply to its start info (null: remove): HOME the given
    /// folder, no system configuration, no prompt, no proxy from the environment, and GIT_SSL_CAINFO naming the
    /// certificate when the origin is HTTPS.
    /// </summary>
    public IReadOnlyDictionary<string, string?> GitClientEnvironment(string home)
    {
        Dictionary<string, string?> environment = ClientEnvironment();
        environment["HOME"] = home;
        environment["XDG_CONFIG_HOME"] = null;
        environment["GIT_CONFIG_NOSYSTEM"] = "1";
        environment["GIT_CONFIG_GLOBAL"] = null;
        environment["GIT_TERMINAL_PROMPT"] = "0";
        environment["GIT_ASKPASS"] = null;
        environment["SSH_ASKPASS"] = null;
        environment["GIT_DIR"] = null;
        environment["GIT_WORK_TREE"] = null;
        environment["GIT_SSL_CAINFO"] = CertificatePemPath;
        environment["GIT_SSL_NO_VERIFY"] = null;
        return environment;
    }

    /// <summary>Environment changes (null: remove) so that no proxy variable applies to a client program (curl, git).</summary>
    public static Dictionary<string, string?> ClientEnvironment() => ProxyVariables.ToDictionary(name => name, _ => (string?)null);

    /// <summary>
    /// Creates a bare repository <c>{name}.git</c> of three commits of small text files, served at
    /// <see cref="RepositoryUrl"/>, and returns its HEAD commit's hash. Needs git (<c>/usr/bin/git</c>).
    /// </summary>
    /// <param name="name">Letters, digits, '-', '_' and '.', starting with a letter or digit.</param>
    public async Task<string> CreateRepositoryAsync(string name)
    {
        if (!RepositoryName().IsMatch(name))
        {
            throw new ArgumentException($"'{name}' is not a simple repository name.", nameof(name));
        }

        string work = Path.Combine(_root, "work", name);
        Directory.CreateDirectory(work);
        await GitCommand.RunAsync(_home, work, "init", "--quiet", "--initial-branch=main");
        string[] messages = ["Add a readme", "Add the greeting", "Say more"];
        for (int commit = 1; commit <= messages.Length; commit++)
        {
            await File.WriteAllTextAsync(Path.Combine(work, "README.md"), $"# {name}\n\nRevision {commit}.\n");
            await File.WriteAllTextAsync(Path.Combine(work, $"file{commit}.txt"), string.Concat(Enumerable.Repeat($"line of commit {commit}\n", commit * 10)));
            await GitCommand.RunAsync(_home, work, "add", "--all");
            await GitCommand.RunAsync(_home, work, "-c", "user.name=Sockeye Tests", "-c", "user.email=tests@sockeye.invalid",
                "commit", "--quiet", "--no-gpg-sign", "--message", messages[commit - 1]);
        }

        string bare = Path.Combine(_repositories, $"{name}.git");
        await GitCommand.RunAsync(_home, null, "clone", "--quiet", "--bare", work, bare);
        return (await GitCommand.RunAsync(_home, bare, "rev-parse", "HEAD")).Trim();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_app is { } app)
            {
                _app = null;
                _git.KillAll();
                using var stopping = new CancellationTokenSource(TestTimeouts.Default);
                await app.StopAsync(stopping.Token);
                await app.DisposeAsync();
            }
        }
        finally
        {
            _certificate?.Dispose();
            Directory.Delete(_root, recursive: true);
        }
    }

    private async Task StartKestrelAsync()
    {
        // No arguments, no environment, no appsettings.json: nothing around the test run reaches this server.
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = _root });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(static host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;

            // Proxies under test may throttle: no minimum data rates, so a slow tunnel is not mistaken for a dead one.
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Listen(Address, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(next => connection =>
                {
                    CountConnection(connection);
                    return next(connection);
                });
                if (_certificate is { } certificate)
                {
                    listen.UseHttps(certificate.Certificate);
                }
            });
        });

        WebApplication app = builder.Build();
        OriginEndpoints.Map(app, _git);
        await app.StartAsync().WaitAsync(TestTimeouts.Default);
        _app = app;

        // The address Kestrel really bound: the system chose the port.
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Port = new Uri(bound).Port;
        string host = IsTls && Address.Equals(IPAddress.Loopback) ? "localhost"
            : Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address.ToString();
        BaseUri = new Uri($"{(IsTls ? "https" : "http")}://{host}:{Port}/");
    }

    private void CountConnection(ConnectionContext connection)
    {
        Interlocked.Increment(ref _connectionsAccepted);
        if (connection.RemoteEndPoint is IPEndPoint remote)
        {
            _remoteAddresses.TryAdd(remote.Address, 0);
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex RepositoryName();
}
