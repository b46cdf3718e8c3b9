using System.Net.Security;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Protocol.Tests;

public sealed class PooledBufferWriterTests
{
    [Fact]
    public void Writes_GrowPastTheInitialCapacity_KeepingWhatWasWritten()
    {
        using var writer = new PooledBufferWriter(16);
        for (int i = 0; i < 1000; i++)
        {
            writer.GetSpan(1)[0] = (byte)i;
            writer.Advance(1);
        }

        Assert.Equal(1000, writer.WrittenCount);
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal((byte)i, writer.WrittenSpan[i]);
        }
    }

    [Fact]
    public void Truncate_ForgetsTheTail_AndAdvancingPastTheSpanIsRefused()
    {
        using var writer = new PooledBufferWriter(8);
        "abcdef"u8.CopyTo(writer.GetSpan(6));
        writer.Advance(6);
        writer.Truncate(2);
        Assert.Equal("ab"u8.ToArray(), writer.WrittenMemory.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Truncate(3));
        int room = writer.GetSpan().Length;
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(room + 1));
    }

    [Fact]
    public void Release_ReturnsTheArray_AndTheWriterWritesAgain()
    {
        var writer = new PooledBufferWriter(8);
        "secret"u8.CopyTo(writer.GetSpan(6));
        writer.Advance(6);
        writer.Release();
        Assert.Equal(0, writer.WrittenCount);
        Assert.True(writer.WrittenMemory.IsEmpty);

        "again"u8.CopyTo(writer.GetSpan(5));
        writer.Advance(5);
        Assert.Equal("again"u8.ToArray(), writer.WrittenMemory.ToArray());
        writer.Dispose();
    }

    [Fact]
    public void Release_ClearsWhatWasWritten_BeforeTheArrayGoesBack()
    {
        var writer = new PooledBufferWriter(64);
        Span<byte> span = writer.GetSpan(100);
        span[..100].Fill(0xAB);
        writer.Advance(60);
        writer.Truncate(10);

        // The whole span asked for was cleared, not only what is counted as written now.
        byte[] array = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(writer.GetMemory(), out ArraySegment<byte> segment) ? segment.Array! : throw new InvalidOperationException();
        writer.Release();
        Assert.DoesNotContain((byte)0xAB, array.AsSpan(0, 100).ToArray());
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.None)]
    [InlineData((GssapiProtectionLevel)7)]
    public void GssapiMessageProtection_LevelThatWrapsNothing_IsRefused(GssapiProtectionLevel level)
    {
        using var context = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions { Package = "Kerberos", TargetName = "rcmd/localhost" });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GssapiMessageProtection(context, level));
    }
}
