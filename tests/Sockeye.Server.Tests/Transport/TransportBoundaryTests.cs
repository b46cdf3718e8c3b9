using System.Text.RegularExpressions;

namespace Sockeye.Server.Tests.Transport;

/// <summary>
/// The transport seam holds: outside src/Sockeye.Server/Transport (and Interop, the libc declarations it uses), no
/// source file names an engine, an event loop or a raw descriptor. A session or command that needs one of them needs a
/// member of <c>TransportEngine</c> instead.
/// </summary>
public sealed partial class TransportBoundaryTests
{
    [Fact]
    public void NoFileOutsideTheTransportFolder_NamesAnEngineAnEventLoopOrARawDescriptor()
    {
        string server = Path.Combine(RepositoryRoot(), "src", "Sockeye.Server");
        var violations = new List<string>();
        foreach (string file in Directory.EnumerateFiles(server, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(server, file).Replace('\\', '/');
            if (relative.StartsWith("Transport/", StringComparison.Ordinal) || relative.StartsWith("Interop/", StringComparison.Ordinal)
                || relative.StartsWith("obj/", StringComparison.Ordinal) || relative.StartsWith("bin/", StringComparison.Ordinal))
            {
                continue;
            }

            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (EngineName().Match(lines[i]) is { Success: true } match)
                {
                    violations.Add($"{relative}:{i + 1}: {match.Value}");
                }
            }
        }

        Assert.True(violations.Count == 0, "Engine details outside src/Sockeye.Server/Transport:\n" + string.Join('\n', violations));
    }

    [Fact]
    public void TheBoundaryCheck_WouldCatchAnEngineName()
    {
        Assert.Matches(EngineName(), "if (_client is EpollTunnelSocket client)");
        Assert.Matches(EngineName(), "using Sockeye.Server.Transport.Linux;");
        Assert.Matches(EngineName(), "int fd = (int)socket.SafeHandle.DangerousGetHandle();");
        Assert.DoesNotMatch(EngineName(), "TunnelRelay relay = _services.Engine.CreateRelay(_client, _target, _bandwidth);");
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (Directory.Exists(Path.Combine(directory.FullName, "src", "Sockeye.Server")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No src/Sockeye.Server above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"\b(Epoll\w*|Transport\.(Linux|Portable)|LinuxEngine|PortableEngine|RawSocket|RawDatagram|LinuxSplice|SplicePipePool|RuntimeTunnelSocket|TcpRelay|ReadinessWaiter|SafeSocketHandle|DangerousGetHandle|IsOnLoopThread)\b")]
    private static partial Regex EngineName();
}
