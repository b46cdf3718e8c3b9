using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// A TCP echo server in a child process of its own, for the memory scenario: with the destinations of its tunnels
/// there, the generator holds one descriptor per tunnel instead of two, so neither process needs more than this
/// machine's 20 000. The child is this same program started with <c>echo-server</c>; it inherits the generator's CPU
/// affinity, prints its port, and exits when its standard input closes.
/// </summary>
internal sealed class EchoProcess : IDisposable
{
    public const string Command = "echo-server";

    private readonly Process _process;

    private EchoProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static async Task<EchoProcess> StartAsync()
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(EchoProcess).Assembly.Location);
        }

        start.ArgumentList.Add(Command);
        Process process = Process.Start(start) ?? throw new InvalidOperationException("the echo process did not start");
        string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (!int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int port))
        {
            process.Kill();
            process.Dispose();
            throw new InvalidOperationException($"the echo process said '{line}' instead of its port");
        }

        return new EchoProcess(process, port);
    }

    /// <summary>The child's side: echo on 127.0.0.1 until standard input closes.</summary>
    public static async Task<int> ServeAsync()
    {
        Native.RaiseFileLimit();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4096);
        Console.WriteLine(((IPEndPoint)listener.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture));
        Console.Out.Flush();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket client = await listener.AcceptAsync();
                _ = EchoAsync(client);
            }
        });

        // The parent closes our standard input when it is done (or dies): then so are we.
        await Console.In.ReadToEndAsync();
        return 0;
    }

    private static async Task EchoAsync(Socket socket)
    {
        using (socket)
        {
            byte[] buffer = new byte[256];
            try
            {
                while (true)
                {
                    int read = await socket.ReceiveAsync(buffer, SocketFlags.None);
                    if (read == 0)
                    {
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                }
            }
            catch (SocketException)
            {
                // The tunnel went away.
            }
        }
    }

    public void Dispose()
    {
        _process.StandardInput.Close();
        if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}
