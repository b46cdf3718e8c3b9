using System.Buffers;
using System.Net;
using CsCheck;
using Sockeye.Protocol.Socks4;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks4;

/// <summary>CsCheck properties of the SOCKS4/4a request parser: round trips, and any bytes in any split.</summary>
public class Socks4PropertyTests
{
    private static readonly Gen<string> Name = Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789.-é"].Array[1, 60].Select(static c => new string(c));

    private static readonly Gen<Socks4Request> Request = Gen.Select(
        Gen.OneOf(Gen.Const(Socks4Command.Connect), Gen.Const(Socks4Command.Bind)),
        Gen.Frequency(
            (1, Gen.UInt[0x100, uint.MaxValue].Select(static a => Socks5Address.FromIPAddress(new IPAddress(BitConverter.GetBytes(a))))),
            (1, Name.Select(static n => Socks5Address.FromDomainName(n)))),
        Gen.UShort,
        Gen.OneOf(Gen.Const(""), Name),
        static (command, destination, port, user) => new Socks4Request(command, destination, port, user));

    [Fact]
    public void WriteThenParse_ReturnsTheSameRequest_InAnySplit() =>
        Gen.Select(Request, Gen.Int).Sample(static (request, cut) =>
        {
            byte[] buffer = new byte[Socks4Request.MaxLength];
            int length = request.Write(buffer);
            byte[] bytes = buffer[..length];
            var reader = new SequenceReader<byte>(Sequences.SplitAt(bytes, (int)((uint)cut % (uint)(length + 1))));

            Assert.True(Socks4Request.TryParse(ref reader, out Socks4Request parsed, out _));
            Assert.Equal(request, parsed);
            Assert.Equal(length, reader.Consumed);
        }, iter: 2000);

    [Fact]
    public void AnyBytes_NeverThrow_AndEverySplitAndByteByByteAgree() =>
        Gen.Select(Gen.Frequency((1, Gen.Byte.Array[0, 40]), (3, Request.Select(static r => Written(r)).SelectMany(static w => Gen.Int[0, w.Length].Select(t => w[..t])))), Gen.Int)
            .Sample(static (bytes, cut) =>
            {
                var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
                bool parsed = Socks4Request.TryParse(ref whole, out Socks4Request request, out Socks4ParseError error);
                var split = new SequenceReader<byte>(Sequences.SplitAt(bytes, (int)((uint)cut % (uint)(bytes.Length + 1))));
                Assert.Equal(parsed, Socks4Request.TryParse(ref split, out Socks4Request splitRequest, out Socks4ParseError splitError));
                Assert.Equal((request, error, whole.Consumed), (splitRequest, splitError, split.Consumed));
                var oneByOne = new SequenceReader<byte>(Sequences.OneBytePerSegment(bytes));
                Assert.Equal(parsed, Socks4Request.TryParse(ref oneByOne, out _, out Socks4ParseError oneError));
                Assert.Equal(error, oneError);
                if (!parsed)
                {
                    Assert.Equal(0, whole.Consumed);
                }
            }, iter: 3000);

    private static byte[] Written(Socks4Request request)
    {
        byte[] buffer = new byte[Socks4Request.MaxLength];
        return buffer[..request.Write(buffer)];
    }
}
