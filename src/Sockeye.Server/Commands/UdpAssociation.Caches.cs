using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>The small per-association caches that keep the datagram path free of allocations.</summary>
internal sealed partial class UdpAssociation
{
    /// <summary>
    /// Header address bytes (ATYP, ADDR, PORT as on the wire) → destination <see cref="SocketAddress"/>. A flow talks to
    /// few destinations, so a handful of entries replaced round-robin covers it; a miss only costs one allocation.
    /// </summary>
    private sealed class DestinationRoutes
    {
        private const int Capacity = 8;

        private readonly byte[][] _keys = new byte[Capacity][];
        private readonly int[] _keyLengths = new int[Capacity];
        private readonly SocketAddress?[] _destinations = new SocketAddress?[Capacity];
        private int _next;

        public SocketAddress? Find(ReadOnlySpan<byte> key)
        {
            for (int i = 0; i < Capacity; i++)
            {
                SocketAddress? destination = _destinations[i];
                if (destination is not null && key.SequenceEqual(_keys[i].AsSpan(0, _keyLengths[i])))
                {
                    return destination;
                }
            }

            return null;
        }

        public void Remember(ReadOnlySpan<byte> key, SocketAddress destination)
        {
            int slot = _next;
            _next = (_next + 1) % Capacity;
            byte[] stored = _keys[slot] ??= new byte[Socks5Limits.MaxAddressWithPortLength];
            key.CopyTo(stored);
            _keyLengths[slot] = key.Length;
            _destinations[slot] = destination;
        }
    }

    /// <summary>Source <see cref="SocketAddress"/> → the header bytes naming it, for the datagrams a destination sends back.</summary>
    private sealed class SourceHeaders
    {
        private const int Capacity = 8;

        private readonly SocketAddress?[] _sources = new SocketAddress?[Capacity];
        private readonly byte[][] _headers = new byte[Capacity][];
        private readonly int[] _headerLengths = new int[Capacity];
        private int _next;

        public ReadOnlySpan<byte> Get(SocketAddress source)
        {
            for (int i = 0; i < Capacity; i++)
            {
                if (_sources[i] is { } known && known.Equals(source))
                {
                    return _headers[i].AsSpan(0, _headerLengths[i]);
                }
            }

            int slot = _next;
            _next = (_next + 1) % Capacity;
            var endPoint = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(source);
            IPAddress address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
            byte[] header = _headers[slot] ??= new byte[DatagramPump.ReplyHeaderRoom];
            _headerLengths[slot] = Socks5UdpHeader.Write(header, 0, Socks5Address.FromIPAddress(address), (ushort)endPoint.Port);
            var copy = new SocketAddress(source.Family, source.Size);
            source.Buffer.Span[..source.Size].CopyTo(copy.Buffer.Span);
            _sources[slot] = copy;
            return header.AsSpan(0, _headerLengths[slot]);
        }
    }
}
