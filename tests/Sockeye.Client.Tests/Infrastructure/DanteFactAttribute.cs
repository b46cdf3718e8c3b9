namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>Needs Dante (<c>/usr/sbin/danted</c>, Debian package dante-server).</summary>
internal sealed class DanteFactAttribute : ThirdPartyFactAttribute
{
    public const string Path = "/usr/sbin/danted";

    public DanteFactAttribute()
        : base(Path, "dante-server")
    {
    }
}
