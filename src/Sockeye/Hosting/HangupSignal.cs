using System.Runtime.InteropServices;

namespace Sockeye.Hosting;

/// <summary>Makes SIGHUP reach the reload handler when the process was started with the signal ignored.</summary>
/// <remarks>
/// <c>nohup</c>, and supervisors that copy its habit, start their command with SIGHUP ignored, and an ignored
/// disposition survives exec. The runtime respects it: registering a handler for an ignored signal installs nothing, so
/// <c>kill -HUP</c> would silently do nothing. For a daemon SIGHUP means "read the configuration again", and once the
/// handler is registered a terminal's hangup cannot end the process either, so the signal is taken back first.
/// </remarks>
internal static partial class HangupSignal
{
    private const int SigHup = 1;
    private const nint DefaultAction = 0;
    private const nint Ignore = 1;

    /// <summary>
    /// Resets SIGHUP to its default action if it is ignored; returns whether it was. Call just before registering the
    /// handler: between the two, a SIGHUP would end the process, as it would for any process that handles none.
    /// </summary>
    public static bool TakeBackIfIgnored()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return false;
        }

        // struct sigaction starts with the handler on every libc, and is at most 152 bytes (glibc on 64 bits); the
        // rest of it is never read.
        Span<byte> current = stackalloc byte[256];
        if (sigaction(SigHup, IntPtr.Zero, ref MemoryMarshal.GetReference(current)) != 0
            || MemoryMarshal.Read<nint>(current) != Ignore)
        {
            return false;
        }

        return signal(SigHup, DefaultAction) == Ignore;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sigaction(int signal, IntPtr action, ref byte previous);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint signal(int signal, nint handler);
}
