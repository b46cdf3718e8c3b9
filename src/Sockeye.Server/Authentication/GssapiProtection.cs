using System.Buffers;
using System.Net.Security;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Server.Authentication;

/// <summary>
/// The per-message protection of one GSSAPI session (RFC 1961 §5) at integrity or confidentiality: wraps what the
/// server sends into MTYP X'03' messages and unwraps what the client sends, with the security context the handshake
/// established. Owns that context and disposes it.
/// </summary>
/// <remarks>
/// One context serves both directions of a tunnel, and the two run at once on different threads; the GSSAPI library
/// does not promise that one context may be used by two threads at a time, so every call holds a lock. The calls are
/// short (one message's cryptography) and the directions rarely meet.
/// </remarks>
internal sealed class GssapiProtection : IDisposable
{
    /// <summary>
    /// The most plaintext put in one message. A wrap token adds up to about 60 bytes to it (RFC 4121 with AES: a
    /// 16-byte header, a 16-byte confounder, the encrypted header copy and a 12-byte checksum), far within the two-byte
    /// length, and 16 KiB keeps a message to a TLS record's size: the receiver can unwrap it whole from a modest buffer.
    /// </summary>
    public const int MaxPlaintextPerMessage = 16 * 1024;

    /// <summary>
    /// The most a wrap token adds to its plaintext, with room to spare: the framing must leave this much beyond a
    /// payload that is to be wrapped whole (a UDP datagram).
    /// </summary>
    public const int MaxWrapOverhead = 256;

    private readonly NegotiateAuthentication _context;
    private readonly Lock _lock = new();
    private int _disposed;

    public GssapiProtection(NegotiateAuthentication context, GssapiProtectionLevel level)
    {
        if (level is not (GssapiProtectionLevel.Integrity or GssapiProtectionLevel.Confidentiality))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "Only integrity and confidentiality wrap the messages.");
        }

        _context = context;
        Level = level;
    }

    /// <summary>The level agreed: integrity (conf_req_flag FALSE) or confidentiality (TRUE), RFC 1961 §5.</summary>
    public GssapiProtectionLevel Level { get; }

    private bool Encrypt => Level == GssapiProtectionLevel.Confidentiality;

    /// <summary>
    /// Wraps <paramref name="plaintext"/> (at most <see cref="MaxPlaintextPerMessage"/> bytes, or a datagram) and writes
    /// the whole MTYP X'03' message to <paramref name="output"/>; false, with the reason, when the context cannot wrap it
    /// or the token exceeds the two-byte length.
    /// </summary>
    public bool TryWrap(ReadOnlySpan<byte> plaintext, PooledWriter output, out string? problem)
    {
        int headerAt = output.WrittenCount;
        output.Advance(GssapiMessage.HeaderLength, reserve: true);
        NegotiateAuthenticationStatusCode status;
        lock (_lock)
        {
            // After the session's end, whatever is still on its way (a datagram in a pump) is dropped, not wrapped.
            status = _disposed == 0 ? _context.Wrap(plaintext, output, Encrypt, out _) : NegotiateAuthenticationStatusCode.ContextExpired;
        }

        int tokenLength = output.WrittenCount - headerAt - GssapiMessage.HeaderLength;
        if (status != NegotiateAuthenticationStatusCode.Completed || tokenLength > ushort.MaxValue)
        {
            problem = status != NegotiateAuthenticationStatusCode.Completed
                ? $"the context could not wrap {plaintext.Length} bytes ({status})"
                : $"{plaintext.Length} bytes wrap into a token of {tokenLength}, more than a message carries";
            return false;
        }

        GssapiMessage.WriteHeader(GssapiMessageType.Encapsulation, tokenLength, output.WrittenSpanFrom(headerAt));
        problem = null;
        return true;
    }

    /// <summary>
    /// Unwraps the token of an MTYP X'03' message in place: the plaintext is <paramref name="token"/>'s
    /// [<paramref name="offset"/>, +<paramref name="length"/>). False, with the reason, when it does not unwrap (tampered,
    /// replayed, out of order, another context's) or, at confidentiality, was not encrypted.
    /// </summary>
    public bool TryUnwrap(Span<byte> token, out int offset, out int length, out string? problem)
    {
        NegotiateAuthenticationStatusCode status;
        bool encrypted = false;
        (offset, length) = (0, 0);
        lock (_lock)
        {
            if (_disposed == 0)
            {
                status = _context.UnwrapInPlace(token, out offset, out length, out encrypted);
            }
            else
            {
                status = NegotiateAuthenticationStatusCode.ContextExpired;
            }
        }

        problem = status != NegotiateAuthenticationStatusCode.Completed ? $"a message did not unwrap ({status})"
            : Encrypt && !encrypted ? "a message was not encrypted at protection level confidentiality"
            : null;
        return problem is null;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed == 0)
            {
                _disposed = 1;
                _context.Dispose();
            }
        }
    }
}
