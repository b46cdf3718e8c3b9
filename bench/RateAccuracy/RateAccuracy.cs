#:project ../../src/Sockeye.Server/Sockeye.Server.csproj
#:property PublishAot=false

// Measures how exactly Sockeye's bandwidth limit holds with the real clock: an in-process server with
// limits.sessionBandwidth set, one tunnel over loopback, data pushed both ways as fast as the sockets take it for 10 s,
// and the bytes that arrived at each end compared with rate × 10 s. See docs/performance-journal.md.
//
//   dotnet run bench/RateAccuracy/RateAccuracy.cs -- [seconds] [rate,...] [mode,...]
//   dotnet run bench/RateAccuracy/RateAccuracy.cs -- 10 1M,10M,100M copy,splice
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sockeye.Server;
using Sockeye.Server.Configuration;

double seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
string[] rates = (args.Length > 1 ? args[1] : "1M,10M,100M").Split(',');
string[] modes = (args.Length > 2 ? args[2] : "portable,linux").Split(',');

Console.WriteLine($"| Mode | Rate (bytes/s) | Seconds | Upload | Download | Upload / rate×t | Download / rate×t |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
foreach (string mode in modes)
{
    foreach (string rateText in rates)
    {
        long rate = ParseRate(rateText);
        (long up, long down, double elapsed) = await MeasureAsync(ParseEngine(mode), rate, TimeSpan.FromSeconds(seconds));
        double expected = rate * elapsed;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {mode} | {rate} | {elapsed:F2} | {up} | {down} | {up / expected:P2} | {down / expected:P2} |"));
    }
}

static long ParseRate(string text) => char.ToUpperInvariant(text[^1]) switch
{
    'K' => long.Parse(text[..^1], CultureInfo.InvariantCulture) << 10,
    'M' => long.Parse(text[..^1], CultureInfo.InvariantCulture) << 20,
    'G' => long.Parse(text[..^1], CultureInfo.InvariantCulture) << 30,
    _ => long.Parse(text, CultureInfo.InvariantCulture),
};

static async Task<(long Up, long Down, double Seconds)> MeasureAsync(RelayEngine mode, long rate, TimeSpan duration)
{
    var options = new SockeyeServerOptions { RelayEngine = mode, ShutdownTimeout = TimeSpan.FromSeconds(1) };
    options.Listeners.Add(new IPEndPoint(IPAddress.Loopback, 0));
    options.Limits.SessionBytesPerSecond = rate;
    await using var server = new SockeyeServer(options);
    await server.StartAsync();

    using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    listener.Listen(1);
    var targetEndPoint = (IPEndPoint)listener.LocalEndPoint!;

    using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    await client.ConnectAsync(server.LocalEndPoints[0]);
    byte[] request = [5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, (byte)(targetEndPoint.Port >> 8), (byte)targetEndPoint.Port];
    await client.SendAsync(request, SocketFlags.None);
    byte[] reply = new byte[12];
    for (int read = 0; read < reply.Length;)
    {
        read += await client.ReceiveAsync(reply.AsMemory(read), SocketFlags.None);
    }

    if (reply[1] != 0 || reply[3] != 0)
    {
        throw new InvalidOperationException($"CONNECT failed: {Convert.ToHexString(reply)}");
    }

    using Socket target = await listener.AcceptAsync();
    using var stop = new CancellationTokenSource();
    long up = 0;
    long down = 0;
    var clock = Stopwatch.StartNew();
    Task[] pumps =
    [
        PushAsync(client, stop.Token), PushAsync(target, stop.Token),
        CountAsync(target, v => Interlocked.Add(ref up, v), stop.Token), CountAsync(client, v => Interlocked.Add(ref down, v), stop.Token),
    ];
    await Task.Delay(duration);
    long upAtEnd = Interlocked.Read(ref up);
    long downAtEnd = Interlocked.Read(ref down);
    double elapsed = clock.Elapsed.TotalSeconds;
    await stop.CancelAsync();
    client.Dispose();
    target.Dispose();
    await Task.WhenAll(pumps).ContinueWith(static _ => { }, TaskScheduler.Default);
    return (upAtEnd, downAtEnd, elapsed);
}

static async Task PushAsync(Socket socket, CancellationToken cancellationToken)
{
    byte[] chunk = new byte[64 * 1024];
    while (!cancellationToken.IsCancellationRequested)
    {
        await socket.SendAsync(chunk, SocketFlags.None, cancellationToken);
    }
}

static async Task CountAsync(Socket socket, Action<long> add, CancellationToken cancellationToken)
{
    byte[] buffer = new byte[64 * 1024];
    while (true)
    {
        int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        if (read == 0)
        {
            return;
        }

        add(read);
    }
}

// The engines' names, and their older ones (relayMode: splice, copy), so that earlier command lines still run.
static RelayEngine ParseEngine(string name) => name.ToLowerInvariant() switch
{
    "splice" => RelayEngine.Linux,
    "copy" => RelayEngine.Portable,
    _ => Enum.Parse<RelayEngine>(name, ignoreCase: true),
};
