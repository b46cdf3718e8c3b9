using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Tests.Socks5;

public class Socks5ParseErrorExtensionsTests
{
    [Fact]
    public void ToReplyCode_UnknownCommand_IsCommandNotSupported() =>
        Assert.Equal((Socks5ReplyCode)0x07, Socks5ParseError.UnknownCommand.ToReplyCode());

    [Fact]
    public void ToReplyCode_UnknownAddressType_IsAddressTypeNotSupported() =>
        Assert.Equal((Socks5ReplyCode)0x08, Socks5ParseError.UnknownAddressType.ToReplyCode());

    [Fact]
    public void ToReplyCode_EveryOtherError_IsGeneralFailure()
    {
        foreach (Socks5ParseError error in Enum.GetValues<Socks5ParseError>())
        {
            if (error is not (Socks5ParseError.UnknownCommand or Socks5ParseError.UnknownAddressType))
            {
                Assert.True((Socks5ReplyCode)0x01 == error.ToReplyCode(), $"{error} maps to {error.ToReplyCode()}");
            }
        }
    }
}
