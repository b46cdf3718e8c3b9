using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Sockeye.Testing.Origins;

/// <summary>
/// Git's smart HTTP protocol, served by Debian's <c>git http-backend</c> run as a CGI program (RFC 3875) for each
/// request under <c>/git/</c>: the request body streamed to its standard input, its header lines turned into the
/// response's status and headers, the rest of its output streamed back. Killed when it runs over
/// <see cref="GitCommand.Limit"/>, when the client goes away, or when the origin stops.
/// </summary>
internal sealed class GitHttpBackend(string projectRoot, string home)
{
    // CGI header lines come before the body; git's are a few short lines.
    private const int MaxHeaderBytes = 16 * 1024;

    private readonly Lock _lock = new();
    private readonly HashSet<Process> _running = [];

    public async Task HandleAsync(HttpContext context)
    {
        ProcessStartInfo start = GitCommand.StartInfo(home, projectRoot, ["http-backend"]);
        SetCgiEnvironment(start, context);

        using Process process = Process.Start(start)!;
        lock (_lock)
        {
            _running.Add(process);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(GitCommand.Limit);
        try
        {
            using CancellationTokenRegistration kill = deadline.Token.Register(static p => Kill((Process)p!), process);
            Task<string> errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
            Task input = CopyRequestBodyAsync(context.Request.Body, process.StandardInput.BaseStream, deadline.Token);
            await RelayResponseAsync(process.StandardOutput.BaseStream, context, errors, deadline.Token);
            await input;
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            if (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
            {
                context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            }
            else
            {
                // Part of the answer is out: only a broken connection tells the client it is not all of it.
                context.Abort();
            }
        }
        finally
        {
            lock (_lock)
            {
                _running.Remove(process);
            }

            Kill(process);
        }
    }

    /// <summary>Kills every git http-backend still running: the origin is stopping.</summary>
    public void KillAll()
    {
        Process[] running;
        lock (_lock)
        {
            running = [.. _running];
        }

        foreach (Process process in running)
        {
            Kill(process);
        }
    }

    /// <summary>RFC 3875 §4.1's meta-variables git http-backend reads, and the request headers it cares about.</summary>
    private void SetCgiEnvironment(ProcessStartInfo start, HttpContext context)
    {
        HttpRequest request = context.Request;
        start.Environment["GIT_PROJECT_ROOT"] = projectRoot;
        start.Environment["GIT_HTTP_EXPORT_ALL"] = "1";
        start.Environment["GATEWAY_INTERFACE"] = "CGI/1.1";
        start.Environment["SERVER_SOFTWARE"] = "Sockeye.Testing.OriginServer";
        start.Environment["SERVER_PROTOCOL"] = request.Protocol;
        start.Environment["REQUEST_METHOD"] = request.Method;
        start.Environment["PATH_INFO"] = request.Path.Value!["/git".Length..];
        start.Environment["QUERY_STRING"] = request.QueryString.HasValue ? request.QueryString.Value![1..] : "";
        start.Environment["REMOTE_ADDR"] = context.Connection.RemoteIpAddress?.ToString() ?? "";
        if (request.ContentType is { } contentType)
        {
            start.Environment["CONTENT_TYPE"] = contentType;
        }

        // Without CONTENT_LENGTH (a chunked request body) git http-backend reads to the end of its input.
        if (request.ContentLength is long length)
        {
            start.Environment["CONTENT_LENGTH"] = length.ToString(CultureInfo.InvariantCulture);
        }

        // Git-Protocol selects protocol v2; Content-Encoding is gzip when git compressed a large request.
        foreach ((string header, string variable) in (ReadOnlySpan<(string, string)>)[("Git-Protocol", "HTTP_GIT_PROTOCOL"), ("Content-Encoding", "HTTP_CONTENT_ENCODING")])
        {
            if (request.Headers.TryGetValue(header, out Microsoft.Extensions.Primitives.StringValues value))
            {
                start.Environment[variable] = value.ToString();
            }
        }
    }

    private static async Task CopyRequestBodyAsync(Stream body, Stream input, CancellationToken cancellationToken)
    {
        try
        {
            await body.CopyToAsync(input, cancellationToken);
        }
        catch (IOException)
        {
            // Ignored: git http-backend stopped reading (it refused the request); its own answer says why.
        }
        finally
        {
            try
            {
                await input.DisposeAsync();
            }
            catch (IOException)
            {
                // Ignored: as above, a broken pipe to a program that has already answered.
            }
        }
    }

    private static async Task RelayResponseAsync(Stream output, HttpContext context, Task<string> errors, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[MaxHeaderBytes];
        int filled = 0;
        int bodyStart;
        while ((bodyStart = HeaderEnd(buffer.AsSpan(0, filled))) < 0)
        {
            int read = filled < buffer.Length ? await output.ReadAsync(buffer.AsMemory(filled), cancellationToken) : 0;
            if (read == 0)
            {
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
                await context.Response.WriteAsync($"git http-backend gave no CGI header: {await errors}", cancellationToken);
                return;
            }

            filled += read;
        }

        HttpResponse response = context.Response;
        foreach (string line in Encoding.ASCII.GetString(buffer, 0, bodyStart).Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
            {
                // RFC 3875 §6.3.3: "Status: 404 Not Found".
                response.StatusCode = int.Parse(value.AsSpan(0, 3), CultureInfo.InvariantCulture);
            }
            else
            {
                response.Headers.Append(name, value);
            }
        }

        await response.Body.WriteAsync(buffer.AsMemory(bodyStart, filled - bodyStart), cancellationToken);
        await output.CopyToAsync(response.Body, cancellationToken);
    }

    /// <summary>Where the body starts: after the first blank line (CRLF or LF line ends), or -1 before it arrived.</summary>
    private static int HeaderEnd(ReadOnlySpan<byte> data)
    {
        int crlf = data.IndexOf("\r\n\r\n"u8);
        int lf = data.IndexOf("\n\n"u8);
        return (crlf, lf) switch
        {
            ( < 0, < 0) => -1,
            ( >= 0, < 0) => crlf + 4,
            ( < 0, >= 0) => lf + 2,
            _ => Math.Min(crlf + 4, lf + 2),
        };
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Ignored: it exited meanwhile, or was never started.
        }
    }
}
