using System.Buffers;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Gssapi;

public class GssapiMessageTests
{
    [Theory]
    [InlineData(GssapiMessageType.Context, "01 01 0003 60 81 A2")]
    [InlineData(GssapiMessageType.ProtectionNegotiation, "01 02 0001 00")]
    [InlineData(GssapiMessageType.Encapsulation, "01 03 0002 05 04")]
    public void TryParse_MessageWithToken_GivesTypeAndTokenAndConsumesIt(GssapiMessageType type, string hex)
    {
        byte[] bytes = [.. Hex.Parse(hex), 0xEE];
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out GssapiMessage message, out GssapiParseError error));

        Assert.Equal(GssapiParseError.None, error);
        Assert.Equal(type, message.Type);
        Assert.Equal(bytes[4..^1], message.Token.ToArray());
        Assert.Equal(bytes.Length - 1, reader.Consumed);
    }

    [Fact]
    public void TryParse_Abort_IsTwoBytesWithNoToken()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>([0x01, 0xFF, 0x01, 0x01]));

        Assert.True(GssapiMessage.TryParse(ref reader, 16, out GssapiMessage message, out _));

        Assert.Equal(GssapiMessageType.Abort, message.Type);
        Assert.True(message.Token.IsEmpty);
        Assert.Equal(2, reader.Consumed);
    }

    [Fact]
    public void TryParse_LargestToken_Parses()
    {
        byte[] token = new byte[GssapiMessage.MaxTokenLength];
        new Random(1961).NextBytes(token);
        byte[] bytes = new byte[GssapiMessage.HeaderLength + token.Length];
        Assert.Equal(bytes.Length, GssapiMessage.Write(GssapiMessageType.Context, token, bytes));
        Assert.Equal("0101FFFF", Hex.Format(bytes.AsSpan(0, 4)));

        var reader = new SequenceReader<byte>(Sequences.SplitAt(bytes, [3, 1000, 40000]));
        Assert.True(GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out GssapiMessage message, out _));
        Assert.Equal(token, message.Token.ToArray());
    }

    [Theory]
    [InlineData("05 01 0001 00", GssapiParseError.UnsupportedVersion)]
    [InlineData("00", GssapiParseError.UnsupportedVersion)]
    [InlineData("01 00", GssapiParseError.UnknownMessageType)]
    [InlineData("01 04 0001 00", GssapiParseError.UnknownMessageType)]
    [InlineData("01 FE", GssapiParseError.UnknownMessageType)]
    [InlineData("01 01 0000", GssapiParseError.EmptyToken)]
    [InlineData("01 03 0000 00", GssapiParseError.EmptyToken)]
    public void TryParse_Malformed_RefusedWithTheReason(string hex, GssapiParseError expected)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex.Parse(hex)));

        Assert.False(GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out _, out GssapiParseError error));

        Assert.Equal(expected, error);
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void TryParse_LengthPastTheBound_RefusedAtTheHeaderWithoutWaitingForTheToken()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex.Parse("01 01 0401")));

        Assert.False(GssapiMessage.TryParse(ref reader, 1024, out _, out GssapiParseError error));

        Assert.Equal(GssapiParseError.TokenTooLong, error);
    }

    [Fact]
    public void TryParse_LengthAtTheBound_WaitsForTheToken()
    {
        byte[] bytes = [.. Hex.Parse("01 01 0400"), .. new byte[1023]];
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.False(GssapiMessage.TryParse(ref reader, 1024, out _, out GssapiParseError error));

        Assert.Equal(GssapiParseError.None, error);
        Assert.Equal(0, reader.Consumed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("01")]
    [InlineData("01 01")]
    [InlineData("01 01 00")]
    [InlineData("01 01 0002 60")]
    public void TryParse_CutShort_NeedsMoreAndDoesNotMove(string hex)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex.Parse(hex)));

        Assert.False(GssapiMessage.TryParse(ref reader, GssapiMessage.MaxTokenLength, out _, out GssapiParseError error));

        Assert.Equal(GssapiParseError.None, error);
        Assert.Equal(0, reader.Consumed);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(GssapiMessage.MaxTokenLength + 1)]
    public void TryParse_BoundOutsideWhatLenCanSay_Throws(int bound)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex.Parse("01 01 0001 00")));
            GssapiMessage.TryParse(ref reader, bound, out _, out _);
        });
    }

    [Fact]
    public void Write_EmptyOrOversizedTokenOrAbortType_Throws()
    {
        byte[] destination = new byte[GssapiMessage.HeaderLength + GssapiMessage.MaxTokenLength + 1];
        Assert.Throws<ArgumentOutOfRangeException>(() => GssapiMessage.Write(GssapiMessageType.Context, [], destination));
        Assert.Throws<ArgumentOutOfRangeException>(() => GssapiMessage.Write(GssapiMessageType.Context, new byte[GssapiMessage.MaxTokenLength + 1], destination));
        Assert.Throws<ArgumentException>(() => GssapiMessage.Write(GssapiMessageType.Abort, [1], destination));
        Assert.Throws<ArgumentException>(() => GssapiMessage.WriteHeader((GssapiMessageType)0x04, 1, destination));
    }

    [Fact]
    public void WriteAbort_WritesVersionAndFF()
    {
        byte[] destination = new byte[2];
        Assert.Equal(2, GssapiMessage.WriteAbort(destination));
        Assert.Equal(new byte[] { 0x01, 0xFF }, destination);
    }
}
