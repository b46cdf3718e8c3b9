namespace Sockeye.Tests.TestSupport;

/// <summary>
/// A fact that needs a program installed from Debian. Locally it skips, with the reason and the fix, when the program is
/// missing; in CI (CI=true) it never skips, so a failed install fails the run instead of hiding.
/// </summary>
/// <remarks>xunit v2 has no skipping at run time, so the decision is made here, when the test is discovered.</remarks>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ProgramFactAttribute : FactAttribute
{
    /// <param name="path">Where the program is installed.</param>
    /// <param name="package">The Debian package that installs it.</param>
    public ProgramFactAttribute(string path, string package)
    {
        bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!inCi && !File.Exists(path))
        {
            Skip = $"{package} is not installed ({path} is missing): apt-get install {package}, as .ci/run does";
        }
    }
}
