using System.Net;

namespace Sockeye.Server.Commands;

/// <summary>Turns a destination name into addresses. A seam so tests can answer "not found" without asking real DNS.</summary>
internal interface IHostResolver
{
    /// <summary>Resolves <paramref name="host"/>; throws <see cref="System.Net.Sockets.SocketException"/> when it cannot.</summary>
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}
