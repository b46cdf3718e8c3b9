using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Testing;

/// <summary>
/// A minimal HTTP/1.1 server on loopback (port 0) that answers every request with a fixed body, closing after each
/// response. Enough for curl and HttpClient to fetch through the proxy.
/// </summary>
public sealed class HttpTestServer : IDisposable
{
    private readonly Socket _listener;
    private readonly Task _acceptLoop;
    private readonly byte[] _response;

    public HttpTestServer(string body, IPAddress? address = null)
    {
        Body = body;
        byte[] bodyBytes = Encoding.UTF8.GetBytes(body);
        _response = [.. Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {bodyBytes.Length}\r\nConnection: close\r\n\r\n"), .. bodyBytes];
        address ??= IPAddress.Loopback;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(address, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    public string Body { get; }

    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptAsync();
                _ = ServeAsync(client);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            // Disposed: the test is over.
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                // Read until the end of the request headers, then answer.
                byte[] buffer = new byte[8192];
                int total = 0;
                while (total < buffer.Length)
                {
                    int read = await client.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None).DefaultTimeout();
                    if (read == 0)
                    {
                        return;
                    }

                    total += read;
                    if (buffer.AsSpan(0, total).IndexOf("\r\n\r\n"u8) >= 0)
                    {
                        break;
                    }
                }

                await client.SendAsync(_response, SocketFlags.None).DefaultTimeout();
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                // The client went away: nothing to answer.
            }
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _acceptLoop.Wait(TestTimeouts.Default);
    }
}
