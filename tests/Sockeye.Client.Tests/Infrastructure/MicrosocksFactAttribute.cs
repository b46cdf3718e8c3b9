namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>Needs microsocks (<c>/usr/bin/microsocks</c>, Debian package microsocks).</summary>
internal sealed class MicrosocksFactAttribute : ThirdPartyFactAttribute
{
    public const string Path = "/usr/bin/microsocks";

    public MicrosocksFactAttribute()
        : base(Path, "microsocks")
    {
    }
}
