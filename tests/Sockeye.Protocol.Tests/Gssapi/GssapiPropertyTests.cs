using System.Buffers;
using CsCheck;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Gssapi;

/// <summary>CsCheck properties of the RFC 1961 message parser: round trips, and any bytes in any split.</summary>
public class GssapiPropertyTests
{
    private const int RoundTrips = 1000;
    private const int HostileInputs = 2000;

    // Small enough that hostile bytes often claim more, large enough for the generated tokens.
    private const int TokenBound = 300;

    private static readonly Gen<GssapiMessageType> TokenType = Gen.OneOf(GssapiMessageType.Context, GssapiMessageType.ProtectionNegotiation, GssapiMessageType.Encapsulation);

    /// <summary>Tokens of 1 to <see cref="TokenBound"/> bytes, the edge lengths more often than chance would give them.</summary>
    private static readonly Gen<byte[]> Token = Gen.Frequency((1, Gen.OneOf(1, 2, 255, 256, TokenBound)), (3, Gen.Int[1, TokenBound])).SelectMany(static length => Gen.Byte.Array[length]);

    private static readonly Gen<Summary> Message = Gen.Frequency(
        (8, Gen.Select(TokenType, Token, static (type, token) => new Summary(type, Convert.ToHexString(token)))),
        (1, Gen.Const(new Summary(GssapiMessageType.Abort, string.Empty))));

    private static readonly Gen<int[]> Cuts = Gen.Int.Array[0, 6];

    private static readonly TryParseMessage<Summary, GssapiParseError> Parse = static (ref SequenceReader<byte> reader, out Summary summary, out GssapiParseError error) =>
    {
        summary = default;
        if (!GssapiMessage.TryParse(ref reader, TokenBound, out GssapiMessage message, out error))
        {
            return false;
        }

        summary = new Summary(message.Type, Convert.ToHexString(message.Token.ToArray()));
        return true;
    };

    [Fact]
    public void Message_WrittenThenParsed_IsTheSameMessageInAnySplit() =>
        Gen.Select(Message, Cuts).Sample(static (message, cuts) =>
        {
            byte[] written = Written(message);
            ParseOutcome<Summary, GssapiParseError> outcome = ParseOutcome.SameInEverySplit(written, cuts, Parse);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(message, outcome.Message);
            Assert.Equal(written.Length, outcome.Consumed);
        }, iter: RoundTrips);

    [Fact]
    public void Message_AnyBytes_SameOutcomeInEverySplitAndWrittenBackAsRead()
    {
        var tally = new ParseOutcome.Tally();

        // Besides damaged messages, headers whose LEN claims anything, so that the bound and empty tokens come up.
        Gen<byte[]> claims = Gen.Select(Gen.Byte, Gen.UShort, Gen.Byte.Array[0, 8], static (type, length, rest) => (byte[])[GssapiMessage.Version, type, (byte)(length >> 8), (byte)length, .. rest]);
        Gen.Select(Gen.Frequency((3, ProtocolGen.Hostile(Message.Select(static m => Written(m)))), (1, claims)), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<Summary, GssapiParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, Parse);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(bytes[..(int)outcome.Consumed], Written(outcome.Message));
            }
        }, iter: HostileInputs);

        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    private static byte[] Written(Summary message)
    {
        if (message.Type == GssapiMessageType.Abort)
        {
            byte[] abort = new byte[GssapiMessage.AbortLength];
            GssapiMessage.WriteAbort(abort);
            return abort;
        }

        byte[] token = Convert.FromHexString(message.Token);
        byte[] written = new byte[GssapiMessage.HeaderLength + token.Length];
        Assert.Equal(written.Length, GssapiMessage.Write(message.Type, token, written));
        return written;
    }

    /// <summary>A parsed message as a comparable value: its type and its token in hex.</summary>
    private readonly record struct Summary(GssapiMessageType Type, string Token);
}
