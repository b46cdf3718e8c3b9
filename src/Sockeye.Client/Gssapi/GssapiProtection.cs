using System.Buffers;
using System.Net.Security;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Gssapi;

/// <summary>
/// An established GSSAPI security context and the protection level the proxy granted (RFC 1961 §4): wraps and unwraps
/// per-message tokens for the connection's stream and for UDP datagrams, one call at a time, since a GSSAPI context is
/// not safe for concurrent use and a connection's reads and writes (or an association's sends and receives) run at once.
/// Owns the context.
/// </summary>
internal sealed class GssapiProtection : IDisposable
{
    private readonly NegotiateAuthentication _context;
    private readonly Lock _lock = new();
    private bool _disposed;

    public GssapiProtection(NegotiateAuthentication context, GssapiProtectionLevel level)
    {
        _context = context;
        Level = level;
    }

    /// <summary>The level granted: integrity, confidentiality or selective (never none: there is nothing to wrap then).</summary>
    public GssapiProtectionLevel Level { get; }

    /// <summary>Whether sent messages are encrypted: at confidentiality, and at selective, where the choice is ours.</summary>
    private bool Encrypts => Level is GssapiProtectionLevel.Confidentiality or GssapiProtectionLevel.Selective;

    /// <summary>Whether a received message must have been encrypted: at confidentiality only.</summary>
    private bool RequiresEncryption => Level == GssapiProtectionLevel.Confidentiality;

    /// <summary>Appends gss_wrap(<paramref name="plaintext"/>) to <paramref name="destination"/>.</summary>
    /// <exception cref="IOException">The context could not wrap, or did not encrypt at confidentiality.</exception>
    /// <exception cref="ObjectDisposedException">The context was released.</exception>
    public void Wrap(ReadOnlySpan<byte> plaintext, IBufferWriter<byte> destination)
    {
        NegotiateAuthenticationStatusCode status;
        bool encrypted;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            status = _context.Wrap(plaintext, destination, Encrypts, out encrypted);
        }

        if (status != NegotiateAuthenticationStatusCode.Completed)
        {
            throw new IOException($"GSSAPI could not wrap a message ({status}).");
        }

        if (Encrypts && !encrypted)
        {
            throw new IOException($"GSSAPI wrapped a message without encrypting it at protection level {Level}.");
        }
    }

    /// <summary>
    /// gss_unwrap of <paramref name="token"/> in place: the plaintext is <c>token[offset..(offset + length)]</c>.
    /// <see langword="false"/> with the reason when the token does not unwrap (altered, replayed, not this context's), or
    /// was not encrypted at confidentiality.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The context was released.</exception>
    public bool TryUnwrapInPlace(Span<byte> token, out int offset, out int length, out string? failure)
    {
        NegotiateAuthenticationStatusCode status;
        bool encrypted;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            status = _context.UnwrapInPlace(token, out offset, out length, out encrypted);
        }

        if (status != NegotiateAuthenticationStatusCode.Completed)
        {
            failure = $"a token did not unwrap ({status})";
            return false;
        }

        if (RequiresEncryption && !encrypted)
        {
            failure = "a message was not encrypted, at protection level Confidentiality";
            return false;
        }

        failure = null;
        return true;
    }

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
