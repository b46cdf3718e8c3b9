namespace Sockeye.Tests.TestSupport;

/// <summary>Files of the repository the tests run from: the docs and deploy/ are checked as they stand.</summary>
internal static class RepositoryFiles
{
    /// <summary>The folder holding README.md and docs/, found above the test's output folder.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The full path of <paramref name="relativePath"/> (with '/' separators) in the repository.</summary>
    public static string PathOf(string relativePath) => Path.Combine(Root, relativePath.Replace('/', Path.DirectorySeparatorChar));

    private static string FindRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "README.md")) && Directory.Exists(Path.Combine(directory.FullName, "docs")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No README.md and docs/ above {AppContext.BaseDirectory}");
    }
}
