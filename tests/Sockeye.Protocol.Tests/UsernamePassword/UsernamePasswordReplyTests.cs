using System.Buffers;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Protocol.Tests.UsernamePassword;

public class UsernamePasswordReplyTests
{
    // The parser with its message discarded, for the split-point harness.
    private static bool Parse(ref SequenceReader<byte> reader, out Socks5ParseError error) =>
        UsernamePasswordReply.TryParse(ref reader, out _, out error);

    public static TheoryData<string, byte, bool> Valid => new()
    {
        { "01 00", 0x00, true },
        { "01 01", 0x01, false },
        { "01 FF", 0xFF, false },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidReply_ReadsStatusAndWritesSameBytes(string hex, byte status, bool isSuccess)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(UsernamePasswordReply.TryParse(ref reader, out UsernamePasswordReply reply, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(2, reader.Consumed);
        Assert.Equal(status, reply.Status);
        Assert.Equal(isSuccess, reply.IsSuccess);
        var written = new byte[UsernamePasswordReply.Length];
        Assert.Equal(UsernamePasswordReply.Length, reply.Write(written));
        Assert.Equal(bytes, written);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidReply_ParsesAtEverySplitPoint(string hex) =>
        ParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex), Parse);

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidReplyPrefix_NeedsMoreUntilLastByte(string hex) =>
        ParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex), Parse);

    [Fact]
    public void TryParse_WrongSubnegotiationVersion_ReportsUnsupportedVersion() =>
        ParserAssert.Rejects(Hex.Parse("05 00"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_WrongVersionByteAlone_ReportsUnsupportedVersionWithoutWaiting() =>
        ParserAssert.Rejects(Hex.Parse("05"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void SuccessAndFailure_Write_StatusZeroAndOne()
    {
        var written = new byte[UsernamePasswordReply.Length];

        UsernamePasswordReply.Success.Write(written);
        Assert.Equal("0100", Hex.Format(written));
        UsernamePasswordReply.Failure.Write(written);
        Assert.Equal("0101", Hex.Format(written));
    }

    [Fact]
    public void Write_DestinationTooShort_Throws() =>
        Assert.Throws<ArgumentException>("destination", () => UsernamePasswordReply.Success.Write(new byte[1]));

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        var destination = new byte[UsernamePasswordReply.Length];
        UsernamePasswordReply.Failure.Write(destination);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = UsernamePasswordReply.Failure.Write(destination);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(2, written);
        Assert.Equal(0, allocated);
    }
}
