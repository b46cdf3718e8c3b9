using System.Text;
using Microsoft.Extensions.Configuration;
using Sockeye.Configuration;
using Sockeye.Server.Configuration;

namespace Sockeye.Tests.Configuration;

/// <summary><c>limits.shared</c>: read from the file and the environment, checked, and never echoing a password.</summary>
public sealed class SharedLimitsSettingsTests
{
    private static readonly CommandLineValues NoCommandLine = new();

    [Fact]
    public void Read_Nothing_NoSharedLimitsAndTheDefaults()
    {
        var errors = new List<string>();
        SharedLimitsOptions shared = SettingsReader.Read(Json("{}"), NoCommandLine, errors)!.Server.Limits.Shared;

        Assert.Empty(errors);
        Assert.Null(shared.Redis);
        Assert.Equal("sockeye", shared.KeyPrefix);
        Assert.Equal(TimeSpan.FromMilliseconds(250), shared.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(10), shared.Lease);
    }

    [Fact]
    public void Read_EveryKey_IsRead()
    {
        var errors = new List<string>();
        SharedLimitsOptions shared = SettingsReader.Read(Json("""
            { "limits": { "shared": { "redis": "redis.example:6380,password=hunter2", "keyPrefix": "proxies-eu", "timeout": "100ms", "lease": "30s" } } }
            """), NoCommandLine, errors)!.Server.Limits.Shared;

        Assert.Empty(errors);
        Assert.Equal("redis.example:6380,password=hunter2", shared.Redis);
        Assert.Equal("proxies-eu", shared.KeyPrefix);
        Assert.Equal(TimeSpan.FromMilliseconds(100), shared.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(30), shared.Lease);
    }

    [Fact]
    public void Read_FromEnvironmentStyleKeys_IsRead()
    {
        var errors = new List<string>();
        SharedLimitsOptions shared = SettingsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["limits:shared:redis"] = "127.0.0.1:6379",
        }).Build(), NoCommandLine, errors)!.Server.Limits.Shared;

        Assert.Empty(errors);
        Assert.Equal("127.0.0.1:6379", shared.Redis);
    }

    [Fact]
    public void Read_BadValues_EachNamedWithItsKey()
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json("""
            { "limits": { "shared": { "redis": "password=hunter2", "keyPrefix": "a{b}", "timeout": "5ms", "lease": "500ms", "host": "x" } } }
            """), NoCommandLine, errors));

        Assert.Contains("limits.shared.host: unknown setting; see docs/configuration.md for the keys Sockeye reads.", errors);
        Assert.Contains(errors, e => e.StartsWith("limits.shared.redis: names no Redis endpoint", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("limits.shared.keyPrefix: 'a{b}'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("limits.shared.timeout: 5 ms is out of range", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("limits.shared.lease: 0.5 s is out of range", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("hunter2", StringComparison.Ordinal));
    }

    [Fact]
    public void Read_LeaseNotLongerThanFourTimeouts_Refused()
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json("""
            { "limits": { "shared": { "redis": "127.0.0.1:6379", "timeout": "1s", "lease": "4s" } } }
            """), NoCommandLine, errors));

        Assert.Equal(["limits.shared.lease: 4 s must be more than four times limits.shared.timeout (1000 ms)."], errors);
    }

    private static IConfiguration Json(string json) =>
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
}
