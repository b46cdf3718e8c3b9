using System.Net;

namespace Sockeye.Server.Rules;

/// <summary>
/// Lists the proxy host's own addresses and reports when they may have changed, for <see cref="HostAddresses"/>. A
/// seam so that tests, which may only use loopback, can make a loopback address stand for "an address of this host".
/// </summary>
internal interface IHostAddressProvider
{
    /// <summary>Every unicast address of every interface of the host, now.</summary>
    /// <exception cref="System.Net.NetworkInformation.NetworkInformationException">The interfaces could not be listed.</exception>
    IReadOnlyList<IPAddress> GetAddresses();

    /// <summary>
    /// Calls <paramref name="onChanged"/> whenever the addresses may have changed, from any thread, until the returned
    /// registration is disposed; <see langword="null"/> when this platform gives no such news.
    /// </summary>
    IDisposable? WatchChanges(Action onChanged);
}
