namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>
/// A fact about the Linux engine (event loops, raw descriptors, splice): reported as skipped, with the reason, on other
/// systems, rather than passing there without having run.
/// </summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = LinuxOnly.Reason;
        }
    }
}

/// <summary>A theory about the Linux engine: skipped, with the reason, on other systems (see <see cref="LinuxFactAttribute"/>).</summary>
public sealed class LinuxTheoryAttribute : TheoryAttribute
{
    public LinuxTheoryAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = LinuxOnly.Reason;
        }
    }
}

internal static class LinuxOnly
{
    public const string Reason = "Linux only: the event loops, raw descriptors and splice exist only there.";
}
