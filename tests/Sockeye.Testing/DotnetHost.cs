namespace Sockeye.Testing;

/// <summary>The <c>dotnet</c> muxer, for tests that start a built framework-dependent app (<c>dotnet app.dll</c>).</summary>
public static class DotnetHost
{
    /// <summary>The muxer that runs this test (<c>dotnet test</c> sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string Find()
    {
        string? processPath = Environment.ProcessPath;
        if (processPath is not null && Path.GetFileNameWithoutExtension(processPath) == "dotnet")
        {
            return processPath;
        }

        string? hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(hostPath) && File.Exists(hostPath) ? hostPath : "dotnet";
    }
}
