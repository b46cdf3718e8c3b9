using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Interop;
using Sockeye.Server.Transport.Linux;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// A disposed <see cref="EpollLoop"/> makes no system call on the numbers its descriptors had, which the kernel gives to
/// the next descriptors opened. Alone in the process, so that those are this test's.
/// </summary>
[SupportedOSPlatform("linux")]
[Collection(ProcessWideResources.Name)]
public sealed class EpollLoopDisposalTests
{
    [LinuxFact]
    public void Post_AfterDispose_WritesNothingToTheDescriptorThatNowHasTheWakeUpsNumber()
    {
        HashSet<int> eventFdsBefore = EventFds();
        var loop = new EpollLoop("disposal-test", 2048, NullLogger.Instance);
        int wake = Assert.Single(EventFds().Except(eventFdsBefore));
        loop.Dispose();

        // The kernel gives out the lowest free number: within a few new eventfds, one has the loop's old number.
        var opened = new List<DescriptorHandle>();
        try
        {
            DescriptorHandle? reused = null;
            while (reused is null && opened.Count < 64)
            {
                var eventFd = new DescriptorHandle(Libc.eventfd(0, Libc.OCloexec | Libc.ONonblock));
                Assert.False(eventFd.IsInvalid);
                opened.Add(eventFd);
                reused = eventFd.Descriptor == wake ? eventFd : null;
            }

            Assert.True(reused is not null, $"no new eventfd was given number {wake}");

            // A BIND listener disposed off the loop after the server stopped posts its close like this.
            loop.Post(() => { });

            // read(2) of an eventfd: its counter, or EAGAIN while nothing was written to it.
            Assert.Equal(-1, LinuxSplice.Read(reused.Descriptor, new byte[sizeof(ulong)]));
            Assert.Equal(Errno.EAGAIN, Libc.LastError);
        }
        finally
        {
            foreach (DescriptorHandle eventFd in opened)
            {
                eventFd.Dispose();
            }
        }
    }

    private static HashSet<int> EventFds()
    {
        var found = new HashSet<int>();
        foreach (string entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(entry).LinkTarget == "anon_inode:[eventfd]")
                {
                    found.Add(int.Parse(Path.GetFileName(entry), System.Globalization.CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // Closed while listed.
            }
        }

        return found;
    }
}
