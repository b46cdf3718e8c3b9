using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// The fixed-load scenario (issue 24): the proxy's CPU while it is offered a set amount of work, the same for every
/// server, rather than as much as it can take. 64-byte ping-pongs over one tunnel at 1 000 and 10 000 a second, and
/// tunnels (open, one 64-byte round trip, close) at 500 a second.
/// </summary>
/// <remarks>
/// An unpaced ping-pong measures a server that polls for events as busy for the whole run whatever work it does; at
/// a fixed rate a server that sleeps between events pays only for the events, and one that polls pays for the gaps.
/// <para>
/// The load is an open-loop schedule on a thread of its own: slot <c>k</c> is due at <c>start + k × interval</c>, and
/// the thread waits for that instant by sleeping, yielding and then spinning on <see cref="Stopwatch"/> timestamps (a
/// timer's or <c>Task.Delay</c>'s granularity, a millisecond or more, is coarser than the 100 µs between slots at
/// 10 000/s).
/// One operation is in flight at a time. When one ends after the next slot's time, the next goes at once; slots whose
/// time passed entirely while it ran are missed, counted, and not made up with a burst, so the achieved rate says
/// whether a server kept up.
/// </para>
/// </remarks>
internal static class FixedLoad
{
    /// <summary>The untimed first part of every run: the schedule settles, caches and the first tunnels' costs are paid.</summary>
    public static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1);

    /// <summary>The most one operation may take before it counts as an error (a tunnel) or fails the run (the ping-pong).</summary>
    public static readonly TimeSpan OperationLimit = TimeSpan.FromSeconds(5);

    /// <summary>Below this share of the offered rate a server did not keep up, and its CPU figure is for less work.</summary>
    public const double KeptUpShare = 0.95;

    private static readonly (double PerSecond, string Label)[] PingPongRates = [(1_000, "1 000"), (10_000, "10 000")];
    private const double TunnelRate = 500;
    private const string TunnelLabel = "500";

    /// <summary>
    /// Measures every figure of the scenario on <paramref name="proxy"/> and passes each to <paramref name="record"/>
    /// (figure, unit, subject, value, higher is better). Direct gets only the achieved rates: the generator's own limit.
    /// </summary>
    public static async Task MeasureAsync(ProxyUnderTest proxy, Targets targets, TimeSpan duration, Action<string, string, string, double, bool> record)
    {
        foreach ((double perSecond, string label) in PingPongRates)
        {
            Result result = await PingPongAsync(proxy, targets, perSecond, WarmUp, duration);
            Report(proxy, result, $"{label} ping-pongs/s", "ping-pongs/s", record);
        }

        Result tunnels = await TunnelsAsync(proxy, targets, TunnelRate, WarmUp, duration);
        Report(proxy, tunnels, $"{TunnelLabel} tunnels/s", "tunnels/s", record);
        record($"Errors at {TunnelLabel} tunnels/s", "errors", proxy.Name, tunnels.WarmUpErrors + tunnels.Errors, false);
    }

    /// <summary>
    /// 64-byte round trips over one tunnel to the echo target, one due every 1/<paramref name="perSecond"/> s: first
    /// for <paramref name="warmUp"/> untimed, then for <paramref name="duration"/> with the proxy's CPU read around it.
    /// </summary>
    public static async Task<Result> PingPongAsync(ProxyUnderTest proxy, Targets targets, double perSecond, TimeSpan warmUp, TimeSpan duration)
    {
        using var timeout = new CancellationTokenSource(OperationLimit);
        using Socket socket = await Socks5Dialer.OpenAsync(proxy, "127.0.0.1", targets.EchoPort, withUser: false, timeout.Token);
        SetBlockingTimeouts(socket, OperationLimit);
        nint descriptor = BlockingTransfer.MakeBlocking(socket);
        byte[] message = new byte[64];
        byte[] answer = new byte[64];

        // A failed round trip throws: on its only tunnel, the run cannot go on.
        bool RoundTrip()
        {
            BlockingTransfer.SendExactly(descriptor, message);
            BlockingTransfer.ReceiveExactly(descriptor, answer);
            return true;
        }

        return await BlockingTransfer.RunAsync("bench fixed-load ping-pong", () => Run(proxy, perSecond, warmUp, duration, RoundTrip));
    }

    /// <summary>
    /// Tunnels to the answer-once target (connect, greeting, CONNECT, one 64-byte round trip, the target's close), one
    /// due every 1/<paramref name="perSecond"/> s, untimed for <paramref name="warmUp"/> and then timed. The target
    /// closes first, so the TIME_WAIT lands on its listening port (<see cref="Targets.AnswerOncePort"/>). A tunnel that
    /// fails or takes over <see cref="OperationLimit"/> is an error.
    /// </summary>
    public static Task<Result> TunnelsAsync(ProxyUnderTest proxy, Targets targets, double perSecond, TimeSpan warmUp, TimeSpan duration)
    {
        byte[] message = new byte[64];
        byte[] answer = new byte[64];

        bool Tunnel()
        {
            try
            {
                OneTunnelAsync(proxy, targets.AnswerOncePort, message, answer).GetAwaiter().GetResult();
                return true;
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                return false;
            }
        }

        return BlockingTransfer.RunAsync("bench fixed-load tunnels", () => Run(proxy, perSecond, warmUp, duration, Tunnel));
    }

    private static async Task OneTunnelAsync(ProxyUnderTest proxy, int port, byte[] message, byte[] answer)
    {
        using var timeout = new CancellationTokenSource(OperationLimit);
        using Socket socket = await Socks5Dialer.OpenAsync(proxy, "127.0.0.1", port, withUser: false, timeout.Token);
        await socket.SendAsync(message, SocketFlags.None, timeout.Token);
        for (int got = 0; got < answer.Length;)
        {
            int read = await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, timeout.Token);
            got += read > 0 ? read : throw new IOException("closed early");
        }

        if (await socket.ReceiveAsync(answer, SocketFlags.None, timeout.Token) != 0)
        {
            throw new IOException("more than the echo came back");
        }
    }

    /// <summary>The untimed schedule, then the timed one with the proxy's CPU read at its start and at its end.</summary>
    private static Result Run(ProxyUnderTest proxy, double perSecond, TimeSpan warmUp, TimeSpan duration, Func<bool> operation)
    {
        Phase untimed = Schedule(perSecond, warmUp, operation);

        // A fresh schedule after the reading: reading /proc walks every process, which takes milliseconds that would
        // otherwise show as slots missed at the start of the timed part.
        double cpuBefore = proxy.CpuSeconds();
        Phase timed = Schedule(perSecond, duration, operation);
        double cpu = proxy.CpuSeconds() - cpuBefore;
        return new Result(perSecond, timed.Slots, timed.Done, timed.Missed, timed.Errors, untimed.Errors, timed.Seconds, cpu, timed.LongestOperation);
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on the schedule for <paramref name="duration"/>, then waits for the end of the
    /// last slot. Every slot due before the end is done, failed (the operation returned false) or missed.
    /// </summary>
    private static Phase Schedule(double perSecond, TimeSpan duration, Func<bool> operation)
    {
        long interval = (long)Math.Round(Stopwatch.Frequency / perSecond);
        long length = (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long slots = (length + interval - 1) / interval;
        long done = 0;
        long errors = 0;
        long missed = 0;
        long longest = 0;
        long start = Stopwatch.GetTimestamp();

        // Bounded: every pass moves the slot on by at least one, and every operation by OperationLimit.
        for (long slot = 0; slot < slots;)
        {
            WaitUntil(start + slot * interval);
            long began = Stopwatch.GetTimestamp();
            if (operation())
            {
                done++;
            }
            else
            {
                errors++;
            }

            long now = Stopwatch.GetTimestamp();
            longest = Math.Max(longest, now - began);

            // The latest slot whose time has come; the ones between are missed, not sent in a burst.
            long due = (now - start) / interval;
            if (due > slot + 1)
            {
                missed += Math.Min(due, slots) - (slot + 1);
                slot = due;
            }
            else
            {
                slot++;
            }
        }

        WaitUntil(start + length);
        return new Phase(slots, done, missed, errors, Stopwatch.GetElapsedTime(start).TotalSeconds, Stopwatch.GetElapsedTime(0, longest));
    }

    /// <summary>
    /// Returns at <paramref name="timestamp"/>: sleeps in nanosleep(2) until 200 µs before it (the kernel's timer slack
    /// for a normal thread is 50 µs, and a sleeping generator leaves its core to the targets), then yields the core
    /// while more than 20 µs are left, and spins for the rest.
    /// </summary>
    private static void WaitUntil(long timestamp)
    {
        long sleepUntilBefore = Stopwatch.Frequency / 5_000;
        long yieldAbove = Stopwatch.Frequency / 50_000;
        for (long left = timestamp - Stopwatch.GetTimestamp(); left > 0; left = timestamp - Stopwatch.GetTimestamp())
        {
            if (left > sleepUntilBefore)
            {
                Native.Sleep(Stopwatch.GetElapsedTime(0, left - sleepUntilBefore));
            }
            else if (left > yieldAbove)
            {
                Thread.Yield();
            }
            else
            {
                Thread.SpinWait(20);
            }
        }
    }

    private static void Report(ProxyUnderTest proxy, Result result, string rate, string unit, Action<string, string, string, double, bool> record)
    {
        if (!proxy.IsDirect)
        {
            record($"Proxy CPU at {rate}", "% of a core", proxy.Name, result.CpuPercent, false);
        }

        record($"Achieved at {rate}", unit, proxy.Name, result.AchievedPerSecond, true);
        if (!result.KeptUp)
        {
            Console.Error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"  {proxy.Name} did not keep up with {rate}: {result.Done} of {result.Slots} done, {result.Missed} slots missed, {result.Errors} errors, the longest took {result.LongestOperation.TotalMilliseconds:0.0} ms; its CPU figure is for {result.AchievedPerSecond:0}/s"));
        }
    }

    /// <summary>SO_RCVTIMEO and SO_SNDTIMEO, so that a blocking call on a server that stopped answering ends.</summary>
    private static void SetBlockingTimeouts(Socket socket, TimeSpan limit)
    {
        // struct timeval on 64-bit Linux: seconds and microseconds, 8 bytes each.
        byte[] timeval = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(timeval.AsSpan(0, 8), (long)limit.TotalSeconds);
        BinaryPrimitives.WriteInt64LittleEndian(timeval.AsSpan(8, 8), (long)(limit.TotalMicroseconds % 1_000_000));
        const int SolSocket = 1;
        const int ReceiveTimeout = 20;
        const int SendTimeout = 21;
        socket.SetRawSocketOption(SolSocket, ReceiveTimeout, timeval);
        socket.SetRawSocketOption(SolSocket, SendTimeout, timeval);
    }

    private readonly record struct Phase(long Slots, long Done, long Missed, long Errors, double Seconds, TimeSpan LongestOperation);

    /// <summary>
    /// One timed run: the offered rate, the slots due in the timed part and what became of each (done, missed, failed:
    /// they add up to <see cref="Slots"/>), the failures in the untimed part, its length, the proxy's CPU seconds over it,
    /// and the longest operation (a stall shows there, and as missed slots).
    /// </summary>
    public readonly record struct Result(
        double TargetPerSecond, long Slots, long Done, long Missed, long Errors, long WarmUpErrors, double Seconds, double CpuSeconds,
        TimeSpan LongestOperation)
    {
        public double AchievedPerSecond => Done / Seconds;

        /// <summary>The proxy's CPU over the timed part as a share of its wall time: 100 is one core.</summary>
        public double CpuPercent => 100 * CpuSeconds / Seconds;

        public bool KeptUp => Done >= KeptUpShare * Slots;
    }
}
