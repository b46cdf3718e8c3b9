namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>
/// A fact that needs Debian's redis-server (<see cref="RedisServer.Path"/>). Locally it skips, with the fix, when it is
/// missing; in CI (CI=true) it never skips, so a failed install fails the run instead of hiding.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!inCi && !File.Exists(RedisServer.Path))
        {
            Skip = $"redis-server is not installed ({RedisServer.Path} is missing): apt-get install redis-server, as .ci/run does";
        }
    }
}
