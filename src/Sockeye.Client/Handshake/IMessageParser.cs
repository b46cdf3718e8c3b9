using System.Buffers;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Handshake;

/// <summary>Adapts one of the codec's <c>TryParse</c> methods, so one receive loop serves every message the client reads.</summary>
/// <typeparam name="TMessage">The message the codec parses.</typeparam>
internal interface IMessageParser<TMessage>
{
    /// <summary>The longest this message can be on the wire: the receive loop never reads further.</summary>
    static abstract int MaxLength { get; }

    /// <summary>
    /// The codec's contract: <see langword="true"/> with the message and its length; <see langword="false"/> with
    /// <see cref="Socks5ParseError.None"/> when more bytes are needed; <see langword="false"/> with an error when these
    /// bytes can never become the message.
    /// </summary>
    static abstract bool TryParse(ReadOnlySequence<byte> bytes, out TMessage message, out int consumed, out Socks5ParseError error);
}
