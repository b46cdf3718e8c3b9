namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>Tests that count the process's file descriptors must not share the process with other tests' sockets.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideResources
{
    public const string Name = "Counts process-wide resources";
}
