using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>
/// A third-party SOCKS5 server (Dante, microsocks) run as a child process on 127.0.0.1 at a port chosen here, and
/// killed, with every process it forked, on dispose. Its output is kept for assertion messages.
/// </summary>
internal sealed class ExternalServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string? _directory;

    private ExternalServer(Process process, int port, string? directory)
    {
        _process = process;
        Port = port;
        _directory = directory;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
    }

    public int Port { get; }

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>A port nobody listens on now: bound to 0 to let the OS choose, then released for the server to take.</summary>
    public static int ChooseFreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Starts the server and returns once its port accepts connections.</summary>
    /// <param name="fileName">The executable.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="port">The port the arguments make it listen on.</param>
    /// <param name="directory">A temporary directory the server uses, deleted on dispose.</param>
    public static async Task<ExternalServer> StartAsync(string fileName, IEnumerable<string> arguments, int port, string? directory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var server = new ExternalServer(process, port, directory);
        try
        {
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await server.WaitUntilListeningAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Neither server signals readiness (microsocks prints nothing; Dante's "running" line comes from the mother, which
    /// may precede its listener by a moment), so this probes the port. The loop is bounded in attempts and time, and
    /// stops at once if the process exits.
    /// </summary>
    private async Task WaitUntilListeningAsync()
    {
        var clock = Stopwatch.StartNew();
        for (int attempt = 0; attempt < 500 && clock.Elapsed < TestTimeouts.Default; attempt++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{_process.StartInfo.FileName} exited with code {_process.ExitCode} before listening:\n{Output}");
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(EndPoint).DefaultTimeout();
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Not listening yet. A refused connect returns at once, so without a pause this loop would spin; the
                // pause is a back-off between probes, not a guess at how long start-up takes.
                await Task.Delay(TimeSpan.FromMilliseconds(10));
            }
        }

        throw new TimeoutException($"{_process.StartInfo.FileName} did not listen on {EndPoint}:\n{Output}");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // Dante forks workers: the whole tree goes, or a worker would keep the port.
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().DefaultTimeout();
        }
        catch (InvalidOperationException)
        {
            // Ignored: the process never started, so there is nothing to stop.
        }
        finally
        {
            _process.Dispose();
            if (_directory is not null)
            {
                Directory.Delete(_directory, recursive: true);
            }
        }
    }
}
