using System.Text;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Tests.Authentication;

public sealed class UserDirectoryTests
{
    private readonly UserDirectory _users = new([new SockeyeUser("alice", "secret"), new SockeyeUser("bob", "pässwörd")]);

    [Theory]
    [InlineData("alice", "secret", true)]
    [InlineData("bob", "pässwörd", true)]
    [InlineData("alice", "Secret", false)]
    [InlineData("alice", "secre", false)]
    [InlineData("alice", "secret ", false)]
    [InlineData("Alice", "secret", false)]
    [InlineData("carol", "secret", false)]
    [InlineData("bob", "secret", false)]
    public void Verify_ChecksNameAndPasswordExactly(string user, string password, bool expected) =>
        Assert.Equal(expected, _users.Verify(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password)));

    [Fact]
    public void Verify_InvalidUtf8Username_IsRejected() =>
        Assert.False(_users.Verify([0xFF, 0xFE], "secret"u8));

    [Fact]
    public void Verify_AllocatesNothing()
    {
        byte[] user = "alice"u8.ToArray();
        byte[] password = "secret"u8.ToArray();
        _users.Verify(user, password);

        long before = GC.GetAllocatedBytesForCurrentThread();
        bool ok = _users.Verify(user, password);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.True(ok);
        Assert.Equal(before, after);
    }

    [Fact]
    public void RequiresAuthentication_OnlyWhenUsersExist()
    {
        Assert.True(_users.RequiresAuthentication);
        Assert.False(new UserDirectory([]).RequiresAuthentication);
    }
}
