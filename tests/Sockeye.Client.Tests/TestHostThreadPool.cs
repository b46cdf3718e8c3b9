using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Sockeye.Client.Tests;

/// <summary>
/// The test host keeps two thread-pool threads blocked for the whole run (vstest's message loop polls its socket
/// synchronously; the xunit adapter waits on a handle), and on this 2-core machine the pool starts with two threads.
/// Without more, a server under test gets no thread until the pool injects one, about 0.5 s later, and relays stall in
/// a way the daemon never does (seen with dotnet-stack, 2026-11-25). So tests start the pool as a real host would have it.
/// </summary>
internal static class TestHostThreadPool
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "A test assembly: it must run before any test does.")]
    internal static void Initialize()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(completionPorts, 16));
    }
}
