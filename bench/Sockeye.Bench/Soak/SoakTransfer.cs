using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace Sockeye.Bench.Soak;

/// <summary>What the target side of a transfer does, named in the header the client sends first.</summary>
internal enum TargetBehaviour
{
    /// <summary>Reads the upload to EOF and sends the whole download, concurrently, then closes.</summary>
    Normal = 0,

    /// <summary>Waits <see cref="TransferPlan.StallMilliseconds"/> after the header before reading or sending anything.</summary>
    Stall = 1,

    /// <summary>Sends <see cref="TransferPlan.TargetResetAfter"/> download bytes, then resets the connection.</summary>
    Reset = 2,

    /// <summary>The client will reset mid-transfer: a truncated upload and a failing download are expected.</summary>
    ExpectClientReset = 3,
}

/// <summary>
/// One transfer through a tunnel: the header the client sends first (48 bytes: behaviour, stall, then each direction's
/// seed and length, and where the target resets), and what the client does on its side.
/// </summary>
internal sealed record TransferPlan(
    TargetBehaviour Behaviour,
    int StallMilliseconds,
    long UploadSeed,
    long UploadLength,
    long DownloadSeed,
    long DownloadLength,
    long TargetResetAfter)
{
    public const int HeaderLength = 48;

    /// <summary>The client stops reading once it has this much of the download, for <see cref="StallMilliseconds"/>; -1: never.</summary>
    public long ClientStallAt { get; init; } = -1;

    /// <summary>The client resets once it has sent this much and received <see cref="ClientResetAfterDownload"/>; -1: never.</summary>
    public long ClientResetAfterUpload { get; init; } = -1;

    public long ClientResetAfterDownload { get; init; } = -1;

    public void WriteHeader(Span<byte> header)
    {
        BinaryPrimitives.WriteInt32LittleEndian(header, (int)Behaviour);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], StallMilliseconds);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], UploadSeed);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], UploadLength);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], DownloadSeed);
        BinaryPrimitives.WriteInt64LittleEndian(header[32..], DownloadLength);
        BinaryPrimitives.WriteInt64LittleEndian(header[40..], TargetResetAfter);
    }

    public static TransferPlan ReadHeader(ReadOnlySpan<byte> header) => new(
        (TargetBehaviour)BinaryPrimitives.ReadInt32LittleEndian(header),
        BinaryPrimitives.ReadInt32LittleEndian(header[4..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[8..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[16..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[24..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[32..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[40..]));

    /// <summary>Whether the design says every byte of both directions must arrive.</summary>
    public bool EveryByteDue => Behaviour is TargetBehaviour.Normal or TargetBehaviour.Stall;
}

/// <summary>The two ends of a soak transfer, each checking every byte it receives against the pattern.</summary>
internal static class SoakTransfer
{
    private const int BufferLength = 64 * 1024;

    /// <summary>
    /// The client's side: the header, then the upload and the download at once, as the plan says. Throws when the
    /// transfer went wrong in a way the plan did not allow (the caller counts it as an error).
    /// </summary>
    public static async Task RunClientAsync(Socket socket, TransferPlan plan, SoakStats stats, Random random, CancellationToken cancellationToken)
    {
        byte[] header = new byte[TransferPlan.HeaderLength];
        plan.WriteHeader(header);
        await socket.SendAsync(header, SocketFlags.None, cancellationToken);

        bool resetByClient = plan.ClientResetAfterUpload >= 0;
        long uploadTotal = resetByClient ? Math.Min(plan.ClientResetAfterUpload, plan.UploadLength) : plan.UploadLength;
        int chunkSeed = random.Next();
        Task upload = SendPatternAsync(socket, plan.UploadSeed, uploadTotal, shutDown: !resetByClient, new Random(chunkSeed), cancellationToken);

        long stopAt = resetByClient ? plan.ClientResetAfterDownload : long.MaxValue;
        (long received, Exception? downloadFailure) = await ReceivePatternAsync(
            socket, plan.DownloadSeed, plan.DownloadLength, stats, stopAt, plan.ClientStallAt, plan.StallMilliseconds, cancellationToken);
        Exception? uploadFailure = null;
        try
        {
            await upload;
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            uploadFailure = e;
        }

        switch (plan.Behaviour)
        {
            case TargetBehaviour.Normal or TargetBehaviour.Stall:
                stats.CountLost(plan.DownloadLength - received);
                if (downloadFailure is not null || uploadFailure is not null)
                {
                    throw new IOException($"the tunnel failed: {Describe(downloadFailure ?? uploadFailure!)}");
                }

                break;

            case TargetBehaviour.Reset:
                // Anything up to the reset may arrive, or less (a reset discards what was in flight); never more.
                stats.CountCorrupted(received - plan.TargetResetAfter);
                break;

            case TargetBehaviour.ExpectClientReset:
                // The download is longer than where the client resets: all of it up to there is due.
                if (received < plan.ClientResetAfterDownload)
                {
                    stats.CountLost(plan.ClientResetAfterDownload - received);
                    throw new IOException($"the tunnel ended before the client's reset: {(downloadFailure is null ? "EOF" : Describe(downloadFailure))}");
                }

                if (uploadFailure is not null)
                {
                    throw new IOException($"the upload failed before the client's reset: {Describe(uploadFailure)}");
                }

                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
                break;
        }
    }

    /// <summary>
    /// The target's side (the CONNECT target, or the BIND peer): reads the header, then the upload and the download
    /// at once, as the header says; what the plan says must arrive and did not is lost. Never throws.
    /// </summary>
    public static async Task ServeAsync(Socket socket, SoakStats stats, TimeSpan limit, CancellationToken stopping)
    {
        using (socket)
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            deadline.CancelAfter(limit);
            CancellationToken cancellationToken = deadline.Token;
            TransferPlan plan;
            byte[] header = new byte[TransferPlan.HeaderLength];
            try
            {
                for (int got = 0; got < header.Length;)
                {
                    int read = await socket.ReceiveAsync(header.AsMemory(got), SocketFlags.None, cancellationToken);
                    if (read == 0)
                    {
                        // Only a client that resets may end before its header is through (a reset discards what
                        // the proxy had not yet passed on); the client side counts anything else.
                        return;
                    }

                    got += read;
                }

                plan = TransferPlan.ReadHeader(header);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                return;
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                stats.CountTargetError("the header did not arrive within the limit");
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (plan.UploadLength < 0 || plan.DownloadLength < 0 || !Enum.IsDefined(plan.Behaviour))
            {
                stats.CountTargetError("a malformed header");
                stats.CountCorrupted(TransferPlan.HeaderLength);
                return;
            }

            try
            {
                if (plan.Behaviour == TargetBehaviour.Stall)
                {
                    await Task.Delay(plan.StallMilliseconds, cancellationToken);
                }

                Task<(long Received, Exception? Failure)> upload = ReceivePatternAsync(
                    socket, plan.UploadSeed, plan.UploadLength, stats, long.MaxValue, -1, 0, cancellationToken);
                bool resetByTarget = plan.Behaviour == TargetBehaviour.Reset;
                long downloadTotal = resetByTarget ? Math.Min(plan.TargetResetAfter, plan.DownloadLength) : plan.DownloadLength;
                Exception? downloadFailure = null;
                try
                {
                    await SendPatternAsync(socket, plan.DownloadSeed, downloadTotal, shutDown: !resetByTarget, new Random((int)plan.DownloadSeed), cancellationToken);
                }
                catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
                {
                    downloadFailure = e;
                }

                if (resetByTarget)
                {
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                    _ = await upload;
                    return;
                }

                (long received, Exception? uploadFailure) = await upload;
                if (plan.EveryByteDue)
                {
                    stats.CountLost(plan.UploadLength - received);
                    if (downloadFailure is not null || uploadFailure is not null)
                    {
                        stats.CountTargetError($"the tunnel failed: {Describe(downloadFailure ?? uploadFailure!)}");
                    }
                }
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                // The proxy kept this end open past every limit: after a client's reset, it should have closed it.
                stats.CountTargetError($"the connection was still open after {limit.TotalSeconds:0} s ({plan.Behaviour})");
            }
            catch (OperationCanceledException)
            {
                // The soak is over.
            }
        }
    }

    private static async Task SendPatternAsync(Socket socket, long seed, long length, bool shutDown, Random random, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferLength);
        try
        {
            for (long sent = 0; sent < length;)
            {
                // Writes of varying sizes, so that the relay sees every kind of boundary.
                int chunk = (int)Math.Min(length - sent, random.Next(1, BufferLength + 1));
                Pattern.Fill(seed, sent, buffer.AsSpan(0, chunk));
                int written = await socket.SendAsync(buffer.AsMemory(0, chunk), SocketFlags.None, cancellationToken);
                sent += written;
            }

            if (shutDown)
            {
                socket.Shutdown(SocketShutdown.Send);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Receives up to EOF (or <paramref name="stopAt"/> bytes), checking each byte; bytes beyond
    /// <paramref name="length"/> count as corrupted. A reset or error ends it and is returned, not thrown.
    /// </summary>
    private static async Task<(long Received, Exception? Failure)> ReceivePatternAsync(
        Socket socket, long seed, long length, SoakStats stats, long stopAt, long stallAt, int stallMilliseconds, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferLength);
        long received = 0;
        bool stalled = false;
        try
        {
            while (received < stopAt)
            {
                if (!stalled && stallAt >= 0 && received >= stallAt)
                {
                    stalled = true;
                    await Task.Delay(stallMilliseconds, cancellationToken);
                }

                int read = await socket.ReceiveAsync(buffer.AsMemory(0, BufferLength), SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    break;
                }

                int inPlan = (int)Math.Clamp(length - received, 0, read);
                stats.CountChecked(inPlan, Pattern.CountMismatches(seed, received, buffer.AsSpan(0, inPlan)));
                stats.CountCorrupted(read - inPlan);
                received += read;
            }

            return (received, null);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            return (received, e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Describe(Exception e) => e is SocketException socketError ? socketError.SocketErrorCode.ToString() : e.GetType().Name;
}
