// Sockeye.Client by example. Usage:
//
//   dotnet run --project samples/Sockeye.Client.Sample -- PROXY[,PROXY...] [URL]
//
// PROXY is a URI such as socks5h://127.0.0.1:1080 or socks5h://alice:secret@127.0.0.1:1081; several, separated by
// commas, make a chain. The sample fetches URL through the proxies with HttpClient (without a URL, it fetches from a
// tiny HTTP server it starts on loopback), then sends a datagram to a UDP echo it starts on loopback, through the last
// proxy's UDP relay, and prints what comes back and from where.
using System.Text;
using Sockeye.Client;

if (args.Length is 0 or > 2)
{
    Console.Error.WriteLine("usage: Sockeye.Client.Sample PROXY[,PROXY...] [URL]   e.g. socks5h://127.0.0.1:1080 http://example.com/");
    return 2;
}

Socks5Proxy[] proxies = [.. args[0].Split(',').Select(uri => Socks5Proxy.FromUri(new Uri(uri)))];
var client = new Socks5Client(proxies) { ConnectTimeout = TimeSpan.FromSeconds(10) };
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

try
{
    // 1. HttpClient through the proxies: every connection the handler opens is a CONNECT through the chain.
    using var http = new HttpClient(Socks5HttpHandler.Create(client));
    using LoopbackHttpServer? local = args.Length == 2 ? null : new LoopbackHttpServer("Hello from behind the proxy.\n");
    var url = new Uri(args.Length == 2 ? args[1] : $"http://127.0.0.1:{local!.Port}/");
    using HttpResponseMessage response = await http.GetAsync(url, timeout.Token);
    string body = await response.Content.ReadAsStringAsync(timeout.Token);
    Console.WriteLine($"GET {url} via {string.Join(" -> ", client.Proxies)}: {(int)response.StatusCode}, {body.Length} characters");
    Console.WriteLine(body.Length > 200 ? body[..200] + "..." : body);

    // 2. A UDP round trip: associate, send a datagram to the echo, read the answer and its source.
    using var echo = new LoopbackUdpEcho();
    await using Socks5UdpClient udp = await client.UdpAssociateAsync(timeout.Token);
    await udp.SendToAsync("ping"u8.ToArray(), echo.EndPoint, timeout.Token);
    byte[] buffer = new byte[1500];
    Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer, timeout.Token);
    Console.WriteLine($"UDP via relay {udp.RelayEndPoint}: '{Encoding.UTF8.GetString(buffer, 0, result.ReceivedBytes)}' from {result.Source.ToString((ushort)result.SourcePort)}");
    return 0;
}
catch (SocksException e)
{
    // One exception type for every SOCKS failure: switch on Error, read ReplyCode when the proxy answered with one.
    Console.Error.WriteLine($"{e.Error}{(e.ReplyCode is { } code ? $" ({code})" : "")}: {e.Message}");
    return 1;
}
catch (HttpRequestException e) when (e.InnerException is SocksException socks)
{
    Console.Error.WriteLine($"HTTP through the proxy failed: {socks.Error}: {socks.Message}");
    return 1;
}
