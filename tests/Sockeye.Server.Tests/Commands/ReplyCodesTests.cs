using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;

namespace Sockeye.Server.Tests.Commands;

public sealed class ReplyCodesTests
{
    [Theory]
    [InlineData(SocketError.Success, Socks5ReplyCode.Succeeded)]
    [InlineData(SocketError.ConnectionRefused, Socks5ReplyCode.ConnectionRefused)]
    [InlineData(SocketError.NetworkUnreachable, Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(SocketError.NetworkDown, Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(SocketError.HostUnreachable, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.HostDown, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.HostNotFound, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.NoData, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.TryAgain, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.TimedOut, Socks5ReplyCode.TtlExpired)]
    [InlineData(SocketError.AccessDenied, Socks5ReplyCode.ConnectionNotAllowed)]
    [InlineData(SocketError.AddressNotAvailable, Socks5ReplyCode.GeneralFailure)]
    [InlineData(SocketError.SocketError, Socks5ReplyCode.GeneralFailure)]
    public void FromSocketError_MapsWhatHappened(SocketError error, Socks5ReplyCode expected) =>
        Assert.Equal(expected, ReplyCodes.FromSocketError(error));
}
