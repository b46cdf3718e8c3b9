using System.Runtime.InteropServices;

namespace Sockeye.Server.Interop;

/// <summary>
/// Owns one file descriptor (a socket, a pipe end, an epoll set, an eventfd) and closes it with a plain close(2): when
/// disposed, or by its finalizer when its owner was dropped without closing it (a bug, which would otherwise leak the
/// descriptor for the life of the process).
/// </summary>
/// <remarks>
/// <para>
/// Not the runtime's <see cref="System.Net.Sockets.SafeSocketHandle"/>: releasing that one may close abortively (RST) and
/// does more work. A graceful close delivers what is still queued on a socket; <see cref="ReleaseHandle"/> never
/// touches <c>SO_LINGER</c>, so a socket closed abortively is one its owner made so before disposing.
/// </para>
/// <para>
/// The owners make their system calls on an <see cref="int"/> copy of the descriptor, not through this handle: the relay
/// makes millions of them, and each owner already guarantees that none can race the close (it closes only once nothing is
/// pending). So the handle counts no references, and the copy is valid until <see cref="SafeHandle.Dispose()"/>.
/// </para>
/// <para>
/// Descriptor 0 is valid; only -1 (what a failed call returns) is not.
/// </para>
/// </remarks>
internal sealed class DescriptorHandle : SafeHandle
{
    /// <summary>A handle of no descriptor, which the interop marshaller needs to return one (CA1419).</summary>
    public DescriptorHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="descriptor"/>, which this handle closes from now on.</summary>
    public DescriptorHandle(int descriptor)
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(descriptor);
    }

    /// <summary>The descriptor's number, for the owner's <see cref="int"/> copy (-1 for none); not cleared by a close.</summary>
    public int Descriptor => (int)handle;

    public override bool IsInvalid => handle == -1;

    /// <summary>
    /// Gives the descriptor up without closing it: another owner has it now (a runtime socket), or it was never this
    /// handle's to close (a caller kept it when taking it over failed). The finalizer then does nothing.
    /// </summary>
    public void Relinquish() => SetHandleAsInvalid();

    protected override bool ReleaseHandle()
    {
        // The descriptor is gone whatever close(2) answers, EINTR included on Linux: never retried, and no failure to
        // report (a false here is only a debugging aid of the runtime's).
        _ = Libc.close((int)handle);
        return true;
    }
}
