using System.Text;
using Sockeye.Server.Authentication;

namespace Sockeye.Server.Tests.Authentication;

public sealed class PasswordHashTests
{
    // Low but valid: the hashing is the same, only cheaper, so the tests stay fast.
    private const int TestIterations = 1_000;

    [Fact]
    public void Create_ThenParse_VerifiesTheSamePasswordOnly()
    {
        string text = PasswordHash.Create("pässwörd"u8, TestIterations);

        Assert.True(PasswordHash.TryParse(text, TestIterations, out PasswordHash.StoredHash? hash, out string? problem), problem);
        Assert.Equal(TestIterations, hash.Iterations);
        Assert.True(hash.Verify(Encoding.UTF8.GetBytes("pässwörd")));
        Assert.False(hash.Verify("passwort"u8));
        Assert.False(hash.Verify("pässwörd "u8.ToArray()));
        Assert.False(hash.Verify([]));
    }

    [Fact]
    public void Create_Public_UsesTheDefaultIterationsAndTheDocumentedFormat()
    {
        string text = PasswordHash.Create("secret");

        string[] parts = text.Split('$');
        Assert.Equal(["", "pbkdf2-sha256", "600000"], parts[..3]);
        Assert.Equal(16, Convert.FromBase64String(parts[3]).Length);
        Assert.Equal(32, Convert.FromBase64String(parts[4]).Length);
        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
        Assert.True(PasswordHash.IsValid(text, out string? problem), problem);
    }

    [Fact]
    public void Create_SamePasswordTwice_SaltsDiffer()
    {
        Assert.NotEqual(PasswordHash.Create("secret"u8, TestIterations), PasswordHash.Create("secret"u8, TestIterations));
    }

    [Theory]
    [InlineData("")]
    [InlineData("256 bytes")]
    public void Create_PasswordOutOfRfc1929Range_Throws(string password)
    {
        password = password == "256 bytes" ? new string('x', 256) : password;
        Assert.Throws<ArgumentException>(() => PasswordHash.Create(password));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("secret", "not a password hash")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "unknown hash scheme")]
    [InlineData("$pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==", "expected 3 fields")]
    [InlineData("$pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$x", "expected 3 fields")]
    [InlineData("$pbkdf2-sha256$six$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "iteration count is not a whole number")]
    [InlineData("$pbkdf2-sha256$-600000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "iteration count is not a whole number")]
    [InlineData("$pbkdf2-sha256$$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "iteration count is not a whole number")]
    [InlineData("$pbkdf2-sha256$99999999999$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "iteration count is not a whole number")]
    [InlineData("$pbkdf2-sha256$600000$not*base64$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "salt is not 16 bytes")]
    [InlineData("$pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "salt is not 16 bytes")]
    [InlineData("$pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "salt is not 16 bytes")]
    [InlineData("$pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "hash is not 32 bytes")]
    [InlineData("$pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$", "hash is not 32 bytes")]
    public void TryParse_Malformed_SaysWhatIsWrong(string text, string expectedProblem)
    {
        Assert.False(PasswordHash.TryParse(text, PasswordHash.MinIterations, out PasswordHash.StoredHash? hash, out string? problem));
        Assert.Null(hash);
        Assert.Contains(expectedProblem, problem, StringComparison.Ordinal);
        Assert.False(PasswordHash.IsValid(text, out string? publicProblem));
        Assert.Equal(problem, publicProblem);
    }

    [Theory]
    [InlineData(99_999, "too few")]
    [InlineData(1_000, "too few")]
    [InlineData(1, "too few")]
    [InlineData(0, "too few")]
    [InlineData(10_000_001, "CPU")]
    [InlineData(999_999_999, "CPU")]
    public void TryParse_IterationsOutOfBounds_RefusedWithAReasonAndTheFix(int iterations, string expectedProblem)
    {
        string text = $"$pbkdf2-sha256${iterations}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

        Assert.False(PasswordHash.IsValid(text, out string? problem));
        Assert.Contains(expectedProblem, problem, StringComparison.Ordinal);
        Assert.Contains("sockeye user add --replace", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(PasswordHash.MinIterations)]
    [InlineData(PasswordHash.DefaultIterations)]
    [InlineData(PasswordHash.MaxIterations)]
    public void TryParse_IterationsWithinBounds_Accepted(int iterations)
    {
        string text = $"$pbkdf2-sha256${iterations}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

        Assert.True(PasswordHash.IsValid(text, out string? problem), problem);
    }

    [Fact]
    public void TryParse_Malformed_NeverEchoesTheText()
    {
        const string secretLooking = "hunter2-is-my-password";

        Assert.False(PasswordHash.IsValid(secretLooking, out string? problem));
        Assert.DoesNotContain(secretLooking, problem, StringComparison.Ordinal);
    }
}
