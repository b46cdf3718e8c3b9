namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>
/// A fact that needs a third-party program installed from Debian. Locally it skips, with the reason and the fix, when
/// the program is missing; in CI (CI=true) it never skips, so a failed install fails the run instead of hiding.
/// </summary>
/// <remarks>xunit v2 has no skipping at run time, so the decision is made here, when the test is discovered.</remarks>
internal abstract class ThirdPartyFactAttribute : FactAttribute
{
    protected ThirdPartyFactAttribute(string path, string package)
    {
        bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!inCi && !File.Exists(path))
        {
            Skip = $"{package} is not installed ({path} is missing): apt-get install {package}, as .ci/run does";
        }
    }
}
