using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Tests.Rules;

/// <summary>The real interfaces of the machine the tests run on: listed only, never contacted.</summary>
public sealed class SystemHostAddressProviderTests
{
    [Fact]
    public void Snapshot_HoldsLoopbackAndEveryAddressTheInterfacesReport()
    {
        var host = new HostAddresses(SystemHostAddressProvider.Instance, TimeProvider.System, NullLogger.Instance);

        host.Refresh();

        Assert.True(host.Contains(IPAddress.Loopback));
        foreach (NetworkInterface networkInterface in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (UnicastIPAddressInformation unicast in networkInterface.GetIPProperties().UnicastAddresses)
            {
                Assert.True(host.Contains(unicast.Address), $"{unicast.Address} of {networkInterface.Name} is missing");
            }
        }
    }

    [Fact]
    public void StartThenDispose_ListsAndLetsGoOfTheSystemsChangeNews()
    {
        var host = new HostAddresses(SystemHostAddressProvider.Instance, TimeProvider.System, NullLogger.Instance);

        host.Start();
        host.Dispose();

        Assert.True(host.Contains(IPAddress.Loopback));
    }
}
