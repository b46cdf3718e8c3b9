using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Sessions;

/// <summary>
/// Which method a greeting gets with GSSAPI configured: GSSAPI when offered, USERNAME/PASSWORD next when users exist, and
/// never NO AUTHENTICATION REQUIRED. Only the method selection is read, so no Kerberos is involved.
/// </summary>
public sealed class GssapiMethodChoiceTests
{
    [Theory]
    [InlineData(new byte[] { 0x00, 0x02, 0x01 }, true, 0x01)]
    [InlineData(new byte[] { 0x02, 0x01 }, true, 0x01)]
    [InlineData(new byte[] { 0x00, 0x02 }, true, 0x02)]
    [InlineData(new byte[] { 0x00 }, true, 0xFF)]
    [InlineData(new byte[] { 0x01 }, false, 0x01)]
    [InlineData(new byte[] { 0x00, 0x02 }, false, 0xFF)]
    public async Task Greeting_WithGssapiConfigured_GetsTheExpectedMethod(byte[] offered, bool withUsers, byte expected)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Gssapi = new GssapiOptions();
            if (withUsers)
            {
                o.Users.Add(new SockeyeUser("alice", "secret"));
            }
        });

        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([5, (byte)offered.Length, .. offered]);

        Assert.Equal([5, expected], await client.ReceiveExactlyAsync(2));
    }
}
