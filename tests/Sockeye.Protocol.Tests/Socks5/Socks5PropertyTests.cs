using System.Buffers;
using CsCheck;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks5;

/// <summary>
/// CsCheck properties of the SOCKS5 parsers (greeting, method selection, request, reply): round trips, and any bytes
/// in any split. Iteration counts keep each property to about a second; a failure prints the seed that reproduces it.
/// </summary>
public class Socks5PropertyTests
{
    private const int RoundTrips = 1000;
    private const int HostileInputs = 1500;

    /// <summary>Methods as a client lists them: any bytes, repeated and in any order, and up to 255 distinct ones.</summary>
    private static readonly Gen<byte[]> OfferedMethods = Gen.Frequency(
        (4, Gen.Byte.Array[1, 255]),
        (1, Gen.Byte.Select(static missing => Enumerable.Range(0, 256).Where(m => m != missing).Select(static m => (byte)m).ToArray())));

    private static readonly Gen<Socks5Greeting> Greeting = OfferedMethods.Select(static methods => Socks5Greeting.Create(AsMethods(methods)));

    private static readonly Gen<Socks5Request> Request = Gen.Select(
        Gen.OneOf(Socks5Command.Connect, Socks5Command.Bind, Socks5Command.UdpAssociate),
        ProtocolGen.Address,
        ProtocolGen.Port,
        static (command, destination, port) => new Socks5Request(command, destination, port));

    /// <summary>Every REP byte, not only the nine RFC 1928 names: the parser accepts any, and the client reports it.</summary>
    private static readonly Gen<Socks5Reply> Reply = Gen.Select(
        Gen.Byte.Select(static code => (Socks5ReplyCode)code),
        ProtocolGen.Address,
        ProtocolGen.Port,
        static (code, bound, port) => new Socks5Reply(code, bound, port));

    private static readonly TryParseMessage<Socks5Greeting, Socks5ParseError> ParseGreeting = Socks5Greeting.TryParse;

    private static readonly TryParseMessage<Socks5MethodSelection, Socks5ParseError> ParseMethodSelection = Socks5MethodSelection.TryParse;

    private static readonly TryParseMessage<Socks5Request, Socks5ParseError> ParseRequest = Socks5Request.TryParse;

    private static readonly TryParseMessage<Socks5Reply, Socks5ParseError> ParseReply = Socks5Reply.TryParse;

    private static readonly Gen<int[]> Cuts = Gen.Int.Array[0, 6];

    [Fact]
    public void Greeting_WrittenThenParsed_IsTheSameGreetingInAnySplit() =>
        Gen.Select(Greeting, Cuts).Sample(static (greeting, cuts) =>
        {
            byte[] written = Written(greeting.Write, greeting.WireLength);
            ParseOutcome<Socks5Greeting, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(written, cuts, ParseGreeting);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(greeting, outcome.Message);
            Assert.Equal(written.Length, outcome.Consumed);
        }, iter: RoundTrips);

    /// <summary>
    /// The wire form is not canonical: a client may repeat methods and list them in any order. The greeting is the
    /// set offered, and it is written back as NMETHODS distinct methods in ascending order.
    /// </summary>
    [Fact]
    public void Greeting_AnyListOfMethods_ParsesToTheSetOfferedAndIsWrittenSortedWithoutRepeats() =>
        Gen.Select(OfferedMethods, Cuts).Sample(static (methods, cuts) =>
        {
            byte[] wire = [Socks5Limits.Version, (byte)methods.Length, .. methods];
            ParseOutcome<Socks5Greeting, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(wire, cuts, ParseGreeting);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(wire.Length, outcome.Consumed);
            Assert.Equal(Socks5Greeting.Create(AsMethods(methods)), outcome.Message);
            byte[] distinct = [.. methods.Distinct().Order()];
            Assert.Equal([Socks5Limits.Version, (byte)distinct.Length, .. distinct], Written(outcome.Message.Write, outcome.Message.WireLength));
        }, iter: RoundTrips);

    [Fact]
    public void Greeting_AnyBytes_SameOutcomeInEverySplitAndAGreetingIsWhatItsMethodsSay()
    {
        var tally = new ParseOutcome.Tally();
        Gen<byte[]> valid = Greeting.Select(static g => Written(g.Write, g.WireLength));
        Gen.Select(ProtocolGen.Hostile(valid), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<Socks5Greeting, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, ParseGreeting);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(2 + bytes[1], outcome.Consumed);
                Assert.Equal(Socks5Greeting.Create(AsMethods(bytes[2..(int)outcome.Consumed])), outcome.Message);
            }
        }, iter: HostileInputs);
        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    [Fact]
    public void MethodSelection_EveryMethodWrittenThenParsed_IsTheSameSelectionInAnySplit()
    {
        for (int method = 0; method <= byte.MaxValue; method++)
        {
            var selection = new Socks5MethodSelection((Socks5AuthMethod)method);
            byte[] written = Written(selection.Write, Socks5MethodSelection.Length);
            ParseOutcome<Socks5MethodSelection, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(written, [1], ParseMethodSelection);
            Assert.True(outcome.Parsed, $"method {method}: {outcome.Error}");
            Assert.Equal(selection, outcome.Message);
            Assert.Equal(Socks5MethodSelection.Length, outcome.Consumed);
        }
    }

    [Fact]
    public void MethodSelection_AnyBytes_SameOutcomeInEverySplitAndWrittenBackAsRead()
    {
        var tally = new ParseOutcome.Tally();
        Gen<byte[]> valid = Gen.Byte.Select(static m => (byte[])[Socks5Limits.Version, m]);
        Gen.Select(ProtocolGen.Hostile(valid, maxNoise: 4), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<Socks5MethodSelection, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, ParseMethodSelection);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(bytes[..2], Written(outcome.Message.Write, Socks5MethodSelection.Length));
            }
        }, iter: HostileInputs);
        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    [Fact]
    public void Request_WrittenThenParsed_IsTheSameRequestInAnySplit() =>
        Gen.Select(Request, Cuts).Sample(static (request, cuts) =>
        {
            byte[] written = Written(request.Write, request.WireLength);
            ParseOutcome<Socks5Request, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(written, cuts, ParseRequest);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(request, outcome.Message);
            Assert.Equal(written.Length, outcome.Consumed);
        }, iter: RoundTrips);

    /// <summary>RSV is read and ignored, and written as X'00': a parsed request is written back as read but for RSV.</summary>
    [Fact]
    public void Request_AnyBytes_SameOutcomeInEverySplitAndWrittenBackAsReadButForReserved()
    {
        var tally = new ParseOutcome.Tally();
        Gen<byte[]> valid = Request.Select(static r => Written(r.Write, r.WireLength));
        Gen<byte[]> oddName = Gen.Select(Gen.Byte[1, 3], ProtocolGen.OddDomainAddress, ProtocolGen.Port, static (code, address, port) => (byte[])[Socks5Limits.Version, code, 0, .. address, (byte)(port >> 8), (byte)port]);
        Gen.Select(ProtocolGen.Hostile(Gen.Frequency((3, valid), (1, oddName))), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<Socks5Request, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, ParseRequest);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(WithReservedZero(bytes[..(int)outcome.Consumed]), Written(outcome.Message.Write, outcome.Message.WireLength));
            }
        }, iter: HostileInputs);
        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    /// <summary>Every CMD byte and every ATYP byte: the three commands and three address types parse, and no other byte does.</summary>
    [Fact]
    public void Request_EveryCommandAndAddressTypeByte_ParsedIfDefinedElseRefused() =>
        Request.Sample(static request =>
        {
            byte[] written = Written(request.Write, request.WireLength);
            for (int code = 0; code <= byte.MaxValue; code++)
            {
                byte[] withCommand = [.. written];
                withCommand[1] = (byte)code;
                ParseOutcome<Socks5Request, Socks5ParseError> outcome = ParseOutcome.Of(new ReadOnlySequence<byte>(withCommand), ParseRequest);
                Assert.Equal(
                    Enum.IsDefined((Socks5Command)code) ? new(true, Socks5ParseError.None, written.Length, request with { Command = (Socks5Command)code }) : new(false, Socks5ParseError.UnknownCommand, 0, default),
                    outcome);

                byte[] withAddressType = [.. written];
                withAddressType[3] = (byte)code;
                outcome = ParseOutcome.Of(new ReadOnlySequence<byte>(withAddressType), ParseRequest);
                if (code == (byte)request.Destination.Type)
                {
                    Assert.True(outcome.Parsed, $"{outcome.Error}");
                }
                else
                {
                    // Another defined type reads the same bytes differently: it may parse, need more or refuse them.
                    Assert.True(Enum.IsDefined((Socks5AddressType)code) || outcome.Error == Socks5ParseError.UnknownAddressType, $"ATYP {code:X2}: {outcome}");
                }
            }
        }, iter: 100);

    [Fact]
    public void Reply_WrittenThenParsed_IsTheSameReplyInAnySplit() =>
        Gen.Select(Reply, Cuts).Sample(static (reply, cuts) =>
        {
            byte[] written = Written(reply.Write, reply.WireLength);
            ParseOutcome<Socks5Reply, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(written, cuts, ParseReply);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(reply, outcome.Message);
            Assert.Equal(written.Length, outcome.Consumed);
        }, iter: RoundTrips);

    [Fact]
    public void Reply_AnyBytes_SameOutcomeInEverySplitAndWrittenBackAsReadButForReserved()
    {
        var tally = new ParseOutcome.Tally();
        Gen<byte[]> valid = Reply.Select(static r => Written(r.Write, r.WireLength));
        Gen<byte[]> oddName = Gen.Select(Gen.Byte, ProtocolGen.OddDomainAddress, ProtocolGen.Port, static (code, address, port) => (byte[])[Socks5Limits.Version, code, 0, .. address, (byte)(port >> 8), (byte)port]);
        Gen.Select(ProtocolGen.Hostile(Gen.Frequency((3, valid), (1, oddName))), Cuts).Sample((bytes, cuts) =>
        {
            ParseOutcome<Socks5Reply, Socks5ParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, ParseReply);
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(WithReservedZero(bytes[..(int)outcome.Consumed]), Written(outcome.Message.Write, outcome.Message.WireLength));
            }
        }, iter: HostileInputs);
        tally.AssertEachAtLeast(HostileInputs, 0.05);
    }

    /// <summary>
    /// A name <see cref="Socks5Address.FromDomainName"/> accepts is one the wire carries as it is: written in a request
    /// and parsed, it is the same name. The strings are any UTF-16, lone surrogates included, as a client may be handed.
    /// </summary>
    [Fact]
    public void DomainName_AnyStringAccepted_IsTheSameNameAfterWriteAndParse()
    {
        int accepted = 0;
        Gen<string> pieces = Gen.Frequency(
                (6, Gen.Char['a', 'z'].Select(static c => c.ToString())),
                (1, Gen.Char.Select(static c => c.ToString())),
                (1, Gen.Select(Gen.Char['\ud800', '\udbff'], Gen.Char['\udc00', '\udfff'], static (high, low) => $"{high}{low}")))
            .Array[1, 60]
            .Select(static p => string.Concat(p));
        Gen<string> anyString = Gen.Frequency(
            (3, pieces),
            (1, Gen.Select(pieces, Gen.Char['\ud800', '\udfff'], Gen.Int, static (name, lone, at) => name.Insert((int)((uint)at % (uint)(name.Length + 1)), lone.ToString()))));
        anyString.Sample(name =>
        {
            Socks5Address address;
            try
            {
                address = Socks5Address.FromDomainName(name);
            }
            catch (ArgumentException)
            {
                // The generated names are short enough that a NUL or a lone surrogate is the only reason to refuse one.
                Assert.True(name.Contains('\0', StringComparison.Ordinal) || HasLoneSurrogate(name), $"refused {Hex.Utf8(name)}");
                return;
            }

            Assert.False(HasLoneSurrogate(name));

            Interlocked.Increment(ref accepted);
            var request = new Socks5Request(Socks5Command.Connect, address, 443);
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Written(request.Write, request.WireLength)));
            Assert.True(Socks5Request.TryParse(ref reader, out Socks5Request parsed, out Socks5ParseError error), $"{error}");
            Assert.Equal(name, parsed.Destination.DomainName);
        }, iter: RoundTrips);

        Assert.True(accepted >= RoundTrips / 5, $"only {accepted} of {RoundTrips} names accepted");
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static Socks5AuthMethod[] AsMethods(byte[] methods) => [.. methods.Select(static m => (Socks5AuthMethod)m)];

    private static byte[] WithReservedZero(byte[] message)
    {
        byte[] copy = [.. message];
        copy[2] = 0;
        return copy;
    }

    /// <summary>Writes into a buffer of exactly the announced length, so a writer that needs more throws.</summary>
    private static byte[] Written(SpanWriter write, int wireLength)
    {
        byte[] buffer = new byte[wireLength];
        Assert.Equal(wireLength, write(buffer));
        return buffer;
    }

    private delegate int SpanWriter(Span<byte> destination);
}
