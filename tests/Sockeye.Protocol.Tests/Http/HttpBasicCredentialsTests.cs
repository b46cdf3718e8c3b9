using System.Text;
using Sockeye.Protocol.Http;

namespace Sockeye.Protocol.Tests.Http;

public class HttpBasicCredentialsTests
{
    private static (bool Ok, string User, string Password) Decode(string value)
    {
        byte[] output = new byte[HttpBasicCredentials.ScratchLength];
        bool ok = HttpBasicCredentials.TryDecode(value, output, out int user, out int password);
        if (!ok)
        {
            Assert.Equal(0, user + password);
            Assert.All(output, b => Assert.Equal(0, b));
        }

        return (ok, Encoding.UTF8.GetString(output, 0, user), Encoding.UTF8.GetString(output, user, password));
    }

    [Theory]
    [InlineData("Basic YWxpY2U6c2VjcmV0", "alice", "secret")] // curl --proxy-user alice:secret
    [InlineData("basic YWxpY2U6c2VjcmV0", "alice", "secret")]
    [InlineData("BASIC \t YWxpY2U6c2VjcmV0 ", "alice", "secret")]
    [InlineData("  Basic YWxpY2U6c2VjcmV0", "alice", "secret")]
    [InlineData("Basic YTpiOmM=", "a", "b:c")] // the password may hold colons
    [InlineData("Basic w6k6w7w=", "\u00e9", "\u00fc")] // UTF-8
    public void TryDecode_Valid_UserThenPassword(string value, string user, string password) =>
        Assert.Equal((true, user, password), Decode(value));

    [Theory]
    [InlineData("")]
    [InlineData("Basic")]
    [InlineData("Basic ")]
    [InlineData("Bearer YWxpY2U6c2VjcmV0")]
    [InlineData("BasicYWxpY2U6c2VjcmV0")]
    [InlineData("Basics YWxpY2U6c2VjcmV0")]
    [InlineData("Digest username=\"alice\"")]
    [InlineData("Basic YWxpY2U6c2VjcmV0=")] // not a multiple of four
    [InlineData("Basic YWxpY2U6c2Vjc mV0")] // whitespace inside the base64
    [InlineData("Basic YWxp!2U6c2VjcmV0")]
    [InlineData("Basic YWxpY2VzZWNyZXQ=")] // "alicesecret": no colon
    [InlineData("Basic OnNlY3JldA==")] // ":secret": empty user
    [InlineData("Basic YWxpY2U6")] // "alice:": empty password
    [InlineData("Basic ====")]
    [InlineData("Basic YQ=a")]
    public void TryDecode_Invalid_FalseAndOutputCleared(string value) => Assert.False(Decode(value).Ok);

    [Fact]
    public void TryDecode_255ByteUserAndPassword_AcceptedAnd256Refused()
    {
        string max = new('u', 255);
        Assert.Equal((true, max, max), Decode(HttpBasicCredentials.Encode(max, max)));
        Assert.False(Decode("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{max}u:p"))).Ok);
        Assert.False(Decode("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"u:{max}p"))).Ok);
        Assert.False(Decode("Basic " + Convert.ToBase64String(new byte[2000])).Ok);
    }

    [Fact]
    public void TryDecode_ShortOutput_Throws() =>
        Assert.Throws<ArgumentException>(() => HttpBasicCredentials.TryDecode("Basic YTpi", new byte[HttpBasicCredentials.ScratchLength - 1], out _, out _));

    [Fact]
    public void TryDecode_AllocatesNothing()
    {
        byte[] output = new byte[HttpBasicCredentials.ScratchLength];
        string value = HttpBasicCredentials.Encode("alice", "secret");
        Assert.True(HttpBasicCredentials.TryDecode(value, output, out _, out _));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            _ = HttpBasicCredentials.TryDecode(value, output, out _, out _);
            _ = HttpBasicCredentials.TryDecode("Basic !!!!", output, out _, out _);
            _ = HttpBasicCredentials.TryDecode("Basic YWxpY2VzZWNyZXQ=", output, out _, out _);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void Encode_IsWhatCurlSends() => Assert.Equal("Basic YWxpY2U6c2VjcmV0", HttpBasicCredentials.Encode("alice", "secret"));

    [Theory]
    [InlineData("a:b", "c")]
    [InlineData("", "c")]
    [InlineData("a", "")]
    public void Encode_Invalid_Throws(string user, string password) =>
        Assert.Throws<ArgumentException>(() => HttpBasicCredentials.Encode(user, password));
}
