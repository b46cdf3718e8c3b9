using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Tests.TestSupport;

/// <summary>
/// Just enough of an OTLP/HTTP collector on loopback: takes each POST (HTTP/1.1, keep-alive), keeps its path, content
/// type and body, and answers 200 with an empty body.
/// </summary>
internal sealed class FakeOtlpCollector : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public FakeOtlpCollector()
    {
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public ConcurrentQueue<Export> Exports { get; } = new();

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                NetworkStream stream = client.GetStream();
                for (int request = 0; request < 1000; request++)
                {
                    string? head = await ReadHeadAsync(stream);
                    if (head is null)
                    {
                        return;
                    }

                    string[] lines = head.Split("\r\n");
                    string path = lines[0].Split(' ')[1];
                    int length = 0;
                    string? contentType = null;
                    foreach (string line in lines.Skip(1))
                    {
                        int colon = line.IndexOf(':', StringComparison.Ordinal);
                        if (colon <= 0)
                        {
                            continue;
                        }

                        string name = line[..colon].Trim();
                        string value = line[(colon + 1)..].Trim();
                        if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                        {
                            length = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        }
                        else if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                        {
                            contentType = value;
                        }
                    }

                    byte[] body = new byte[length];
                    await stream.ReadExactlyAsync(body, _stop.Token);
                    Exports.Enqueue(new Export(path, contentType, body));
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"u8.ToArray(), _stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException or EndOfStreamException)
            {
                // The exporter closed its connection, or the test is over.
            }
        }
    }

    /// <summary>The request line and headers, up to the blank line; null when the connection ends first.</summary>
    private async Task<string?> ReadHeadAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        byte[] one = new byte[1];
        while (head.Count < 64 * 1024)
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0)
            {
                return null;
            }

            head.Add(one[0]);
            if (head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n')
            {
                return Encoding.ASCII.GetString([.. head], 0, head.Count - 4);
            }
        }

        return null;
    }

    /// <summary>One POST as it arrived.</summary>
    public sealed record Export(string Path, string? ContentType, byte[] Body)
    {
        /// <summary>Whether the protobuf body holds <paramref name="text"/> as a string field (strings are plain UTF-8 in protobuf).</summary>
        public bool Contains(string text) => Body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
    }
}
