using System.Net;
using System.Net.NetworkInformation;

namespace Sockeye.Server.Rules;

/// <summary>The host's interfaces as <see cref="NetworkInterface"/> lists them, and <see cref="NetworkChange"/>'s news.</summary>
internal sealed class SystemHostAddressProvider : IHostAddressProvider
{
    public static readonly SystemHostAddressProvider Instance = new();

    private SystemHostAddressProvider()
    {
    }

    public IReadOnlyList<IPAddress> GetAddresses()
    {
        var addresses = new List<IPAddress>();
        foreach (NetworkInterface networkInterface in NetworkInterface.GetAllNetworkInterfaces())
        {
            // Interfaces that are down too: one that comes up again answers on its addresses at once, before the next refresh.
            foreach (UnicastIPAddressInformation unicast in networkInterface.GetIPProperties().UnicastAddresses)
            {
                addresses.Add(unicast.Address);
            }
        }

        return addresses;
    }

    public IDisposable? WatchChanges(Action onChanged)
    {
        var registration = new Registration(onChanged);

        // The runtime captures the subscriber's ExecutionContext and runs the handler in it: suppress the flow, so that
        // the AsyncLocals of whoever started the server do not live as long as the subscription.
        bool restoreFlow = !ExecutionContext.IsFlowSuppressed();
        if (restoreFlow)
        {
            ExecutionContext.SuppressFlow();
        }

        try
        {
            NetworkChange.NetworkAddressChanged += registration.Handler;
            return registration;
        }
        catch (Exception e) when (e is NetworkInformationException or PlatformNotSupportedException)
        {
            // No news here (e.g. no netlink socket in a sandbox): the periodic refresh is all that keeps the addresses current.
            return null;
        }
        finally
        {
            if (restoreFlow)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }

    private sealed class Registration(Action onChanged) : IDisposable
    {
        public NetworkAddressChangedEventHandler Handler { get; } = (_, _) => onChanged();

        public void Dispose()
        {
            try
            {
                NetworkChange.NetworkAddressChanged -= Handler;
            }
            catch (NetworkInformationException)
            {
                // Ignored: the last unsubscription closes the runtime's netlink socket, and a failed close leaves
                // nothing for this server to undo.
            }
        }
    }
}
