using System.Net.Http;

namespace Sockeye.Client;

/// <summary>
/// Sends <see cref="HttpClient"/> through a <see cref="Socks5Client"/>: every connection the handler opens is a
/// CONNECT through the client's proxy or chain, with the request's host name sent unresolved.
/// </summary>
/// <example>
/// <code>
/// using var http = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(new Socks5Proxy("127.0.0.1", 1080))));
/// string body = await http.GetStringAsync("http://example.com/");
/// </code>
/// </example>
public static class Socks5HttpHandler
{
    /// <summary>
    /// A <see cref="SocketsHttpHandler"/> whose <see cref="SocketsHttpHandler.ConnectCallback"/> goes through
    /// <paramref name="client"/>. <see cref="SocketsHttpHandler.UseProxy"/> is off, so <c>HTTP_PROXY</c> and the like do
    /// not add a proxy of their own; set other properties (timeouts, pooling) as usual.
    /// </summary>
    /// <param name="client">The proxy or chain to go through.</param>
    /// <returns>A new handler, owned by the caller (or by the <see cref="HttpClient"/> it is given to).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is <see langword="null"/>.</exception>
    public static SocketsHttpHandler Create(Socks5Client client) =>
        new() { ConnectCallback = CreateConnectCallback(client), UseProxy = false };

    /// <summary>
    /// A <see cref="SocketsHttpHandler.ConnectCallback"/> that opens each connection through <paramref name="client"/>,
    /// for a handler configured by the caller. Failures reach the <see cref="HttpClient"/> caller as an
    /// <see cref="HttpRequestException"/> whose inner exception is the <see cref="SocksException"/>.
    /// </summary>
    /// <param name="client">The proxy or chain to go through.</param>
    /// <returns>The callback.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is <see langword="null"/>.</exception>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> CreateConnectCallback(Socks5Client client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return async (context, cancellationToken) =>
        {
            Socks5Connection connection = await client.ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return connection.Stream;
        };
    }
}
