using System.Globalization;
using Sockeye.Server.Limits;

namespace Sockeye.Tests.Hosting;

public class OpenFileLimitTests
{
    [Fact]
    public void RaiseToHardLimit_SoftLimitEqualsHardLimitAfterwards()
    {
        (ulong Before, ulong After)? result = OpenFileLimit.RaiseToHardLimit();

        Assert.True(result.HasValue, "this suite runs on Linux, where the limit can be read");
        (ulong soft, ulong hard) = ReadOpenFileLimits();
        Assert.Equal(hard, soft);
        Assert.Equal(soft, result.Value.After);
    }

    private static (ulong Soft, ulong Hard) ReadOpenFileLimits()
    {
        // "Max open files            20000                20000                files"
        string line = File.ReadLines("/proc/self/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string[] fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (ParseLimit(fields[0]), ParseLimit(fields[1]));
    }

    private static ulong ParseLimit(string text) =>
        text == "unlimited" ? ulong.MaxValue : ulong.Parse(text, CultureInfo.InvariantCulture);
}
