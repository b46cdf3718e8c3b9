using System.Buffers;
using CsCheck;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Protocol.Tests.UsernamePassword;

/// <summary>CsCheck properties of the RFC 1929 request and reply parsers: round trips, and any bytes in any split.</summary>
public class UsernamePasswordPropertyTests
{
    private const int RoundTrips = 1000;
    private const int HostileInputs = 1500;

    /// <summary>UNAME or PASSWD: any bytes, 1 to 255 of them, the edge lengths more often than chance would give them.</summary>
    private static readonly Gen<byte[]> Field = Gen.Frequency((1, Gen.OneOf(1, 2, 254, 255)), (3, Gen.Int[1, 255])).SelectMany(static length => Gen.Byte.Array[length]);

    private static readonly Gen<Credentials> Request = Gen.Select(Field, Field, static (username, password) => new Credentials(username, password));

    private static readonly Gen<int[]> Cuts = Gen.Int.Array[0, 6];

    private static readonly TryParseMessage<UsernamePasswordReply, Socks5ParseError> ParseReply = UsernamePasswordReply.TryParse;

    /// <summary>
    /// The request parser, with a fresh scratch buffer as its contract asks (at least <see cref="UsernamePasswordRequest.ScratchLength"/>
    /// bytes), filled with a marker so that a field read from stale scratch rather than from the wire would show. The
    /// request's spans must point into the scratch, and are copied out before it goes.
    /// </summary>
    private static readonly TryParseMessage<Credentials, Socks5ParseError> ParseRequest = static (ref SequenceReader<byte> reader, out Credentials credentials, out Socks5ParseError error) =>
    {
        byte[] scratch = new byte[UsernamePasswordRequest.ScratchLength];
        scratch.AsSpan().Fill(ParserAssert.LeadByte);
        credentials = default;
        if (!UsernamePasswordRequest.TryParse(ref reader, scratch, out UsernamePasswordRequest request, out error))
        {
            return false;
        }

        Assert.True(scratch.AsSpan().Overlaps(request.Username) && scratch.AsSpan().Overlaps(request.Password), "a field does not point into the scratch buffer");
        credentials = new Credentials(request.Username.ToArray(), request.Password.ToArray());
        return true;
    };

    [Fact]
    public void Request_WrittenThenParsed_IsTheSameCredentialsInAnySplit() =>
        Gen.Select(Request, Cuts).Sample(static (credentials, cuts) =>
        {
            byte[] written = Written(credentials);
            Assert.Equal(3 + credentials.Username.Length + credentials.Password.Length, written.Length);
            ParseOutcome<Credentials, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(written, cuts, ParseRequest);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(credentials, outcome.Message);
            Assert.Equal(written.Length, outcome.Consumed);
        }, iter: RoundTrips);

    [Fact]
    public void Request_AnyBytes_SameOutcomeInEverySplitAndWrittenBackAsRead()
    {
        var tally = new ParseOutcome.Tally();
        Gen.Select(ProtocolGen.Hostile(Request.Select(static c => Written(c))), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<Credentials, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, ParseRequest);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(bytes[..(int)outcome.Consumed], Written(outcome.Message));
            }
        }, iter: HostileInputs);
        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    [Fact]
    public void Reply_EveryStatusWrittenThenParsed_IsTheSameReplyInAnySplit()
    {
        for (int status = 0; status <= byte.MaxValue; status++)
        {
            var reply = new UsernamePasswordReply((byte)status);
            byte[] written = new byte[UsernamePasswordReply.Length];
            Assert.Equal(UsernamePasswordReply.Length, reply.Write(written));
            ParseOutcome<UsernamePasswordReply, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(written, [1], ParseReply);
            Assert.True(outcome.Parsed, $"status {status}: {outcome.Error}");
            Assert.Equal(reply, outcome.Message);
            Assert.Equal(UsernamePasswordReply.Length, outcome.Consumed);
        }
    }

    [Fact]
    public void Reply_AnyBytes_SameOutcomeInEverySplitAndWrittenBackAsRead()
    {
        var tally = new ParseOutcome.Tally();
        Gen<byte[]> valid = Gen.Byte.Select(static status => (byte[])[UsernamePasswordRequest.Version, status]);
        Gen.Select(ProtocolGen.Hostile(valid, maxNoise: 4), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<UsernamePasswordReply, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, ParseReply);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                byte[] written = new byte[UsernamePasswordReply.Length];
                outcome.Message.Write(written);
                Assert.Equal(bytes[..2], written);
            }
        }, iter: HostileInputs);
        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    private static byte[] Written(Credentials credentials)
    {
        var request = new UsernamePasswordRequest(credentials.Username, credentials.Password);
        byte[] buffer = new byte[request.WireLength];
        Assert.Equal(buffer.Length, request.Write(buffer));
        return buffer;
    }

    /// <summary>A request's fields as arrays, compared by content, because the request itself is a ref struct over scratch.</summary>
    private readonly record struct Credentials(byte[] Username, byte[] Password)
    {
        public bool Equals(Credentials other) =>
            Username.AsSpan().SequenceEqual(other.Username) && Password.AsSpan().SequenceEqual(other.Password);

        public override int GetHashCode() => HashCode.Combine(Username.AsSpan().Length, Password.AsSpan().Length);

        public override string ToString() => $"{Hex.Format(Username)}:{Hex.Format(Password)}";
    }
}
