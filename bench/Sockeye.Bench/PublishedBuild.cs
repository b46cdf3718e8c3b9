using System.Text.RegularExpressions;

namespace Sockeye.Bench;

/// <summary>
/// A published Sockeye build given with <c>--builds name=PATH</c>: an apphost (<c>sockeye</c>) or a <c>sockeye.dll</c>,
/// measured as the column "sockeye (name)" in the default relay mode, as the <c>aot</c> variant is.
/// </summary>
/// <param name="Name">The column's name; also usable as a variant's head in <c>--variants</c> (<c>r2r+tc0</c>).</param>
/// <param name="Path">The executable or the <c>sockeye.dll</c>.</param>
internal sealed partial record PublishedBuild(string Name, string Path)
{
    /// <summary>Names that already mean something as a variant's head, so a build cannot take them.</summary>
    private static readonly string[] ReservedNames = ["splice", "copy", "aot"];

    /// <summary>Whether this build runs on the JIT, and so needs the JIT warm-up before its steady state is measured.</summary>
    public bool JitCompiled => IsJitCompiled(Path);

    /// <summary>
    /// Whether the Sockeye at <paramref name="path"/> runs on the JIT: a <c>.dll</c> (run with <c>dotnet</c>), or an
    /// apphost with its <c>.dll</c> beside it, which is what a framework-dependent, ReadyToRun or self-contained publish
    /// gives (ReadyToRun code is rejitted at tier 1 once hot, so it warms up too). A NativeAOT binary has no
    /// <c>.dll</c> beside it.
    /// </summary>
    /// <remarks>
    /// A single-file publish (<c>-p:PublishSingleFile=true</c>) bundles the <c>.dll</c> into the executable and would be
    /// taken for native code; the builds bench/README.md lists do not use it.
    /// </remarks>
    public static bool IsJitCompiled(string path)
    {
        if (path.EndsWith(".dll", StringComparison.Ordinal))
        {
            return true;
        }

        string directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        return File.Exists(System.IO.Path.Combine(directory, System.IO.Path.GetFileName(path) + ".dll"));
    }

    /// <summary>
    /// Parses <c>name=PATH[,name=PATH...]</c> (an empty text is no builds). Returns why it cannot be used (a malformed
    /// entry, a name that is not a plain word or is taken, a missing file), or <see langword="null"/>.
    /// </summary>
    public static string? TryParseList(string text, out List<PublishedBuild> builds)
    {
        builds = [];
        foreach (string entry in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || equals == entry.Length - 1)
            {
                return $"--builds: '{entry}' is not name=PATH";
            }

            string name = entry[..equals];
            string path = entry[(equals + 1)..];
            if (!NamePattern().IsMatch(name))
            {
                return $"--builds: '{name}' is not a build name: letters, digits, '-', '_' and '.', starting with a letter or digit (no '+', which starts a variant suffix)";
            }

            if (ReservedNames.Contains(name, StringComparer.Ordinal))
            {
                return $"--builds: '{name}' is taken by a variant ({string.Join(", ", ReservedNames)}); name the build otherwise";
            }

            if (builds.Exists(b => b.Name == name))
            {
                return $"--builds: '{name}' is given twice";
            }

            if (!File.Exists(path))
            {
                return $"--builds: {name}={path}: no such file; publish it first (bench/README.md gives the commands)";
            }

            builds.Add(new PublishedBuild(name, path));
        }

        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex NamePattern();
}
