using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Tests.TestSupport;

/// <summary>A TCP-side parser with its message discarded, so one harness can drive every message type.</summary>
internal delegate bool TryParseFunc(ref SequenceReader<byte> reader, out Socks5ParseError error);
