using System.Buffers;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks5;

public class Socks5MethodSelectionTests
{
    // The parser with its message discarded, for the split-point harness.
    private static bool Parse(ref SequenceReader<byte> reader, out Socks5ParseError error) =>
        Socks5MethodSelection.TryParse(ref reader, out _, out error);

    public static TheoryData<string, Socks5AuthMethod> Valid => new()
    {
        { "05 00", Socks5AuthMethod.NoAuthentication },
        { "05 01", Socks5AuthMethod.Gssapi },
        { "05 02", Socks5AuthMethod.UsernamePassword },
        { "05 FF", Socks5AuthMethod.NoAcceptableMethods },
        { "05 80", (Socks5AuthMethod)0x80 },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidSelection_ReadsMethodAndWritesSameBytes(string hex, Socks5AuthMethod method)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(Socks5MethodSelection.TryParse(ref reader, out Socks5MethodSelection selection, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(2, reader.Consumed);
        Assert.Equal(method, selection.Method);
        var written = new byte[Socks5MethodSelection.Length];
        Assert.Equal(Socks5MethodSelection.Length, selection.Write(written));
        Assert.Equal(bytes, written);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidSelection_ParsesAtEverySplitPoint(string hex) =>
        ParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex), Parse);

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidSelectionPrefix_NeedsMoreUntilLastByte(string hex) =>
        ParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex), Parse);

    [Fact]
    public void TryParse_WrongVersion_ReportsUnsupportedVersion() =>
        ParserAssert.Rejects(Hex.Parse("04 00"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_WrongVersionByteAlone_ReportsUnsupportedVersionWithoutWaiting() =>
        ParserAssert.Rejects(Hex.Parse("01"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void Write_DestinationTooShort_Throws() =>
        Assert.Throws<ArgumentException>("destination", () => new Socks5MethodSelection(Socks5AuthMethod.NoAuthentication).Write(new byte[1]));

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        var selection = new Socks5MethodSelection(Socks5AuthMethod.UsernamePassword);
        var destination = new byte[Socks5MethodSelection.Length];
        selection.Write(destination);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = selection.Write(destination);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(2, written);
        Assert.Equal(0, allocated);
    }
}
