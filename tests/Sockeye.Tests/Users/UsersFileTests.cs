using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.Extensions.Configuration;
using Sockeye.Configuration;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Users;

/// <summary>Serving with a users file: <c>--users-file</c> and <c>usersFile</c>, the checks made before anything listens, and a real login.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class UsersFileTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly ITestOutputHelper _output;
    private readonly TempDirectory _directory = new();

    public UsersFileTests(ITestOutputHelper output)
    {
        _output = output;
    }

    private string UsersPath => _directory.File("users");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Process_UserFromTheFile_LogsInAndRelays()
    {
        await WriteUsersFileAsync($"# proxy accounts\ncarol:{Hash("correct horse")}\n", OwnerOnly);
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0", "--users-file", UsersPath]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();

        using Socket client = await Socks5Client.ConnectAsync(port, ("carol", "correct horse"), target.Port);
        using Socket upstream = await target.AcceptAsync();
        await Socks5Client.SendAsync(client, "ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await Socks5Client.ReceiveExactlyAsync(upstream, 4));

        using Socket wrong = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await wrong.ConnectAsync(System.Net.IPAddress.Loopback, port).DefaultTimeout();
        await Socks5Client.SendAsync(wrong, [0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await Socks5Client.ReceiveExactlyAsync(wrong, 2));
        Assert.Equal(0x01, (await Socks5Client.AuthenticateAsync(wrong, "carol", "wrong horse"))[1]);
    }

    [Theory]
    [InlineData(UnixFileMode.GroupWrite)]
    [InlineData(UnixFileMode.OtherWrite | UnixFileMode.OtherRead)]
    public async Task Serve_FileOthersMayWrite_ExitsTwoWithOneLineNamingTheFile(UnixFileMode extra)
    {
        await WriteUsersFileAsync($"carol:{Hash("correct horse")}\n", OwnerOnly | extra);

        (int exitCode, string error) = await ServeAsync("--listen", "127.0.0.1:0", "--users-file", UsersPath);

        Assert.Equal(2, exitCode);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith($"sockeye: --users-file: {UsersPath}: refused because its group or others may write it", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_MissingFile_ExitsTwoNamingIt()
    {
        (int exitCode, string error) = await ServeAsync("--listen", "127.0.0.1:0", "--users-file", UsersPath);

        Assert.Equal(2, exitCode);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith($"sockeye: --users-file: {UsersPath}: cannot read it", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_Directory_ExitsTwoSayingItIsNotAFile()
    {
        (int exitCode, string error) = await ServeAsync("--listen", "127.0.0.1:0", "--users-file", _directory.Path);

        Assert.Equal(2, exitCode);
        Assert.Contains("is a directory", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_BadLines_ExitsTwoWithFileAndLineForEach()
    {
        string carol = $"carol:{Hash("correct horse")}";
        await WriteUsersFileAsync(
            $"# accounts\n{carol}\njust-a-password\n{carol}\ndave:$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nerin:plaintext\n",
            OwnerOnly);

        (int exitCode, string error) = await ServeAsync("--listen", "127.0.0.1:0", "--users-file", UsersPath);

        Assert.Equal(2, exitCode);
        string[] lines = Lines(error);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith($"sockeye: --users-file: {UsersPath}:3: expected NAME:HASH", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"sockeye: --users-file: {UsersPath}:4: user 'carol' is already on line 2", lines[1], StringComparison.Ordinal);
        Assert.StartsWith($"sockeye: --users-file: {UsersPath}:5: user 'dave': 1000 iterations is too few", lines[2], StringComparison.Ordinal);
        Assert.StartsWith($"sockeye: --users-file: {UsersPath}:6: user 'erin': not a password hash", lines[3], StringComparison.Ordinal);
        Assert.DoesNotContain("just-a-password", error, StringComparison.Ordinal);
        Assert.DoesNotContain("plaintext", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UsersFileInConfig_AddsHashedUsersToTheInlineOnes()
    {
        string hash = Hash("correct horse");
        File.WriteAllText(UsersPath, $"carol:{hash}\n");
        File.SetUnixFileMode(UsersPath, OwnerOnly);
        var errors = new List<string>();

        SockeyeSettings? settings = SettingsReader.Read(Json($$"""{ "usersFile": "{{UsersPath}}", "users": [ "alice:secret" ] }"""), new CommandLineValues(), errors);

        Assert.Empty(errors);
        Assert.Equal([new SockeyeUser("alice", "secret"), SockeyeUser.FromPasswordHash("carol", hash)], settings!.Server.Users);
    }

    [Fact]
    public void Read_UsersFileOnCommandLine_WinsOverTheConfig()
    {
        string hash = Hash("correct horse");
        File.WriteAllText(UsersPath, $"carol:{hash}\n");
        File.SetUnixFileMode(UsersPath, OwnerOnly);
        var errors = new List<string>();

        SockeyeSettings? settings = SettingsReader.Read(
            Json($$"""{ "usersFile": "{{_directory.File("missing")}}" }"""), new CommandLineValues { UsersFile = UsersPath }, errors);

        Assert.Empty(errors);
        Assert.Equal([SockeyeUser.FromPasswordHash("carol", hash)], settings!.Server.Users);
    }

    [Fact]
    public void Read_SameNameInFileAndOnCommandLine_IsAnError()
    {
        File.WriteAllText(UsersPath, $"\nalice:{Hash("correct horse")}\n");
        File.SetUnixFileMode(UsersPath, OwnerOnly);
        var errors = new List<string>();

        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { UsersFile = UsersPath, Users = ["alice:secret"] }, errors);

        Assert.Null(settings);
        Assert.StartsWith($"--users-file: {UsersPath}:2: user 'alice' is also given", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_VerifiedCacheTtl_IsReadAndValidated()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "authentication": { "verifiedCacheTtl": "30s" } }"""), new CommandLineValues(), errors);
        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromSeconds(30), settings!.Server.Authentication.VerifiedCacheTtl);

        Assert.Null(SettingsReader.Read(Json("""{ "authentication": { "verifiedCacheTtl": "-5s" } }"""), new CommandLineValues(), errors));
        Assert.StartsWith("authentication.verifiedCacheTtl:", Assert.Single(errors), StringComparison.Ordinal);
    }

    private static string Hash(string password) => PasswordHash.Create(Encoding.UTF8.GetBytes(password), PasswordHash.MinIterations);

    private async Task WriteUsersFileAsync(string content, UnixFileMode mode)
    {
        await File.WriteAllTextAsync(UsersPath, content);
        File.SetUnixFileMode(UsersPath, mode);
    }

    private static async Task<(int ExitCode, string Error)> ServeAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        // Should the server start after all, the token stops it and the exit code (0) fails the test.
        using var stop = new CancellationTokenSource(TestTimeouts.Default);
        int exitCode = await SockeyeCommandLine.RunAsync(args, output, error, stop.Token).WaitAsync(TestTimeouts.ProcessStart);
        return (exitCode, error.ToString());
    }

    private static IConfiguration Json(string json) =>
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
