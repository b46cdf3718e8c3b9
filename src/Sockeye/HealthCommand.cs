using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using Sockeye.Configuration;

namespace Sockeye;

/// <summary>
/// <c>sockeye health [URL]</c>: asks the admin endpoint whether the server is alive, for a container's HEALTHCHECK or a
/// probe in an image that has no curl and no shell. Exits with 0 on a 2xx answer and 1 on anything else, with one plain
/// line that says what went wrong.
/// </summary>
/// <remarks>
/// Every failure is exit code 1, a bad URL or timeout included, never 2 as the other commands use for a bad command line:
/// Docker reserves a health check's exit code 2, and a probe knows only healthy or not.
/// </remarks>
internal static class HealthCommand
{
    /// <summary>Where the admin endpoint answers when it listens on its usual port on loopback.</summary>
    public const string DefaultUrl = "http://127.0.0.1:9180/healthz";

    /// <summary>How long the whole check may take when <c>--timeout</c> is not given.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The most of a failed answer's body the line quotes: <c>/readyz</c> says why in a few words.</summary>
    private const int MaxReasonLength = 200;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var url = new Argument<string>("URL")
        {
            Description = "The URL to GET; /readyz answers 503 while the server drains.",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => DefaultUrl,
        };
        var timeout = new Option<string>("--timeout")
        {
            Description = "How long to wait for the whole answer. Default: 3s.",
            HelpName = "DURATION",
        };
        var command = new Command("health", "Exit 0 when the admin endpoint answers 2xx, 1 otherwise (for a container's HEALTHCHECK).") { url, timeout };
        command.SetAction((parseResult, cancellationToken) =>
            RunAsync(parseResult.GetValue(url) ?? DefaultUrl, parseResult.GetValue(timeout), output, error, cancellationToken));
        return command;
    }

    /// <summary>GETs <paramref name="url"/> and tells whether it answered 2xx within <paramref name="timeoutText"/> (default 3 s).</summary>
    public static async Task<int> RunAsync(string url, string? timeoutText, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        TimeSpan timeout = DefaultTimeout;
        if (timeoutText is not null && (!DurationParser.TryParse(timeoutText, out timeout) || timeout <= TimeSpan.Zero))
        {
            return await FailAsync(error, $"--timeout: '{timeoutText}' is not a duration above zero, such as 3s or 500ms.").ConfigureAwait(false);
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return await FailAsync(error, $"'{url}' is not an http:// or https:// URL.").ConfigureAwait(false);
        }

        using var handler = new SocketsHttpHandler
        {
            // The check is of this server, wherever HTTP_PROXY points; and a redirect is not an answer of health.
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectTimeout = timeout,
        };
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using HttpResponseMessage response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            string status = $"{(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
            if (response.IsSuccessStatusCode)
            {
                await output.WriteLineAsync($"{uri}: {status}").ConfigureAwait(false);
                return 0;
            }

            string reason = await ReadReasonAsync(response.Content, deadline.Token).ConfigureAwait(false);
            return await FailAsync(error, $"{uri} answered {status}{(reason.Length == 0 ? "" : ": " + reason)}").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return await FailAsync(error, $"{uri}: no answer within {timeoutText ?? "3s"}.").ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            // "Connection refused (127.0.0.1:9180)", "Name or service not known (…)": the message is the whole story.
            return await FailAsync(error, $"{uri}: {OneLine(e.Message)}").ConfigureAwait(false);
        }
    }

    /// <summary>The first line of a plain-text body, such as <c>/readyz</c>'s "not ready: draining"; empty for anything else.</summary>
    private static async Task<string> ReadReasonAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentType is not MediaTypeHeaderValue { MediaType: "text/plain" })
        {
            return "";
        }

        try
        {
            // Read no more than the line can quote, whatever the server sends.
            using Stream body = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new char[MaxReasonLength];
            using var reader = new StreamReader(body);
            int length = await reader.ReadBlockAsync(buffer, cancellationToken).ConfigureAwait(false);
            return OneLine(new string(buffer, 0, length).Split('\n')[0]);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The status line already tells the failure; the body was only a detail.
            return "";
        }
    }

    /// <summary>Keeps a server's or the runtime's words to one line of printable text.</summary>
    private static string OneLine(string text)
    {
        var line = new System.Text.StringBuilder(text.Length);
        foreach (char c in text.Trim())
        {
            line.Append(char.IsControl(c) ? ' ' : c);
        }

        return line.ToString();
    }

    private static async Task<int> FailAsync(TextWriter error, string message)
    {
        await error.WriteLineAsync($"sockeye health: {message}").ConfigureAwait(false);
        return SockeyeCommandLine.ExitFailure;
    }
}
