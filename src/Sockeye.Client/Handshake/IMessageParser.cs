using System.Buffers;

namespace Sockeye.Client.Handshake;

/// <summary>Adapts one of the codec's <c>TryParse</c> methods, so one receive loop serves every SOCKS message the client reads.</summary>
/// <typeparam name="TMessage">The message the codec parses.</typeparam>
/// <typeparam name="TError">The codec's parse error; its default value (<c>None</c>) means "need more".</typeparam>
internal interface IMessageParser<TMessage, TError>
    where TError : struct, Enum
{
    /// <summary>The longest this message can be on the wire: the receive loop never reads further.</summary>
    static abstract int MaxLength { get; }

    /// <summary>
    /// How long the message is, as far as <paramref name="received"/> tells: its whole length once that is known, else
    /// a length it surely has. The receive loop reads up to it and no further, because the stream under a handshake
    /// cannot be peeked at and a byte read past the message would be taken from whoever reads next.
    /// </summary>
    static abstract int LengthSoFar(ReadOnlySpan<byte> received);

    /// <summary>
    /// The codec's contract: <see langword="true"/> with the message and its length; <see langword="false"/> with
    /// the default error when more bytes are needed; <see langword="false"/> with an error when these bytes can never
    /// become the message.
    /// </summary>
    static abstract bool TryParse(ReadOnlySequence<byte> bytes, out TMessage message, out int consumed, out TError error);
}
