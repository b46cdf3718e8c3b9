using System.CommandLine;
using System.CommandLine.Parsing;

namespace Sockeye.Bench.Tests;

/// <summary>
/// The load generator's options for hev-socks5-server (<c>--hev</c>) and the proxy's CPUs (<c>--proxy-cpus</c>), and the
/// YAML hev is started with: none of it starts a server, so no test here needs the hev binary.
/// </summary>
public sealed class BenchOptionsTests
{
    private const string Hev = "/nowhere/hev-socks5-server";

    [Fact]
    public void HevConfig_WithoutUser_IsOneWorkerOnLoopbackWithUdpAndNoAuth()
    {
        string expected = """
            main:
              workers: 1
              port: 40123
              listen-address: '127.0.0.1'
              udp-listen-address: '127.0.0.1'
            misc:
              log-file: stderr
              log-level: error
              limit-nofile: 20000

            """;
        Assert.Equal(expected.ReplaceLineEndings("\n"), ProxyUnderTest.HevConfig(40123, workers: 1, withUser: false).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void HevConfig_WithUser_AddsTheAuthSection()
    {
        string expected = """
            main:
              workers: 2
              port: 1080
              listen-address: '127.0.0.1'
              udp-listen-address: '127.0.0.1'
            misc:
              log-file: stderr
              log-level: error
              limit-nofile: 20000
            auth:
              username: alice
              password: secret

            """;
        Assert.Equal(expected.ReplaceLineEndings("\n"), ProxyUnderTest.HevConfig(1080, workers: 2, withUser: true).ReplaceLineEndings("\n"));
        Assert.Equal("alice", ProxyUnderTest.User);
        Assert.Equal("secret", ProxyUnderTest.Password);
    }

    [Fact]
    public void HevMemoryFigure_AsksOnlyForTheTunnelsItsDescriptorLimitHolds()
    {
        // Six descriptors per tunnel (two sockets, two splice pipes): 8 800 tunnels would need 52 800 of its 20 000.
        Assert.Equal(20000, ProxyUnderTest.HevLimitNofile);
        Assert.Equal(6, ProxyUnderTest.HevDescriptorsPerTunnel);
        Assert.Equal(3300, ProxyUnderTest.HevMaxIdleTunnels);
        Assert.True(ProxyUnderTest.HevMaxIdleTunnels * ProxyUnderTest.HevDescriptorsPerTunnel <= ProxyUnderTest.HevLimitNofile - 200);
        Assert.Contains($"limit-nofile: {ProxyUnderTest.HevLimitNofile}\n", ProxyUnderTest.HevConfig(1080, workers: 1, withUser: false).ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void NoHev_MeansNoHevColumn()
    {
        BenchSettings settings = Parse(machineCpus: 2, "--variants", "splice", "--compare", "microsocks,dante");

        Assert.Null(settings.Hev);
        Assert.Null(Bench.PlanSubjects(settings, out List<Bench.Subject> subjects));
        Assert.Equal(["direct", "sockeye (splice)", "microsocks", "dante"], subjects.Select(s => s.Name));
    }

    [Fact]
    public void Hev_IsTheLastColumn()
    {
        string binary = Path.Combine(Path.GetTempPath(), $"sockeye-bench-hev-{Guid.NewGuid():N}");
        File.WriteAllText(binary, "");
        try
        {
            BenchSettings settings = Parse(machineCpus: 2, "--variants", "splice", "--compare", "microsocks", "--hev", binary);

            Assert.Equal(binary, settings.Hev);
            Assert.Null(Bench.PlanSubjects(settings, out List<Bench.Subject> subjects));
            Assert.Equal(["direct", "sockeye (splice)", "microsocks", "hev"], subjects.Select(s => s.Name));
        }
        finally
        {
            File.Delete(binary);
        }
    }

    [Fact]
    public void Hev_ThatIsMissing_IsRefusedBeforeAnythingRuns()
    {
        BenchSettings settings = Parse(machineCpus: 2, "--hev", Hev);

        string? error = Bench.PlanSubjects(settings, out _);

        Assert.NotNull(error);
        Assert.Contains(Hev, error, StringComparison.Ordinal);
    }

    [Fact]
    public void HevInCompare_PointsToTheOption()
    {
        BenchSettings settings = Parse(machineCpus: 2, "--compare", "hev");

        Assert.Contains("--hev PATH", Bench.PlanSubjects(settings, out _), StringComparison.Ordinal);
    }

    [Fact]
    public void NoPinning_ByDefault()
    {
        Pinning pinning = Parse(machineCpus: 2).Pinning;

        Assert.False(pinning.Pinned);
        Assert.Null(pinning.ProxyCpuList);
        Assert.Null(pinning.GeneratorAffinity);
        Assert.Equal(1, pinning.HevWorkers);
        Assert.Equal("none", pinning.Describe());
    }

    [Fact]
    public void Pin_IsOneProxyCpu()
    {
        Pinning pinning = Parse(machineCpus: 2, "--pin").Pinning;

        Assert.Equal(new Pinning(1, 2), pinning);
        Assert.Equal("0", pinning.ProxyCpuList);
        Assert.Equal(0b10, pinning.GeneratorAffinity);
        Assert.Equal(1, pinning.HevWorkers);
        Assert.Equal("proxy on CPU 0, generator and targets on CPU 1", pinning.Describe());
    }

    [Fact]
    public void ProxyCpus_EveryCpu_LeavesTheGeneratorUnpinned()
    {
        Pinning pinning = Parse(machineCpus: 2, "--proxy-cpus", "2").Pinning;

        Assert.Equal("0-1", pinning.ProxyCpuList);
        Assert.Null(pinning.GeneratorAffinity);
        Assert.Equal(2, pinning.HevWorkers);
        Assert.Contains("unpinned", pinning.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void ProxyCpus_SomeOfMany_GivesTheGeneratorTheRest()
    {
        Pinning pinning = Parse(machineCpus: 8, "--proxy-cpus", "3", "--pin").Pinning;

        Assert.Equal("0-2", pinning.ProxyCpuList);
        Assert.Equal(0b1111_1000, pinning.GeneratorAffinity);
        Assert.Equal(3, pinning.HevWorkers);
        Assert.Equal("proxy on CPUs 0-2, generator and targets on CPUs 3-7", pinning.Describe());
    }

    [Theory]
    [InlineData("3")]
    [InlineData("0")]
    [InlineData("-1")]
    public void ProxyCpus_OutsideTheMachine_IsRefused(string proxyCpus)
    {
        ParseResult parse = new BenchOptions(machineCpus: 2).CreateRootCommand().Parse(["--proxy-cpus", proxyCpus]);

        ParseError error = Assert.Single(parse.Errors);
        Assert.Contains("--proxy-cpus must be from 1 to 2", error.Message, StringComparison.Ordinal);
    }

    private static BenchSettings Parse(int machineCpus, params string[] args)
    {
        var options = new BenchOptions(machineCpus);
        ParseResult parse = options.CreateRootCommand().Parse(args);
        Assert.Empty(parse.Errors);
        return options.Read(parse, ["Sockeye.Bench", .. args]);
    }
}
