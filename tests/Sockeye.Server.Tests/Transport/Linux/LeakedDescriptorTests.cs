using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Interop;
using Sockeye.Server.Transport.Linux;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// Descriptors the Linux engine owns are held by <see cref="DescriptorHandle"/>s: one whose owner was dropped without a
/// close (a bug) is closed by the finalizer, gracefully, and one the engine gave away is never closed by it. A descriptor
/// is identified by what /proc/self/fd links it to (<c>socket:[inode]</c>, <c>pipe:[inode]</c>), which a recycled
/// number never matches.
/// </summary>
/// <remarks>
/// The owners are made and used in methods of their own, never inlined, so that no local or temporary of the test's
/// frame (a debug build reports them all until the method returns) keeps them reachable; a test that needs one held
/// for a while holds it in a box it can empty.
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class LeakedDescriptorTests
{
    [LinuxFact]
    public async Task Socket_ForgottenOnItsLoop_StaysOpenWhileTheLoopLives_ThenTheFinalizerClosesItWithFin()
    {
        using Socket listener = Listen();
        var loop = new EpollLoop("leak-test", 2048, NullLogger.Instance);
        try
        {
            (int descriptor, string identity) = ConnectAndForget(loop, (IPEndPoint)listener.LocalEndPoint!);
            using Socket peer = await listener.AcceptAsync().DefaultTimeout();

            // Registered, it is reachable from the loop, which must deliver its events: no finalizer may touch it.
            Collect();
            Assert.Equal(identity, LinkOf(descriptor));

            // A disposed loop drops its registrations, and nothing else holds the socket.
            loop.Dispose();
            Assert.True(AfterCollections(() => LinkOf(descriptor) != identity), $"{identity} is still open");

            // A FIN (EOF), not a reset: the finalizer closed it as Close would, not as Abort.
            Assert.Equal(0, await peer.ReceiveAsync(new byte[16], SocketFlags.None).DefaultTimeout());
        }
        finally
        {
            loop.Dispose();
        }
    }

    [LinuxFact]
    public async Task StartConnect_LoopStopped_ThrowsAndClosesItsSocketAtOnce_WithFin()
    {
        using Socket listener = Listen();
        var loop = new EpollLoop("leak-test", 2048, NullLogger.Instance);
        loop.Dispose();
        var target = (IPEndPoint)listener.LocalEndPoint!;

        // connect(2) comes before the loop refuses the socket: the peer is there to see how it ends.
        Assert.Throws<ObjectDisposedException>(() => EpollTunnelSocket.StartConnect(loop, target.Address, target.Port, source: null));
        using Socket peer = await listener.AcceptAsync().DefaultTimeout();

        // Closed by StartConnect itself, not by a finalizer some collection later.
        Assert.True(peer.Poll(TimeSpan.FromSeconds(1), SelectMode.SelectRead), "the socket was left open");
        Assert.Equal(0, peer.Receive(new byte[16]));
    }

    [LinuxFact]
    public void PipePool_DroppedUndisposed_FinalizersCloseItsPipes_PooledAndRented()
    {
        StrongBox<SplicePipePool?> holder = NewPool();
        (int Descriptor, string Identity)[] ends = RentTwoReturnOne(holder);

        // A pipe rented and never returned stays open while its pool lives: the pool holds its handles.
        Collect();
        Assert.All(ends, end => Assert.Equal(end.Identity, LinkOf(end.Descriptor)));

        holder.Value = null;
        Assert.True(AfterCollections(() => ends.All(end => LinkOf(end.Descriptor) != end.Identity)), "a pipe of the dropped pool is still open");
    }

    [LinuxFact]
    public void Adopt_LoopRefusesTheDescriptor_ItStaysTheCallers_NoFinalizerClosesIt()
    {
        var loop = new EpollLoop("leak-test", 2048, NullLogger.Instance);
        loop.Dispose();
        int descriptor = RawSocket.CreateTcp(AddressFamily.InterNetwork);
        Assert.True(descriptor >= 0);
        string? identity = LinkOf(descriptor);
        try
        {
            AdoptAndDrop(loop, descriptor);
            Collect();
            Collect();

            Assert.Equal(identity, LinkOf(descriptor));
        }
        finally
        {
            RawSocket.Close(descriptor);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (int Descriptor, string Identity) ConnectAndForget(EpollLoop loop, IPEndPoint target)
    {
        EpollTunnelSocket socket = StartConnect(loop, target);
        return (socket.Descriptor, LinkOf(socket.Descriptor)!);
    }

    /// <summary>A socket connecting (or connected) to <paramref name="target"/>, registered on <paramref name="loop"/>: no task holds it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static EpollTunnelSocket StartConnect(EpollLoop loop, IPEndPoint target)
    {
        (EpollTunnelSocket? socket, SocketError error) = EpollTunnelSocket.StartConnect(loop, target.Address, target.Port, source: null);
        Assert.Equal(SocketError.Success, error);
        return Assert.IsType<EpollTunnelSocket>(socket);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static StrongBox<SplicePipePool?> NewPool() => new(new SplicePipePool(64 * 1024, maxPipes: 4));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (int Descriptor, string Identity)[] RentTwoReturnOne(StrongBox<SplicePipePool?> holder)
    {
        SplicePipePool pool = holder.Value!;
        Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) returned, out _));
        Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) kept, out _));
        pool.Return(returned);
        Assert.Equal(2, pool.PipesOpen);
        return [.. new[] { returned.ReadEnd, returned.WriteEnd, kept.ReadEnd, kept.WriteEnd }.Select(end => (end, LinkOf(end)!))];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AdoptAndDrop(EpollLoop loop, int descriptor) =>
        Assert.Throws<ObjectDisposedException>(() => EpollTunnelSocket.Adopt(loop, descriptor, remoteEndPoint: null));

    private static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        return listener;
    }

    /// <summary>What /proc/self/fd links the descriptor to, or <see langword="null"/> if it is not open.</summary>
    private static string? LinkOf(int descriptor)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{descriptor}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    /// <summary>Collects, and runs finalizers, until <paramref name="condition"/> holds or a few seconds have passed.</summary>
    private static bool AfterCollections(Func<bool> condition)
    {
        for (int attempt = 0; attempt < 100 && !condition(); attempt++)
        {
            Collect();
            Thread.Sleep(20);
        }

        return condition();
    }
}
