using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Sockeye.Tests.TestSupport;

/// <summary>The executable run with its admin endpoint on a port the system chose, and an HTTP client for it.</summary>
internal sealed partial class AdminProcess : IAsyncDisposable
{
    private AdminProcess(SockeyeProcess process, int socksPort, int adminPort, string? token)
    {
        Process = process;
        SocksPort = socksPort;
        AdminPort = adminPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/"), Timeout = TestTimeouts.Default };
        if (token is not null)
        {
            Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public SockeyeProcess Process { get; }

    public int SocksPort { get; }

    public int AdminPort { get; }

    /// <summary>A client of the admin endpoint, with the token when one was given.</summary>
    public HttpClient Http { get; }

    /// <summary>
    /// Starts <c>sockeye --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0</c> plus <paramref name="args"/>, and waits
    /// until both listen. <paramref name="token"/> is sent with every request of <see cref="Http"/>.
    /// </summary>
    public static async Task<AdminProcess> StartAsync(ITestOutputHelper output, IEnumerable<string> args, string? token = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        SockeyeProcess process = SockeyeProcess.Start(output, ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", .. args], environment);
        try
        {
            int socksPort = await process.WaitForListeningPortAsync();
            Match admin = await process.WaitForOutputAsync(AdminLine(), TestTimeouts.ProcessStart);
            return new AdminProcess(process, socksPort, int.Parse(admin.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture), token);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Process.DisposeAsync();
    }

    [GeneratedRegex(@"Sockeye\[1107\] Admin endpoint on http://127\.0\.0\.1:(?<port>\d+)/")]
    private static partial Regex AdminLine();
}
