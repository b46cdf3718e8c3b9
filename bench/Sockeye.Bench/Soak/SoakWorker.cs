using System.Buffers.Binary;
using System.Net;
using Sockeye.Client;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Bench.Soak;

/// <summary>
/// One of the soak's concurrent clients: until the soak ends, picks an operation at random (<see cref="Weights"/>),
/// runs it through the proxy with Sockeye.Client, and counts what it saw. An operation that started runs to its end,
/// bounded by the operation limit alone.
/// </summary>
internal sealed class SoakWorker
{
    // How often each operation is picked, relative to the others, in SoakOperation's order.
    private static readonly int[] Weights = [30, 8, 8, 12, 12, 10, 10, 10];

    private const int MaxDatagramPayload = 1_400;

    private readonly Socks5Client _client;
    private readonly SoakTargets _targets;
    private readonly SoakStats _stats;
    private readonly TimeSpan _operationLimit;
    private readonly long _maxTransfer;
    private readonly Random _random;

    public SoakWorker(Socks5Client client, SoakTargets targets, SoakStats stats, TimeSpan operationLimit, long maxTransfer, int seed)
    {
        _client = client;
        _targets = targets;
        _stats = stats;
        _operationLimit = operationLimit;
        _maxTransfer = maxTransfer;
        _random = new Random(seed);
    }

    /// <summary>Runs operations until <paramref name="until"/> (checked between operations only).</summary>
    public async Task RunAsync(DateTime until)
    {
        while (DateTime.UtcNow < until)
        {
            await RunOneAsync(Pick());
        }
    }

    private SoakOperation Pick()
    {
        int total = 0;
        foreach (int weight in Weights)
        {
            total += weight;
        }

        int draw = _random.Next(total);
        for (int i = 0; i < Weights.Length; i++)
        {
            if (draw < Weights[i])
            {
                return (SoakOperation)i;
            }

            draw -= Weights[i];
        }

        return SoakOperation.Connect;
    }

    private async Task RunOneAsync(SoakOperation operation)
    {
        _stats.CountOperation(operation);
        using var limit = new CancellationTokenSource(_operationLimit);
        try
        {
            switch (operation)
            {
                case SoakOperation.Refused:
                    await RefusedAsync(limit.Token);
                    break;
                case SoakOperation.Bind:
                    await BindAsync(limit.Token);
                    break;
                case SoakOperation.Udp:
                    await UdpAsync(limit.Token);
                    break;
                default:
                    await ConnectAsync(Plan(operation), limit.Token);
                    break;
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            _stats.CountError(operation, $"not done within {_operationLimit.TotalSeconds:0.###} s");
        }
        catch (SocksException e)
        {
            _stats.CountError(operation, $"SOCKS failure {e.Error}" + (e.ReplyCode is { } code ? $", reply {code}" : ""));
        }
        catch (Exception e)
        {
            _stats.CountError(operation, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>A transfer plan for a CONNECT or BIND operation: sizes spread from nothing to the largest transfer.</summary>
    private TransferPlan Plan(SoakOperation operation)
    {
        long upload = Size();
        long download = Size();
        int stall = _random.Next(200, 2_000);
        var plan = new TransferPlan(TargetBehaviour.Normal, stall, _random.NextInt64(), upload, _random.NextInt64(), download, -1);
        switch (operation)
        {
            case SoakOperation.ClientStall:
                // Large enough to fill the socket buffers while the client is away.
                long stalledDownload = _random.NextInt64(_maxTransfer / 2, _maxTransfer + 1);
                return plan with { DownloadLength = stalledDownload, ClientStallAt = _random.NextInt64(stalledDownload / 4) };

            case SoakOperation.TargetStall:
                return plan with { Behaviour = TargetBehaviour.Stall, UploadLength = _random.NextInt64(_maxTransfer / 2, _maxTransfer + 1) };

            case SoakOperation.TargetReset:
                long resetDownload = Math.Max(download, 2);
                return plan with { Behaviour = TargetBehaviour.Reset, DownloadLength = resetDownload, TargetResetAfter = _random.NextInt64(1, resetDownload) };

            case SoakOperation.ClientReset:
                // The download is longer than where the client resets, so that the target is still sending then.
                long resetAt = _random.NextInt64(0, Math.Max(download, 1));
                return plan with
                {
                    Behaviour = TargetBehaviour.ExpectClientReset,
                    DownloadLength = resetAt + _random.NextInt64(1, _maxTransfer + 1),
                    ClientResetAfterDownload = resetAt,
                    ClientResetAfterUpload = _random.NextInt64(0, upload + 1),
                };

            default:
                return plan;
        }
    }

    /// <summary>0 bytes one time in ten; otherwise log-uniform from 1 byte to the largest transfer.</summary>
    private long Size()
    {
        if (_random.Next(10) == 0)
        {
            return 0;
        }

        return Math.Min(_maxTransfer, (long)Math.Pow(2, _random.NextDouble() * Math.Log2(_maxTransfer)));
    }

    private async Task ConnectAsync(TransferPlan plan, CancellationToken cancellationToken)
    {
        IPEndPoint target = _targets.TransferEndPoint;
        using Socks5Connection connection = await _client.ConnectAsync(target.Address, target.Port, cancellationToken);
        await SoakTransfer.RunClientAsync(connection.Socket, plan, _stats, _random, cancellationToken);
    }

    private async Task RefusedAsync(CancellationToken cancellationToken)
    {
        IPEndPoint refused = _targets.RefusedEndPoint;
        try
        {
            using Socks5Connection connection = await _client.ConnectAsync(refused.Address, refused.Port, cancellationToken);
        }
        catch (SocksException e) when (e.ReplyCode == Socks5ReplyCode.ConnectionRefused)
        {
            return;
        }

        throw new InvalidOperationException("the proxy reported success connecting to a port nobody listens on");
    }

    private async Task BindAsync(CancellationToken cancellationToken)
    {
        using Socks5BindOperation bind = await _client.BindAsync(IPAddress.Loopback, 0, cancellationToken);
        IPEndPoint announced = bind.AnnouncedEndPoint ?? throw new InvalidOperationException($"BIND announced a name: {bind.AnnouncedAddress}");
        if (announced.Address.Equals(IPAddress.Any))
        {
            announced = new IPEndPoint(IPAddress.Loopback, announced.Port);
        }

        Task peer = _targets.ConnectPeerAsync(announced, cancellationToken);
        using Socks5Connection connection = await bind.AcceptAsync(cancellationToken);
        await peer;
        await SoakTransfer.RunClientAsync(connection.Socket, Plan(SoakOperation.Connect), _stats, _random, cancellationToken);
    }

    /// <summary>
    /// Datagrams to the UDP echo one at a time, each with its sequence number, length and a pattern: one not back
    /// within the datagram limit is lost; one back with other bytes is corrupted; one back late is skipped.
    /// </summary>
    private async Task UdpAsync(CancellationToken cancellationToken)
    {
        await using Socks5UdpClient udp = await _client.UdpAssociateAsync(cancellationToken);
        IPEndPoint echo = _targets.UdpEchoEndPoint;
        int count = _random.Next(5, 41);
        long seed = _random.NextInt64();
        byte[] sent = new byte[MaxDatagramPayload];
        byte[] received = new byte[MaxDatagramPayload + 1];
        long lost = 0;
        long corrupted = 0;
        try
        {
            for (int sequence = 0; sequence < count; sequence++)
            {
                int length = _random.Next(8, MaxDatagramPayload + 1);
                BinaryPrimitives.WriteInt32LittleEndian(sent, sequence);
                BinaryPrimitives.WriteInt32LittleEndian(sent.AsSpan(4), length);
                Pattern.Fill(seed + sequence, 0, sent.AsSpan(8, length - 8));
                await udp.SendToAsync(sent.AsMemory(0, length), echo, cancellationToken);
                switch (await ReceiveEchoAsync(udp, sent.AsMemory(0, length), sequence, received, echo, cancellationToken))
                {
                    case EchoOutcome.Lost:
                        lost++;
                        break;
                    case EchoOutcome.Corrupted:
                        corrupted++;
                        break;
                }
            }
        }
        finally
        {
            _stats.CountDatagrams(count, lost, corrupted);
        }
    }

    private enum EchoOutcome
    {
        Returned,
        Lost,
        Corrupted,
    }

    private static async Task<EchoOutcome> ReceiveEchoAsync(
        Socks5UdpClient udp, ReadOnlyMemory<byte> sent, int sequence, byte[] buffer, IPEndPoint echo, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            while (true)
            {
                Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer, wait.Token);
                if (result.ReceivedBytes >= 4 && BinaryPrimitives.ReadInt32LittleEndian(buffer) < sequence)
                {
                    continue; // An earlier datagram, already counted lost, came back late.
                }

                bool fromEcho = result.Source.TryGetIPAddress(out IPAddress? source) && source.Equals(echo.Address) && result.SourcePort == echo.Port;
                return fromEcho && buffer.AsSpan(0, result.ReceivedBytes).SequenceEqual(sent.Span) ? EchoOutcome.Returned : EchoOutcome.Corrupted;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return EchoOutcome.Lost;
        }
    }
}
