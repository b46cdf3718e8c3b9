using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Sockeye.Client.Gssapi;
using Sockeye.Protocol;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Handshake;

/// <summary>SOCKS5 method X'01', GSSAPI (RFC 1961): context establishment, protection level, and the protected stream.</summary>
internal sealed partial class ProxyHandshake
{
    // Kerberos needs one round (two with mutual authentication); the bound only stops a peer that never completes.
    private const int MaxContextRounds = 8;

    private GssapiStream? _protected; // owns until taken: the outermost protected stream, the one the handshake speaks over

    /// <summary>
    /// Whether a hop may grant a protection level above none: only when there is someone to hand the protected stream to
    /// (<see cref="Socks5Client"/>), not for <see cref="ProxyChain"/>, whose caller keeps its own stream.
    /// </summary>
    public bool ProtectionAllowed { get; init; }

    /// <summary>The protected stream the last <see cref="NegotiateAsync"/> set up, if its hop granted protection.</summary>
    public GssapiStream? HopProtectedStream { get; private set; }

    /// <summary>The protection level the last negotiated hop granted; none without GSSAPI.</summary>
    public GssapiProtectionLevel HopProtectionLevel { get; private set; }

    /// <summary>
    /// The outermost protected stream, which from now on belongs to the caller (and owns the connection's stream under
    /// it); <see langword="null"/> when no hop granted protection.
    /// </summary>
    public GssapiStream? TakeProtectedStream() => Interlocked.Exchange(ref _protected, null);

    /// <summary>A new hop: nothing it granted yet (the streams of earlier hops stay, under whatever this one sets up).</summary>
    private void ResetHopProtection()
    {
        HopProtectedStream = null;
        HopProtectionLevel = GssapiProtectionLevel.None;
    }

    private async Task AuthenticateGssapiAsync(GssapiClientOptions options, CancellationToken cancellationToken)
    {
        Step = HandshakeStep.GssapiContext;
        string targetName = options.TargetNameFor(Hop.Proxy);
        NegotiateAuthentication context;
        try
        {
            context = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
            {
                Package = "Kerberos",
                TargetName = targetName,
                Credential = CredentialCache.DefaultNetworkCredentials,
                RequireMutualAuthentication = options.RequireMutualAuthentication,
                RequiredProtectionLevel = options.ProtectionLevel switch
                {
                    GssapiProtectionLevel.None => ProtectionLevel.None,
                    GssapiProtectionLevel.Integrity => ProtectionLevel.Sign,
                    _ => ProtectionLevel.EncryptAndSign,
                },
            });
        }
        catch (PlatformNotSupportedException e)
        {
            throw new SocksException(SocksError.AuthenticationFailed,
                $"GSSAPI is not available on this machine for {Hop}: {e.Message}", null, Hop.Proxy, e);
        }

        // Every GSSAPI message the proxy sends can have a token of 65 535 bytes; the handshake's buffer is smaller.
        byte[] messages = ArrayPool<byte>.Shared.Rent(MessageParsers.Gssapi.MaxLength);
        bool handedOver = false;
        try
        {
            await EstablishContextAsync(context, options, targetName, messages, cancellationToken).ConfigureAwait(false);
            Step = HandshakeStep.GssapiProtection;
            byte granted = await NegotiateProtectionAsync(context, options, messages, cancellationToken).ConfigureAwait(false);
            if (granted > (byte)GssapiProtectionLevel.Selective)
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.GssapiBadProtectionAnswer(Hop, $"grants level X'{granted:X2}', which RFC 1961 does not define");
            }

            var level = (GssapiProtectionLevel)granted;
            if (!options.Accepts(level))
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.ProtectionBelowMinimum(Hop, granted, options.EffectiveMinimumProtectionLevel.ToString());
            }

            if (level != GssapiProtectionLevel.None)
            {
                if (!ProtectionAllowed)
                {
                    await AbortAsync().ConfigureAwait(false);
                    throw SocksErrors.ProtectionNotCarried(Hop, granted);
                }

                // From here on every byte, this hop's request and reply and whatever the next hops say, is wrapped.
                var stream = new GssapiStream(Stream, new GssapiMessageProtection(context, level));
                handedOver = true;
                _stream = stream;
                _protected = stream;
                HopProtectedStream = stream;
            }

            HopProtectionLevel = level;
        }
        finally
        {
            if (!handedOver)
            {
                context.Dispose();
            }

            ArrayPool<byte>.Shared.Return(messages, clearArray: true);
        }
    }

    /// <summary>RFC 1961 §3: tokens both ways until the initiator is done, then the proxy's identity checked if asked.</summary>
    private async Task EstablishContextAsync(
        NegotiateAuthentication context, GssapiClientOptions options, string targetName, byte[] messages, CancellationToken cancellationToken)
    {
        int incomingLength = 0;
        for (int round = 1; ; round++)
        {
            ReadOnlySpan<byte> incoming = messages.AsSpan(GssapiMessage.HeaderLength, incomingLength);
            byte[]? token = context.GetOutgoingBlob(incoming, out NegotiateAuthenticationStatusCode status);
            if (status is not (NegotiateAuthenticationStatusCode.Completed or NegotiateAuthenticationStatusCode.ContinueNeeded))
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.GssapiFailedHere(Hop, targetName, status.ToString());
            }

            if (token is { Length: > 0 })
            {
                if (token.Length > GssapiMessage.MaxTokenLength)
                {
                    await AbortAsync().ConfigureAwait(false);
                    throw SocksErrors.GssapiFailedHere(Hop, targetName, $"a token of {token.Length} bytes, more than a message carries");
                }

                int length = GssapiMessage.Write(GssapiMessageType.Context, token, messages);
                await SendAsync(messages, length, cancellationToken).ConfigureAwait(false);
            }

            if (status == NegotiateAuthenticationStatusCode.Completed)
            {
                break;
            }

            if (round == MaxContextRounds)
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.GssapiTooManyRounds(Hop, MaxContextRounds);
            }

            GssapiMessage answer = await ReceiveAsync<MessageParsers.Gssapi, GssapiMessage, GssapiParseError>(messages, cancellationToken).ConfigureAwait(false);
            if (answer.Type == GssapiMessageType.Abort)
            {
                throw SocksErrors.GssapiAborted(Hop, Step, targetName);
            }

            if (answer.Type != GssapiMessageType.Context)
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.GssapiUnexpectedMessage(Hop, Step, (byte)answer.Type);
            }

            // The token is in place after the header; the next GetOutgoingBlob reads it from there.
            incomingLength = (int)answer.Token.Length;
        }

        if (options.RequireMutualAuthentication && !context.IsMutuallyAuthenticated)
        {
            await AbortAsync().ConfigureAwait(false);
            throw SocksErrors.GssapiNotMutual(Hop, targetName);
        }
    }

    /// <summary>RFC 1961 §4: the level asked, wrapped (or plain in NEC's variant); returns the level byte granted.</summary>
    private async Task<byte> NegotiateProtectionAsync(
        NegotiateAuthentication context, GssapiClientOptions options, byte[] messages, CancellationToken cancellationToken)
    {
        ReadOnlySpan<byte> asked = [(byte)options.ProtectionLevel];
        int length;
        if (options.UseNecProtectionNegotiation)
        {
            length = GssapiMessage.Write(GssapiMessageType.ProtectionNegotiation, asked, messages);
        }
        else
        {
            using var wrapped = new PooledBufferWriter(256);
            NegotiateAuthenticationStatusCode status = context.Wrap(asked, wrapped, requestEncryption: false, out _);
            if (status != NegotiateAuthenticationStatusCode.Completed)
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.GssapiFailedHere(Hop, options.TargetNameFor(Hop.Proxy), $"wrapping the protection level: {status}");
            }

            length = GssapiMessage.Write(GssapiMessageType.ProtectionNegotiation, wrapped.WrittenSpan, messages);
        }

        await SendAsync(messages, length, cancellationToken).ConfigureAwait(false);
        GssapiMessage answer = await ReceiveAsync<MessageParsers.Gssapi, GssapiMessage, GssapiParseError>(messages, cancellationToken).ConfigureAwait(false);
        if (answer.Type == GssapiMessageType.Context && context.IsAuthenticated)
        {
            // A context token after the initiator was done: an acceptor that answers with its AP-REP although mutual
            // authentication was not asked (RFC 1961 §3.3 has it send whatever its accept call produced). The context
            // has nothing left to take it; the protection answer follows, and its wrapping proves the acceptor anyway.
            answer = await ReceiveAsync<MessageParsers.Gssapi, GssapiMessage, GssapiParseError>(messages, cancellationToken).ConfigureAwait(false);
        }

        if (answer.Type == GssapiMessageType.Abort)
        {
            throw SocksErrors.GssapiAborted(Hop, Step, options.TargetNameFor(Hop.Proxy));
        }

        if (answer.Type != GssapiMessageType.ProtectionNegotiation)
        {
            await AbortAsync().ConfigureAwait(false);
            throw SocksErrors.GssapiUnexpectedMessage(Hop, Step, (byte)answer.Type);
        }

        int tokenLength = (int)answer.Token.Length;
        if (options.UseNecProtectionNegotiation)
        {
            if (tokenLength != 1)
            {
                await AbortAsync().ConfigureAwait(false);
                throw SocksErrors.GssapiBadProtectionAnswer(Hop, $"is {tokenLength} bytes, not NEC's one plain byte");
            }

            return messages[GssapiMessage.HeaderLength];
        }

        NegotiateAuthenticationStatusCode unwrapped = context.UnwrapInPlace(
            messages.AsSpan(GssapiMessage.HeaderLength, tokenLength), out int offset, out int plainLength, out _);
        if (unwrapped != NegotiateAuthenticationStatusCode.Completed || plainLength != 1)
        {
            await AbortAsync().ConfigureAwait(false);
            throw SocksErrors.GssapiBadProtectionAnswer(Hop,
                unwrapped != NegotiateAuthenticationStatusCode.Completed ? $"does not unwrap ({unwrapped})" : $"unwraps to {plainLength} bytes, not one");
        }

        return messages[GssapiMessage.HeaderLength + offset];
    }

    /// <summary>Sends X'01 FF' (RFC 1961 §3.4) before the handshake gives up; the connection is closed by its owner after.</summary>
    private async Task AbortAsync()
    {
        try
        {
            int length = GssapiMessage.WriteAbort(Buffer);
            using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await SendAsync(Buffer, length, quick.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Best effort: the proxy may be gone already, and the failure the caller gets says what happened.
        }
    }
}
