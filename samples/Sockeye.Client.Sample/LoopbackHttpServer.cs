using System.Net;
using System.Net.Sockets;
using System.Text;

/// <summary>Answers every HTTP request on 127.0.0.1 with one fixed body, so the sample needs no outside server.</summary>
internal sealed class LoopbackHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Task _loop;

    public LoopbackHttpServer(string body)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = ServeAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}"));
    }

    public int Port { get; }

    private async Task ServeAsync(byte[] response)
    {
        try
        {
            while (true)
            {
                using TcpClient connection = await _listener.AcceptTcpClientAsync();
                NetworkStream stream = connection.GetStream();
                byte[] request = new byte[8192];
                int length = 0;
                while (length < request.Length && !request.AsSpan(0, length).EndsWith("\r\n\r\n"u8))
                {
                    int read = await stream.ReadAsync(request.AsMemory(length));
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                }

                await stream.WriteAsync(response);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException or IOException)
        {
            // Stopped: the sample is over.
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
