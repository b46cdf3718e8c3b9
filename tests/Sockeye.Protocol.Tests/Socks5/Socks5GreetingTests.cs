using System.Buffers;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks5;

public class Socks5GreetingTests
{
    // The parser with its message discarded, for the split-point harness.
    private static bool Parse(ref SequenceReader<byte> reader, out Socks5ParseError error) =>
        Socks5Greeting.TryParse(ref reader, out _, out error);

    /// <summary>Canonical greetings (methods ascending and unique, as <see cref="Socks5Greeting.Write"/> emits them) and the methods offered.</summary>
    public static TheoryData<string, string> Valid => new()
    {
        { "05 01 00", "00" },
        { "05 01 02", "02" },
        { "05 02 00 02", "00 02" },
        { "05 03 00 01 02", "00 01 02" },
        { "05 05 00 3F 40 80 FF", "00 3F 40 80 FF" },
        { "05 FF " + AllMethodsBut(0xFF), AllMethodsBut(0xFF) },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidGreeting_ReadsMethodsAndWritesSameBytes(string hex, string methodsHex)
    {
        byte[] bytes = Hex.Parse(hex);
        byte[] methods = Hex.Parse(methodsHex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(Socks5Greeting.TryParse(ref reader, out Socks5Greeting greeting, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(bytes.Length, reader.Consumed);
        Assert.Equal(methods.Length, greeting.MethodCount);
        Assert.Equal(bytes.Length, greeting.WireLength);
        for (int method = 0; method <= byte.MaxValue; method++)
        {
            Assert.Equal(methods.Contains((byte)method), greeting.Offers((Socks5AuthMethod)method));
        }

        var written = new byte[Socks5Limits.MaxGreetingLength];
        int length = greeting.Write(written);
        Assert.Equal(hex.Replace(" ", string.Empty, StringComparison.Ordinal), Hex.Format(written.AsSpan(0, length)));
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidGreeting_ParsesAtEverySplitPoint(string hex) =>
        ParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex), Parse);

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidGreetingPrefix_NeedsMoreUntilLastByte(string hex) =>
        ParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex), Parse);

    [Fact]
    public void TryParse_DuplicateAndUnorderedMethods_WritesAscendingUniqueMethods()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex.Parse("05 04 02 00 02 00")));

        Assert.True(Socks5Greeting.TryParse(ref reader, out Socks5Greeting greeting, out _));

        Assert.Equal(6, reader.Consumed);
        Assert.Equal(2, greeting.MethodCount);
        var written = new byte[Socks5Limits.MaxGreetingLength];
        int length = greeting.Write(written);
        Assert.Equal("05020002", Hex.Format(written.AsSpan(0, length)));
    }

    [Fact]
    public void TryParse_WrongVersion_ReportsUnsupportedVersion() =>
        ParserAssert.Rejects(Hex.Parse("04 01 00"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_WrongVersionByteAlone_ReportsUnsupportedVersionWithoutWaiting() =>
        ParserAssert.Rejects(Hex.Parse("04"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_NoMethods_ReportsNoMethodsOffered() =>
        ParserAssert.Rejects(Hex.Parse("05 00"), Parse, Socks5ParseError.NoMethodsOffered);

    [Fact]
    public void TryParse_NoMethodsFollowedByMoreBytes_ReportsNoMethodsOffered() =>
        ParserAssert.Rejects(Hex.Parse("05 00 00 02"), Parse, Socks5ParseError.NoMethodsOffered);

    [Fact]
    public void Create_Methods_RoundTripsThroughParser()
    {
        Socks5Greeting greeting = Socks5Greeting.Create([Socks5AuthMethod.UsernamePassword, Socks5AuthMethod.NoAuthentication]);
        var written = new byte[Socks5Limits.MaxGreetingLength];
        int length = greeting.Write(written);

        Assert.Equal("05020002", Hex.Format(written.AsSpan(0, length)));
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(written, 0, length));
        Assert.True(Socks5Greeting.TryParse(ref reader, out Socks5Greeting parsed, out _));
        Assert.Equal(greeting, parsed);
    }

    [Fact]
    public void Create_NoMethods_Throws() =>
        Assert.Throws<ArgumentException>("methods", () => Socks5Greeting.Create([]));

    [Fact]
    public void Create_All256Methods_ThrowsBecauseNMethodsHoldsAtMost255() =>
        Assert.Throws<ArgumentException>("methods", () => Socks5Greeting.Create(AllMethods()));

    [Fact]
    public void Create_255DistinctMethods_FillsTheLongestGreeting()
    {
        Socks5Greeting greeting = Socks5Greeting.Create(AllMethods().AsSpan(0, 255));

        Assert.Equal(Socks5Limits.MaxGreetingLength, greeting.WireLength);
        Assert.Equal(Socks5Limits.MaxGreetingLength, greeting.Write(new byte[Socks5Limits.MaxGreetingLength]));
    }

    [Fact]
    public void Write_DestinationTooShort_Throws()
    {
        Socks5Greeting greeting = Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]);

        Assert.Throws<ArgumentException>("destination", () => greeting.Write(new byte[3]));
        Assert.Equal(4, greeting.Write(new byte[4]));
    }

    [Fact]
    public void TryParse_AfterWarmUp_AllocatesNothing()
    {
        var sequence = new ReadOnlySequence<byte>(Hex.Parse("05 03 00 01 02"));
        ParseOnce(sequence);

        long before = GC.GetAllocatedBytesForCurrentThread();
        bool parsed = ParseOnce(sequence);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(parsed);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        Socks5Greeting greeting = Socks5Greeting.Create([Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]);
        var destination = new byte[Socks5Limits.MaxGreetingLength];
        greeting.Write(destination);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = greeting.Write(destination);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(4, written);
        Assert.Equal(0, allocated);
    }

    private static bool ParseOnce(ReadOnlySequence<byte> sequence)
    {
        var reader = new SequenceReader<byte>(sequence);
        return Socks5Greeting.TryParse(ref reader, out _, out _);
    }

    private static Socks5AuthMethod[] AllMethods()
    {
        var methods = new Socks5AuthMethod[256];
        for (int i = 0; i < methods.Length; i++)
        {
            methods[i] = (Socks5AuthMethod)i;
        }

        return methods;
    }

    private static string AllMethodsBut(byte excluded)
    {
        var methods = new List<byte>();
        for (int i = 0; i <= byte.MaxValue; i++)
        {
            if (i != excluded)
            {
                methods.Add((byte)i);
            }
        }

        return Hex.Format(methods.ToArray());
    }
}
