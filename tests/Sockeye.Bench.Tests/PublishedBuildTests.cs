using System.CommandLine;

namespace Sockeye.Bench.Tests;

/// <summary>
/// <c>--builds</c>: its parsing, the columns it adds, and whether a published build is taken for JIT-compiled (and so
/// warmed up before its steady state is measured). Nothing here starts a server.
/// </summary>
public sealed class PublishedBuildTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-bench-builds-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Builds_AreParsedInOrder()
    {
        string jit = Publish("jit", withDll: true);
        string aot = Publish("aot-build", withDll: false);

        Assert.Null(PublishedBuild.TryParseList($"jit={jit}, native.v2={aot}", out List<PublishedBuild> builds));

        Assert.Equal([new PublishedBuild("jit", jit), new PublishedBuild("native.v2", aot)], builds);
    }

    [Fact]
    public void NoBuilds_IsAnEmptyList()
    {
        Assert.Null(PublishedBuild.TryParseList("", out List<PublishedBuild> builds));
        Assert.Empty(builds);
    }

    [Theory]
    [InlineData("r2r+nopgo")]
    [InlineData("my build")]
    [InlineData("-r2r")]
    [InlineData("(r2r)")]
    public void Builds_WithABadName_AreRefused(string name)
    {
        string binary = Publish("sockeye", withDll: true);

        string? error = PublishedBuild.TryParseList($"{name}={binary}", out _);

        Assert.NotNull(error);
        Assert.Contains($"'{name}' is not a build name", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("splice")]
    [InlineData("copy")]
    [InlineData("aot")]
    public void Builds_NamedLikeAVariant_AreRefused(string name)
    {
        string binary = Publish("sockeye", withDll: true);

        Assert.Contains("taken by a variant", PublishedBuild.TryParseList($"{name}={binary}", out _), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("r2r")]
    [InlineData("=/tmp/sockeye")]
    [InlineData("r2r=")]
    public void Builds_NotNameEqualsPath_AreRefused(string entry)
    {
        Assert.Contains("is not name=PATH", PublishedBuild.TryParseList(entry, out _), StringComparison.Ordinal);
    }

    [Fact]
    public void Builds_ThatAreMissing_AreRefused()
    {
        string missing = Path.Combine(_directory, "nowhere", "sockeye");

        string? error = PublishedBuild.TryParseList($"r2r={missing}", out _);

        Assert.NotNull(error);
        Assert.Contains(missing, error, StringComparison.Ordinal);
        Assert.Contains("no such file", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Builds_WithTheSameNameTwice_AreRefused()
    {
        string binary = Publish("sockeye", withDll: true);

        Assert.Contains("'r2r' is given twice", PublishedBuild.TryParseList($"r2r={binary},r2r={binary}", out _), StringComparison.Ordinal);
    }

    [Fact]
    public void Builds_OnTheCommandLine_AreCheckedBeforeAnythingRuns()
    {
        string missing = Path.Combine(_directory, "sockeye");

        ParseResult parse = new BenchOptions(machineCpus: 2).CreateRootCommand().Parse(["--builds", $"r2r={missing}"]);

        Assert.Contains(missing, Assert.Single(parse.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Builds_AreColumnsAfterTheVariants_AndTakeSuffixesThere()
    {
        string jit = Publish("jit", withDll: true);
        string r2r = Publish("r2r", withDll: true);
        BenchSettings settings = Parse("--variants", "splice,r2r+nopgo,r2r", "--builds", $"jit={jit},r2r={r2r}", "--scenarios", "warmup", "--warmup-seconds", "12");

        Assert.Null(Bench.PlanSubjects(settings, out List<Bench.Subject> subjects));

        Assert.Equal(["direct", "sockeye (splice)", "sockeye (r2r+nopgo)", "sockeye (r2r)", "sockeye (jit)"], subjects.Select(s => s.Name));
        Assert.True(settings.Wants("warmup"));
        Assert.Equal(TimeSpan.FromSeconds(12), settings.ColdStartLoad);
    }

    [Fact]
    public void Builds_WithAnUnknownSuffix_AreRefused()
    {
        string r2r = Publish("r2r", withDll: true);
        BenchSettings settings = Parse("--variants", "r2r+fast", "--builds", $"r2r={r2r}");

        Assert.Contains("unknown variant suffix '+fast'", Bench.PlanSubjects(settings, out _), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tc0")]
    [InlineData("noosr")]
    [InlineData("nor2r")]
    [InlineData("nopgo")]
    [InlineData("notiered")]
    public void TieringSuffixes_AreKnown(string suffix)
    {
        Assert.Null(Bench.PlanSubjects(Parse("--variants", $"splice+{suffix}"), out _));
    }

    [Fact]
    public void WarmUpSeconds_DefaultsTo30_AndMustBePositive()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), Parse().ColdStartLoad);
        ParseResult parse = new BenchOptions(machineCpus: 2).CreateRootCommand().Parse(["--warmup-seconds", "0"]);
        Assert.Contains("--warmup-seconds", Assert.Single(parse.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADll_IsJitCompiled()
    {
        Assert.True(PublishedBuild.IsJitCompiled(Path.Combine(_directory, "sockeye.dll")));
    }

    [Fact]
    public void AnApphostWithItsDllBeside_IsJitCompiled()
    {
        string apphost = Publish("sockeye", withDll: true);

        Assert.True(PublishedBuild.IsJitCompiled(apphost));
        Assert.True(new PublishedBuild("r2r", apphost).JitCompiled);
    }

    [Fact]
    public void AnExecutableAlone_IsNative()
    {
        string aot = Publish("sockeye", withDll: false);

        Assert.False(PublishedBuild.IsJitCompiled(aot));
    }

    [Fact]
    public void AnExecutable_BesideAnotherAssembly_IsNative()
    {
        // The NativeAOT publish folder may hold other files; only the executable's own .dll makes it a JIT build.
        string aot = Publish("sockeye", withDll: false);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(aot)!, "Sockeye.Server.dll"), "");

        Assert.False(PublishedBuild.IsJitCompiled(aot));
    }

    /// <summary>An executable named <paramref name="name"/> in a folder of its own, with its .dll beside it or not.</summary>
    private string Publish(string name, bool withDll)
    {
        string folder = Directory.CreateDirectory(Path.Combine(_directory, $"out-{Guid.NewGuid():N}")).FullName;
        string executable = Path.Combine(folder, name);
        File.WriteAllText(executable, "");
        if (withDll)
        {
            File.WriteAllText(executable + ".dll", "");
        }

        return executable;
    }

    private static BenchSettings Parse(params string[] args)
    {
        var options = new BenchOptions(machineCpus: 2);
        ParseResult parse = options.CreateRootCommand().Parse(args);
        Assert.Empty(parse.Errors);
        return options.Read(parse, ["Sockeye.Bench", .. args]);
    }
}
