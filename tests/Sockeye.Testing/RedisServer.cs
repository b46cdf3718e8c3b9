using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Testing;

/// <summary>
/// A real redis-server (Debian's, <see cref="Path"/>) on 127.0.0.1 with a free port and a directory of its own, nothing
/// saved: started by the test, stopped (SIGKILL, as a crash would) and started again on the same port when the test
/// asks, and killed on dispose.
/// </summary>
public sealed class RedisServer : IDisposable
{
    /// <summary>Where Debian's redis-server package installs it.</summary>
    public const string Path = "/usr/bin/redis-server";

    private readonly string _directory;
    private Process? _process;

    private RedisServer(int port)
    {
        Port = port;
        _directory = Directory.CreateTempSubdirectory("sockeye-redis-").FullName;
    }

    public int Port { get; }

    /// <summary>What <c>limits.shared.redis</c> names.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>Starts one, and returns once it answers PING.</summary>
    public static async Task<RedisServer> StartAsync()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var redis = new RedisServer(((IPEndPoint)probe.LocalEndPoint!).Port);
        probe.Dispose();
        try
        {
            await redis.StartAgainAsync();
            return redis;
        }
        catch
        {
            redis.Dispose();
            throw;
        }
    }

    /// <summary>Kills it with SIGKILL, as a crash would: its clients see the connection drop. Its data is gone.</summary>
    public void Kill()
    {
        if (_process is { } process)
        {
            _process = null;
            process.Kill();
            process.WaitForExit(10_000);
            process.Dispose();
        }
    }

    /// <summary>Starts it again on the same port, empty, and returns once it answers PING.</summary>
    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory, "--enable-debug-command", "local"])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        for (int attempt = 0; attempt < 200; attempt++)
        {
            if (await AnswersPingAsync())
            {
                return;
            }

            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with {process.ExitCode} on port {Port}.");
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"redis-server did not answer PING on port {Port} within 5 s.");
    }

    /// <summary>
    /// Makes it answer nothing for <paramref name="duration"/> (DEBUG SLEEP), as a Redis stalled by a slow command or a
    /// fork would: connections stay open, commands wait. Returns once the command is sent.
    /// </summary>
    public async Task StallAsync(TimeSpan duration)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, Port).WaitAsync(TimeSpan.FromSeconds(5));
        string command = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"DEBUG SLEEP {duration.TotalSeconds}\r\n");
        await socket.SendAsync(Encoding.ASCII.GetBytes(command), SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(5));

        // Closing at once could reach Redis before it reads the command.
        await Task.Delay(50);
    }

    public void Dispose()
    {
        Kill();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left behind in the temp directory: harmless.
        }
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, Port).WaitAsync(TimeSpan.FromSeconds(1));
            await socket.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(1));
            byte[] answer = new byte[7];
            int read = await socket.ReceiveAsync(answer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(1));
            return Encoding.ASCII.GetString(answer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or TimeoutException)
        {
            return false;
        }
    }
}
