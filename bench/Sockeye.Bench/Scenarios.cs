using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;

namespace Sockeye.Bench;

/// <summary>The measurements. Each returns plain numbers; the proxy's CPU is read from /proc around the run.</summary>
internal static class Scenarios
{
    /// <summary>Bytes per second over <paramref name="streams"/> parallel tunnels, and the proxy's CPU seconds per GiB.</summary>
    public static async Task<(double BytesPerSecond, double CpuPerGiB)> ThroughputAsync(ProxyUnderTest proxy, Targets targets, bool upload, int streams, long bytesPerStream)
    {
        targets.SourceBytes = bytesPerStream;
        var sockets = new Socket[streams];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        for (int i = 0; i < streams; i++)
        {
            sockets[i] = await Socks5Dialer.OpenAsync(proxy, "127.0.0.1", upload ? targets.SinkPort : targets.SourcePort, withUser: false, timeout.Token);
        }

        double cpuBefore = proxy.CpuSeconds();
        var clock = Stopwatch.StartNew();
        var work = new Task<long>[streams];
        for (int i = 0; i < streams; i++)
        {
            Socket socket = sockets[i];
            work[i] = upload ? BlockingTransfer.UploadAsync(socket, bytesPerStream) : BlockingTransfer.DownloadAsync(socket);
        }

        long[] moved = await Task.WhenAll(work).WaitAsync(TimeSpan.FromMinutes(5));
        double seconds = clock.Elapsed.TotalSeconds;
        double cpu = proxy.CpuSeconds() - cpuBefore;
        foreach (Socket socket in sockets)
        {
            socket.Dispose();
        }

        long total = moved.Sum();
        if (total != bytesPerStream * streams)
        {
            throw new InvalidDataException($"{proxy.Name}: {total} bytes arrived instead of {bytesPerStream * streams}");
        }

        return (total / seconds, cpu / (total / (double)(1L << 30)));
    }

    /// <summary>
    /// Tunnels per second with <paramref name="workers"/> loops of connect, handshake, 64-byte round trip, close, after
    /// <see cref="TunnelWarmUp"/> of the same loop that is not timed (its errors still count), and the proxy's CPU per
    /// 10 000 of them: all of it, and the part spent in user space.
    /// </summary>
    public static async Task<(double PerSecond, long Errors, double CpuPer10k, double UserCpuPer10k)> TunnelRateAsync(
        ProxyUnderTest proxy, Targets targets, int workers, bool byName, bool withUser, TimeSpan duration)
    {
        // The figure is a steady state: the first second of each phase (its workers ramping up, a first lookup of the
        // name) is not timed. A JIT-compiled server needs much longer than that once, in WarmUpJitAsync.
        (long warmUpErrors, _) = await RunTunnelLoopsAsync(proxy, targets, workers, byName, withUser, TunnelWarmUp);
        (double cpuBefore, double userBefore) = proxy.CpuTimes();
        var clock = Stopwatch.StartNew();
        (long errors, long done) = await RunTunnelLoopsAsync(proxy, targets, workers, byName, withUser, duration);
        double seconds = clock.Elapsed.TotalSeconds;
        (double cpuAfter, double userAfter) = proxy.CpuTimes();
        double cpu = cpuAfter - cpuBefore;
        double user = userAfter - userBefore;
        return done == 0
            ? (0, warmUpErrors + errors, 0, 0)
            : (done / seconds, warmUpErrors + errors, cpu / done * 10_000, user / done * 10_000);
    }

    /// <summary>How long each tunnel-rate measurement first runs its loop untimed.</summary>
    public static readonly TimeSpan TunnelWarmUp = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Loads a fresh JIT-compiled server for <paramref name="duration"/> (at least one round) with rounds of what the
    /// figures measure: 16 tunnel loops by address and by name, and unless <paramref name="tunnelsOnly"/> a bulk stream
    /// each way and UDP round trips of both sizes. Returns the failures (tunnels that failed, datagrams lost, a transfer
    /// that failed).
    /// </summary>
    /// <remarks>
    /// The tiered JIT optimises a method only after it has run unoptimised, and then instrumented, code for a while:
    /// profiled on one pinned core, the hot path was still in those tiers 8 s after start and fully optimised at 20 s,
    /// and the tunnel rates of the first seconds were a quarter to a third below the steady state. Rounds rather than
    /// one scenario after another, so that every path has the whole window to be promoted.
    /// </remarks>
    public static async Task<long> WarmUpJitAsync(ProxyUnderTest proxy, Targets targets, bool tunnelsOnly, TimeSpan duration)
    {
        long failures = 0;
        var clock = Stopwatch.StartNew();
        do
        {
            failures += (await RunTunnelLoopsAsync(proxy, targets, 16, byName: false, proxy.SupportsUser, TimeSpan.FromSeconds(2))).Errors;
            failures += (await RunTunnelLoopsAsync(proxy, targets, 16, byName: true, proxy.SupportsUser, TimeSpan.FromSeconds(0.5))).Errors;
            if (tunnelsOnly)
            {
                continue;
            }

            foreach (bool upload in (bool[])[true, false])
            {
                try
                {
                    await ThroughputAsync(proxy, targets, upload, 1, 64L << 20);
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                {
                    failures++;
                }
            }

            if (proxy.SupportsUdp)
            {
                foreach (int payload in (int[])[64, 1200])
                {
                    try
                    {
                        failures += (await UdpAsync(proxy, payload, 5_000)).Lost;
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                    {
                        failures++;
                    }
                }
            }
        }
        while (clock.Elapsed < duration);

        return failures;
    }

    /// <summary>
    /// 16 tunnel loops by IPv4 (those of <see cref="TunnelRateAsync"/>, with nothing untimed) for
    /// <paramref name="seconds"/> seconds from now: the tunnels completed in each second, and the errors.
    /// </summary>
    public static async Task<(long[] CompletedPerSecond, long Errors)> TunnelsPerSecondAsync(ProxyUnderTest proxy, Targets targets, int seconds)
    {
        long[] completed = new long[seconds];
        (long errors, _) = await RunTunnelLoopsAsync(proxy, targets, 16, byName: false, withUser: false, TimeSpan.FromSeconds(seconds), completed);
        return (completed, errors);
    }

    /// <summary>
    /// Runs <paramref name="workers"/> tunnel loops for <paramref name="duration"/>; with
    /// <paramref name="completedPerSecond"/>, also counts each completed tunnel in the second it completed in (those
    /// completing after the last second are not counted there).
    /// </summary>
    private static async Task<(long Errors, long Done)> RunTunnelLoopsAsync(
        ProxyUnderTest proxy, Targets targets, int workers, bool byName, bool withUser, TimeSpan duration, long[]? completedPerSecond = null)
    {
        long done = 0;
        long errors = 0;
        string host = byName ? "localhost" : "127.0.0.1";
        var clock = Stopwatch.StartNew();
        var loops = new Task[workers];
        for (int w = 0; w < workers; w++)
        {
            loops[w] = Task.Run(async () =>
            {
                byte[] message = new byte[64];
                byte[] answer = new byte[64];
                while (clock.Elapsed < duration)
                {
                    // A tunnel that takes more than 5 s is an error, not a hang of the whole benchmark.
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    try
                    {
                        using Socket socket = await Socks5Dialer.OpenAsync(proxy, host, targets.AnswerOncePort, withUser, timeout.Token);
                        await socket.SendAsync(message, SocketFlags.None, timeout.Token);
                        for (int got = 0; got < answer.Length;)
                        {
                            int read = await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, timeout.Token);
                            got += read > 0 ? read : throw new IOException("closed early");
                        }

                        // The destination closes first (see Targets.AnswerOncePort); its FIN comes through the tunnel.
                        if (await socket.ReceiveAsync(answer, SocketFlags.None, timeout.Token) != 0)
                        {
                            throw new IOException("more than the echo came back");
                        }

                        Interlocked.Increment(ref done);
                        if (completedPerSecond is not null && (int)clock.Elapsed.TotalSeconds is int second && second < completedPerSecond.Length)
                        {
                            Interlocked.Increment(ref completedPerSecond[second]);
                        }
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            });
        }

        await Task.WhenAll(loops);
        return (errors, done);
    }

    /// <summary>
    /// p50 and p99 of a 64-byte ping-pong on one tunnel, in microseconds, and the proxy's CPU time over the timed round
    /// trips as a percentage of their wall time (one core is 100): what a lone interactive tunnel costs the proxy.
    /// </summary>
    public static async Task<(double P50, double P99, double CpuPercent)> LatencyAsync(ProxyUnderTest proxy, Targets targets, int iterations)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using Socket socket = await Socks5Dialer.OpenAsync(proxy, "127.0.0.1", targets.EchoPort, withUser: false, timeout.Token);
        byte[] message = new byte[64];
        byte[] answer = new byte[64];
        var samples = new double[iterations];
        double cpuBefore = 0;
        long timedStart = 0;
        for (int i = -iterations / 10; i < iterations; i++)
        {
            if (i == 0)
            {
                cpuBefore = proxy.CpuSeconds();
                timedStart = Stopwatch.GetTimestamp();
            }

            long start = Stopwatch.GetTimestamp();
            await socket.SendAsync(message, SocketFlags.None, timeout.Token);
            for (int got = 0; got < answer.Length;)
            {
                int read = await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, timeout.Token);
                got += read > 0 ? read : throw new IOException("closed early");
            }

            if (i >= 0)
            {
                samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }

        double cpuPercent = 100 * (proxy.CpuSeconds() - cpuBefore) / Stopwatch.GetElapsedTime(timedStart).TotalSeconds;
        Array.Sort(samples);
        return (samples[iterations / 2], samples[(int)(iterations * 0.99)], cpuPercent);
    }

    /// <summary>
    /// The proxy's resident memory per open, idle tunnel, with <paramref name="count"/> tunnels open to an echo server
    /// in a process of its own (<see cref="EchoProcess"/>).
    /// </summary>
    public static async Task<double> MemoryPerTunnelAsync(ProxyUnderTest proxy, int count)
    {
        using EchoProcess echo = await EchoProcess.StartAsync();
        var sockets = new List<Socket>(count);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        byte[] message = new byte[64];
        byte[] answer = new byte[64];

        // A fresh proxy: warm it with a few tunnels (code, pools, threads), close them, settle, then take the baseline.
        for (int i = 0; i < 100; i++)
        {
            using Socket warm = await Socks5Dialer.OpenAsync(proxy, "127.0.0.1", echo.Port, withUser: false, timeout.Token);
            await warm.SendAsync(message, SocketFlags.None, timeout.Token);
            for (int got = 0; got < answer.Length;)
            {
                int read = await warm.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, timeout.Token);
                got += read > 0 ? read : throw new IOException($"{proxy.Name} closed a warm-up tunnel early");
            }
        }

        await Task.Delay(1000);
        long before = proxy.ResidentBytes();
        try
        {
            for (int i = 0; i < count; i++)
            {
                Socket socket = await Socks5Dialer.OpenAsync(proxy, "127.0.0.1", echo.Port, withUser: false, timeout.Token);
                sockets.Add(socket);
                await socket.SendAsync(message, SocketFlags.None, timeout.Token);
                for (int got = 0; got < answer.Length;)
                {
                    int read = await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, timeout.Token);
                    got += read > 0 ? read : throw new IOException($"{proxy.Name} closed tunnel {i} early");
                }
            }

            await Task.Delay(2000);
            return (proxy.ResidentBytes() - before) / (double)count;
        }
        finally
        {
            foreach (Socket socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// Datagrams per second (round trips) and datagrams lost, with <see cref="UdpRoundTrips.Window"/> outstanding, through
    /// UDP ASSOCIATE (or straight to the echo for the direct column): <see cref="UdpRoundTrips"/> says how.
    /// </summary>
    public static async Task<(double PerSecond, long Lost)> UdpAsync(ProxyUnderTest proxy, int payload, int count)
    {
        using Socket client = UdpRoundTrips.Bind();
        using Socket echo = UdpRoundTrips.Bind();
        var echoEndPoint = (IPEndPoint)echo.LocalEndPoint!;
        Socket? control = null;
        byte[] datagram;
        if (proxy.IsDirect)
        {
            client.Connect(echoEndPoint);
            datagram = new byte[payload];
        }
        else
        {
            (control, IPEndPoint relay) = await AssociateAsync(proxy, (ushort)((IPEndPoint)client.LocalEndPoint!).Port);
            client.Connect(relay);
            Socks5Address echoAddress = Socks5Address.FromIPAddress(echoEndPoint.Address);
            datagram = new byte[Socks5UdpHeader.GetLength(echoAddress) + payload];
            Socks5UdpHeader.Write(datagram, 0, echoAddress, (ushort)echoEndPoint.Port);
        }

        using (control)
        {
            return await new UdpRoundTrips(client, echo, datagram, count).RunAsync();
        }
    }

    private static async Task<(Socket Control, IPEndPoint Relay)> AssociateAsync(ProxyUnderTest proxy, ushort clientPort)
    {
        var control = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await control.ConnectAsync(proxy.EndPoint!);
        byte[] request = new byte[3 + Socks5Request.MaxLength];
        int length = Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication]).Write(request);
        length += new Socks5Request(Socks5Command.UdpAssociate, Socks5Address.FromIPAddress(IPAddress.Loopback), clientPort).Write(request.AsSpan(length));
        await control.SendAsync(request.AsMemory(0, length), SocketFlags.None);
        byte[] reply = new byte[2 + 10];
        for (int got = 0; got < reply.Length;)
        {
            int read = await control.ReceiveAsync(reply.AsMemory(got), SocketFlags.None);
            got += read > 0 ? read : throw new IOException($"{proxy.Name} closed the UDP ASSOCIATE request");
        }

        var reader = new System.Buffers.SequenceReader<byte>(new System.Buffers.ReadOnlySequence<byte>(reply, 2, reply.Length - 2));
        if (reply[1] != 0 || !Socks5Reply.TryParse(ref reader, out Socks5Reply parsed, out _) || parsed.ReplyCode != Socks5ReplyCode.Succeeded)
        {
            throw new IOException($"{proxy.Name} answered UDP ASSOCIATE with {Convert.ToHexString(reply)}");
        }

        // Some servers announce 0.0.0.0, meaning "the address you reached me on".
        IPAddress address = parsed.Bound.ToIPAddress();
        if (address.Equals(IPAddress.Any))
        {
            address = IPAddress.Loopback;
        }

        return (control, new IPEndPoint(address, parsed.Port));
    }
}
