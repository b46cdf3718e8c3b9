using System.Runtime.Versioning;
using Sockeye.Server.Authentication;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests.Users;

/// <summary><c>sockeye user add|remove|list</c>, run in process with standard input given as a reader.</summary>
/// <remarks>Unix only, like the file modes they check (Sockeye runs on Linux).</remarks>
[UnsupportedOSPlatform("windows")]
public sealed class UserCommandsTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempDirectory _directory = new();

    private string UsersPath => _directory.File("users");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Add_NoFileYet_CreatesItWithMode0600AndOnlyAHash()
    {
        (int exitCode, string output, string error) = await RunAsync("hunter2\n", "user", "add", "alice", "--file", UsersPath);

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        Assert.Contains("alice", output, StringComparison.Ordinal);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(UsersPath));
        string content = await File.ReadAllTextAsync(UsersPath);
        Assert.StartsWith("alice:$pbkdf2-sha256$600000$", content, StringComparison.Ordinal);
        Assert.EndsWith("\n", content, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", content, StringComparison.Ordinal);
        Assert.True(Verifies(content, "alice", "hunter2"));
        Assert.False(Verifies(content, "alice", "hunter3"));
    }

    [Fact]
    public async Task Add_StdinWithSeveralLines_ReadsExactlyTheFirstLine()
    {
        (int exitCode, _, _) = await RunAsync("first line\nsecond line\n", "user", "add", "alice", "-f", UsersPath);

        Assert.Equal(0, exitCode);
        string content = await File.ReadAllTextAsync(UsersPath);
        Assert.True(Verifies(content, "alice", "first line"));
    }

    [Fact]
    public async Task Add_StdinLineWithoutNewline_IsThePassword()
    {
        (int exitCode, _, _) = await RunAsync("no newline", "user", "add", "alice", "-f", UsersPath);

        Assert.Equal(0, exitCode);
        Assert.True(Verifies(await File.ReadAllTextAsync(UsersPath), "alice", "no newline"));
    }

    [Theory]
    [InlineData("", "standard input was empty")]
    [InlineData("\n", "the password is empty")]
    [InlineData("256", "at most 255")]
    public async Task Add_NoUsablePassword_ExitsTwoAndCreatesNothing(string stdin, string expected)
    {
        stdin = stdin == "256" ? new string('x', 256) + "\n" : stdin;

        (int exitCode, string output, string error) = await RunAsync(stdin, "user", "add", "alice", "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Contains(expected, Assert.Single(Lines(error)), StringComparison.Ordinal);
        Assert.False(File.Exists(UsersPath));
    }

    [Theory]
    [InlineData("a:b")]
    [InlineData(" alice")]
    [InlineData("alice ")]
    [InlineData("#alice")]
    [InlineData("al\tice")]
    public async Task Add_NameThatCannotBeAUsersFileEntry_ExitsTwo(string name)
    {
        (int exitCode, _, string error) = await RunAsync("secret\n", "user", "add", name, "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: user add:", Assert.Single(Lines(error)), StringComparison.Ordinal);
        Assert.False(File.Exists(UsersPath));
    }

    [Fact]
    public async Task Add_ExistingUser_RefusedWithoutReplaceAndFileUnchanged()
    {
        await AddAsync("alice", "first");
        string before = await File.ReadAllTextAsync(UsersPath);

        (int exitCode, _, string error) = await RunAsync("second\n", "user", "add", "alice", "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.Contains("--replace", Assert.Single(Lines(error)), StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(UsersPath));
    }

    [Fact]
    public async Task Add_Replace_ChangesOnlyThatLineKeepsCommentsAndMode0600()
    {
        string carolLine = $"carol:{PasswordHash.Create("carol's"u8, PasswordHash.MinIterations)}";
        await WriteUsersFileAsync($"# Proxy accounts\n\n{carolLine}\n", OwnerOnly);
        await AddAsync("alice", "first");

        (int exitCode, string output, _) = await RunAsync("second\n", "user", "add", "alice", "--file", UsersPath, "--replace");

        Assert.Equal(0, exitCode);
        Assert.Contains("Replaced", output, StringComparison.Ordinal);
        string[] lines = (await File.ReadAllTextAsync(UsersPath)).Split('\n');
        Assert.Equal(["# Proxy accounts", "", carolLine], lines[..3]);
        Assert.StartsWith("alice:", lines[3], StringComparison.Ordinal);
        Assert.Equal("", lines[4]);
        Assert.Equal(5, lines.Length);
        Assert.True(Verifies(lines[3], "alice", "second"));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(UsersPath));
        Assert.Equal(["users"], Directory.GetFiles(_directory.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Add_ExistingFileReadableByItsGroup_KeepsThatMode()
    {
        const UnixFileMode groupReadable = OwnerOnly | UnixFileMode.GroupRead;
        await WriteUsersFileAsync("", groupReadable);

        (int exitCode, _, _) = await RunAsync("secret\n", "user", "add", "alice", "--file", UsersPath);

        Assert.Equal(0, exitCode);
        Assert.Equal(groupReadable, File.GetUnixFileMode(UsersPath));
    }

    [Theory]
    [InlineData(UnixFileMode.GroupWrite, "0620")]
    [InlineData(UnixFileMode.OtherWrite, "0602")]
    [InlineData(UnixFileMode.GroupWrite | UnixFileMode.GroupRead | UnixFileMode.OtherWrite | UnixFileMode.OtherRead, "0666")]
    public async Task Add_FileOthersMayWrite_RefusedAndUnchanged(UnixFileMode extra, string shownMode)
    {
        await WriteUsersFileAsync("# nobody yet\n", OwnerOnly | extra);

        (int exitCode, string output, string error) = await RunAsync("secret\n", "user", "add", "alice", "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith($"sockeye: {UsersPath}: refused", line, StringComparison.Ordinal);
        Assert.Contains(shownMode, line, StringComparison.Ordinal);
        Assert.Contains("chmod 600", line, StringComparison.Ordinal);
        Assert.Equal("# nobody yet\n", await File.ReadAllTextAsync(UsersPath));
    }

    [Fact]
    public async Task Remove_ExistingUser_RemovesOnlyThatUser()
    {
        await AddAsync("alice", "a");
        await AddAsync("bob", "b");

        (int exitCode, string output, string error) = await RunAsync("", "user", "remove", "alice", "--file", UsersPath);

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        Assert.Contains("alice", output, StringComparison.Ordinal);
        Assert.Equal(["bob"], await ListAsync());
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(UsersPath));
    }

    [Fact]
    public async Task Remove_UnknownUser_ExitsTwoAndFileUnchanged()
    {
        await AddAsync("alice", "a");
        string before = await File.ReadAllTextAsync(UsersPath);

        (int exitCode, _, string error) = await RunAsync("", "user", "remove", "carol", "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.Contains("no user 'carol'", Assert.Single(Lines(error)), StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(UsersPath));
    }

    [Fact]
    public async Task Remove_MissingFile_ExitsTwoAndCreatesNothing()
    {
        (int exitCode, _, string error) = await RunAsync("", "user", "remove", "alice", "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.Contains(UsersPath, Assert.Single(Lines(error)), StringComparison.Ordinal);
        Assert.False(File.Exists(UsersPath));
    }

    [Fact]
    public async Task List_PrintsTheNamesOnlyInFileOrder()
    {
        await WriteUsersFileAsync(
            $"# accounts\nbob:{PasswordHash.Create("b"u8, PasswordHash.MinIterations)}\n\nalice:{PasswordHash.Create("a"u8, PasswordHash.MinIterations)}\n",
            OwnerOnly);

        (int exitCode, string output, string error) = await RunAsync("", "user", "list", "--file", UsersPath);

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        Assert.Equal($"bob{Environment.NewLine}alice{Environment.NewLine}", output);
    }

    [Fact]
    public async Task List_MalformedLine_ExitsTwoNamingFileAndLine()
    {
        await WriteUsersFileAsync("# accounts\nalice-without-a-hash\n", OwnerOnly);

        (int exitCode, string output, string error) = await RunAsync("", "user", "list", "--file", UsersPath);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith($"sockeye: {UsersPath}:2: expected NAME:HASH", line, StringComparison.Ordinal);
        Assert.DoesNotContain("alice-without-a-hash", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("user")]
    [InlineData("user", "add", "alice")]
    [InlineData("user", "list")]
    [InlineData("user", "frobnicate", "--file", "x")]
    public async Task User_IncompleteCommand_ExitsTwo(params string[] args)
    {
        (int exitCode, _, string error) = await RunAsync("", args);

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: ", error, StringComparison.Ordinal);
    }

    private static bool Verifies(string content, string name, string password)
    {
        string line = Assert.Single(content.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith(name + ":", StringComparison.Ordinal));
        Assert.True(PasswordHash.TryParse(line[(name.Length + 1)..], PasswordHash.MinIterations, out PasswordHash.StoredHash? hash, out string? problem), problem);
        return hash.Verify(System.Text.Encoding.UTF8.GetBytes(password));
    }

    private async Task AddAsync(string name, string password)
    {
        (int exitCode, _, string error) = await RunAsync(password + "\n", "user", "add", name, "--file", UsersPath);
        Assert.True(exitCode == 0, error);
    }

    private async Task<string[]> ListAsync()
    {
        (int exitCode, string output, string error) = await RunAsync("", "user", "list", "--file", UsersPath);
        Assert.True(exitCode == 0, error);
        return Lines(output);
    }

    private async Task WriteUsersFileAsync(string content, UnixFileMode mode)
    {
        await File.WriteAllTextAsync(UsersPath, content);
        File.SetUnixFileMode(UsersPath, mode);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string stdin, params string[] args)
    {
        using var input = new StringReader(stdin);
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exitCode = await SockeyeCommandLine.RunAsync(args, input, output, error, CancellationToken.None).WaitAsync(TestTimeouts.ProcessStart);
        return (exitCode, output.ToString(), error.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
