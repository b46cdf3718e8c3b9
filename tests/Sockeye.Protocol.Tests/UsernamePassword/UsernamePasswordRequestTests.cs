using System.Buffers;
using System.Text;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Protocol.Tests.UsernamePassword;

public class UsernamePasswordRequestTests
{
    private static string Longest => new('u', 255);

    /// <summary>Valid requests: the bytes, then UNAME and PASSWD as UTF-8 text.</summary>
    public static TheoryData<string, string, string> Valid => new()
    {
        { "01 05 " + Hex.Utf8("alice") + " 06 " + Hex.Utf8("secret"), "alice", "secret" },
        { "01 01 61 01 62", "a", "b" },
        { "01 05 " + Hex.Utf8("jörg") + " 03 " + Hex.Utf8("p w"), "jörg", "p w" },
        { "01 FF " + Hex.Utf8(Longest) + " FF " + Hex.Utf8(Longest), Longest, Longest },
        { "01 01 78 FF " + Hex.Utf8(Longest), "x", Longest },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidRequest_ReadsFieldsAndWritesSameBytes(string hex, string username, string password)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        var scratch = new byte[UsernamePasswordRequest.ScratchLength];

        Assert.True(UsernamePasswordRequest.TryParse(ref reader, scratch, out UsernamePasswordRequest request, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(bytes.Length, reader.Consumed);
        Assert.Equal(Encoding.UTF8.GetBytes(username), request.Username.ToArray());
        Assert.Equal(Encoding.UTF8.GetBytes(password), request.Password.ToArray());
        Assert.Equal(bytes.Length, request.WireLength);

        var written = new byte[UsernamePasswordRequest.MaxLength];
        int length = request.Write(written);
        Assert.Equal(bytes, written[..length]);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidRequest_ParsesAtEverySplitPoint(string hex)
    {
        var scratch = new byte[UsernamePasswordRequest.ScratchLength];
        ParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex), (ref SequenceReader<byte> reader, out Socks5ParseError error) =>
            UsernamePasswordRequest.TryParse(ref reader, scratch, out _, out error));
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidRequestPrefix_NeedsMoreUntilLastByte(string hex)
    {
        var scratch = new byte[UsernamePasswordRequest.ScratchLength];
        ParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex), (ref SequenceReader<byte> reader, out Socks5ParseError error) =>
            UsernamePasswordRequest.TryParse(ref reader, scratch, out _, out error));
    }

    [Theory]
    [InlineData("05 01 61 01 62")] // the SOCKS version where the subnegotiation version belongs
    [InlineData("00 01 61 01 62")]
    [InlineData("02")]
    public void TryParse_WrongSubnegotiationVersion_ReportsUnsupportedVersion(string hex) =>
        Rejects(hex, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_ZeroUsernameLength_ReportsEmptyUsername() =>
        Rejects("01 00 01 62", Socks5ParseError.EmptyUsername);

    [Fact]
    public void TryParse_ZeroUsernameLengthAlone_ReportsEmptyUsernameWithoutWaiting() =>
        Rejects("01 00", Socks5ParseError.EmptyUsername);

    [Fact]
    public void TryParse_ZeroPasswordLength_ReportsEmptyPassword() =>
        Rejects("01 01 61 00", Socks5ParseError.EmptyPassword);

    [Fact]
    public void TryParse_ZeroPasswordLengthBeforeMoreBytes_ReportsEmptyPassword() =>
        Rejects("01 01 61 00 05 01 00", Socks5ParseError.EmptyPassword);

    [Fact]
    public void TryParse_ScratchTooSmall_Throws()
    {
        byte[] bytes = Hex.Parse("01 01 61 01 62");

        Assert.Throws<ArgumentException>("scratch", () =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
            UsernamePasswordRequest.TryParse(ref reader, new byte[UsernamePasswordRequest.ScratchLength - 1], out _, out _);
        });
    }

    [Fact]
    public void Constructor_EmptyUsername_Throws() =>
        Assert.Throws<ArgumentException>("username", () => new UsernamePasswordRequest([], "p"u8));

    [Fact]
    public void Constructor_EmptyPassword_Throws() =>
        Assert.Throws<ArgumentException>("password", () => new UsernamePasswordRequest("u"u8, []));

    [Fact]
    public void Constructor_256ByteUsername_Throws() =>
        Assert.Throws<ArgumentException>("username", () => new UsernamePasswordRequest(new byte[256], "p"u8));

    [Fact]
    public void Constructor_256BytePassword_Throws() =>
        Assert.Throws<ArgumentException>("password", () => new UsernamePasswordRequest("u"u8, new byte[256]));

    [Fact]
    public void Constructor_255ByteFields_AreAccepted()
    {
        var request = new UsernamePasswordRequest(new byte[255], new byte[255]);

        Assert.Equal(UsernamePasswordRequest.MaxLength, request.WireLength);
    }

    [Fact]
    public void Write_ConstructedRequest_RoundTripsThroughParser()
    {
        var written = new byte[UsernamePasswordRequest.MaxLength];
        int length = new UsernamePasswordRequest("user"u8, "pa55"u8).Write(written);

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(written, 0, length));
        var scratch = new byte[UsernamePasswordRequest.ScratchLength];
        Assert.True(UsernamePasswordRequest.TryParse(ref reader, scratch, out UsernamePasswordRequest parsed, out _));
        Assert.True(parsed.Username.SequenceEqual("user"u8));
        Assert.True(parsed.Password.SequenceEqual("pa55"u8));
    }

    [Fact]
    public void Write_DestinationTooShort_Throws()
    {
        Assert.Throws<ArgumentException>("destination", () => new UsernamePasswordRequest("alice"u8, "secret"u8).Write(new byte[13]));
        Assert.Equal(14, new UsernamePasswordRequest("alice"u8, "secret"u8).Write(new byte[14]));
    }

    [Fact]
    public void TryParse_AfterWarmUp_AllocatesNothing()
    {
        var sequence = new ReadOnlySequence<byte>(Hex.Parse("01 05 " + Hex.Utf8("alice") + " 06 " + Hex.Utf8("secret")));
        var scratch = new byte[UsernamePasswordRequest.ScratchLength];
        ParseOnce(sequence, scratch);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int fieldBytes = ParseOnce(sequence, scratch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(11, fieldBytes);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        var destination = new byte[UsernamePasswordRequest.MaxLength];
        new UsernamePasswordRequest("alice"u8, "secret"u8).Write(destination);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = new UsernamePasswordRequest("alice"u8, "secret"u8).Write(destination);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(14, written);
        Assert.Equal(0, allocated);
    }

    private static int ParseOnce(ReadOnlySequence<byte> sequence, byte[] scratch)
    {
        var reader = new SequenceReader<byte>(sequence);
        return UsernamePasswordRequest.TryParse(ref reader, scratch, out UsernamePasswordRequest request, out _)
            ? request.Username.Length + request.Password.Length
            : -1;
    }

    private static void Rejects(string hex, Socks5ParseError expected)
    {
        var scratch = new byte[UsernamePasswordRequest.ScratchLength];
        ParserAssert.Rejects(Hex.Parse(hex), (ref SequenceReader<byte> reader, out Socks5ParseError error) =>
            UsernamePasswordRequest.TryParse(ref reader, scratch, out _, out error), expected);
    }
}
