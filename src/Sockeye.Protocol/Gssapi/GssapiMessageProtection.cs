using System.Net.Security;

namespace Sockeye.Protocol.Gssapi;

/// <summary>
/// Per-message protection (RFC 1961 §5) over an established GSSAPI security context at the level agreed: wraps
/// plaintext into whole MTYP X'03' messages and unwraps their tokens, for a connection's stream and for UDP datagrams
/// alike, on either side. Owns the context and disposes it. No I/O.
/// </summary>
/// <remarks>
/// A connection's two directions (or an association's two) use one context at once, from different threads; the
/// GSSAPI library does not promise that one context may be used by two threads at a time, so every call holds a lock.
/// The calls are short (one message's cryptography), and the directions rarely meet. Once disposed, a wrap or unwrap
/// fails (as a value, not an exception): whatever is still on its way, such as a datagram in a pump, is dropped.
/// </remarks>
public sealed class GssapiMessageProtection : IDisposable
{
    /// <summary>
    /// The most plaintext a sender should put in one message. A wrap token adds up to about 60 bytes to it (RFC 4121 with
    /// AES: a 16-byte header, a 16-byte confounder, the encrypted header copy and a 12-byte checksum), far within the
    /// two-byte length, and 16 KiB keeps a message to a TLS record's size, which a receiver unwraps whole from a modest
    /// buffer. Receivers take any size the length allows.
    /// </summary>
    public const int MaxPlaintextPerMessage = 16 * 1024;

    /// <summary>
    /// The most a wrap token adds to its plaintext, with room to spare: what framing must leave beyond a payload that is
    /// wrapped whole, such as a UDP datagram.
    /// </summary>
    public const int MaxWrapOverhead = 256;

    private readonly NegotiateAuthentication _context;
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <summary>Protection at <paramref name="level"/> with <paramref name="context"/>, whose ownership it takes.</summary>
    /// <param name="context">A context that has completed authentication.</param>
    /// <param name="level">The level granted: integrity, confidentiality or selective (none wraps nothing).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="level"/> is none or not a level.</exception>
    public GssapiMessageProtection(NegotiateAuthentication context, GssapiProtectionLevel level)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (level is not (GssapiProtectionLevel.Integrity or GssapiProtectionLevel.Confidentiality or GssapiProtectionLevel.Selective))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "Only integrity, confidentiality and selective protection wrap messages.");
        }

        _context = context;
        Level = level;
    }

    /// <summary>The level agreed.</summary>
    public GssapiProtectionLevel Level { get; }

    /// <summary>
    /// Whether what is sent is encrypted (conf_req_flag): at confidentiality, as RFC 1961 §5 requires, and at selective,
    /// where the choice is the sender's.
    /// </summary>
    public bool Encrypts => Level is GssapiProtectionLevel.Confidentiality or GssapiProtectionLevel.Selective;

    /// <summary>Whether a message received must have been encrypted: at confidentiality.</summary>
    public bool RequiresEncryption => Level == GssapiProtectionLevel.Confidentiality;

    /// <summary>
    /// Wraps <paramref name="plaintext"/> and appends the whole MTYP X'03' message (header and token) to
    /// <paramref name="output"/>. False, with the reason, when the context cannot wrap it, did not encrypt at a level
    /// that requires it, or the token exceeds the two-byte length.
    /// </summary>
    public bool TryWrapMessage(ReadOnlySpan<byte> plaintext, PooledBufferWriter output, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(output);
        int headerAt = output.WrittenCount;
        output.GetSpan(GssapiMessage.HeaderLength);
        output.Advance(GssapiMessage.HeaderLength);
        NegotiateAuthenticationStatusCode status;
        bool encrypted = false;
        lock (_lock)
        {
            status = _disposed ? NegotiateAuthenticationStatusCode.ContextExpired : _context.Wrap(plaintext, output, Encrypts, out encrypted);
        }

        int tokenLength = output.WrittenCount - headerAt - GssapiMessage.HeaderLength;
        problem = status != NegotiateAuthenticationStatusCode.Completed ? $"{plaintext.Length} bytes could not be wrapped ({status})"
            : Encrypts && !encrypted ? $"{plaintext.Length} bytes were wrapped without encryption at protection level {Level}"
            : tokenLength > ushort.MaxValue ? $"{plaintext.Length} bytes wrap into a token of {tokenLength} bytes, more than a message carries"
            : null;
        if (problem is not null)
        {
            output.Truncate(headerAt);
            return false;
        }

        GssapiMessage.WriteHeader(GssapiMessageType.Encapsulation, tokenLength, output.WrittenSpanFrom(headerAt));
        return true;
    }

    /// <summary>
    /// Unwraps the token of an MTYP X'03' message in place: the plaintext is <paramref name="token"/>'s
    /// [<paramref name="offset"/>, +<paramref name="length"/>). False, with the reason, when it does not unwrap (altered,
    /// replayed or out of order where the context checks that, another context's) or was not encrypted at confidentiality.
    /// </summary>
    public bool TryUnwrapInPlace(Span<byte> token, out int offset, out int length, out string? problem)
    {
        NegotiateAuthenticationStatusCode status;
        bool encrypted = false;
        (offset, length) = (0, 0);
        lock (_lock)
        {
            status = _disposed ? NegotiateAuthenticationStatusCode.ContextExpired : _context.UnwrapInPlace(token, out offset, out length, out encrypted);
        }

        problem = status != NegotiateAuthenticationStatusCode.Completed ? $"a message did not unwrap ({status})"
            : RequiresEncryption && !encrypted ? "a message was not encrypted at protection level confidentiality"
            : null;
        return problem is null;
    }

    /// <summary>Releases the security context.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _disposed = true;
                _context.Dispose();
            }
        }
    }
}
