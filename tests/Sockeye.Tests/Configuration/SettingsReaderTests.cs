using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Sockeye.Configuration;
using Sockeye.Server.Configuration;

namespace Sockeye.Tests.Configuration;

public class SettingsReaderTests
{
    private static readonly CommandLineValues NoCommandLine = new();

    [Fact]
    public void Read_NothingConfigured_ListensOn127001Port1080WithDefaults()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 1080)], settings.Server.Listeners);
        Assert.Empty(settings.Server.Users);
        Assert.Equal(LogLevel.Information, settings.LogLevel);
        Assert.False(settings.AllowAnonymous);
        var defaults = new SockeyeServerOptions();
        Assert.Equal(defaults.HandshakeTimeout, settings.Server.HandshakeTimeout);
        Assert.Equal(defaults.ConnectTimeout, settings.Server.ConnectTimeout);
        Assert.Equal(defaults.IdleTimeout, settings.Server.IdleTimeout);
        Assert.Equal(defaults.ShutdownTimeout, settings.Server.ShutdownTimeout);
        Assert.Equal(defaults.ListenBacklog, settings.Server.ListenBacklog);
        Assert.Equal(defaults.RelayBufferBytes, settings.Server.RelayBufferBytes);
        Assert.Equal(TimeSpan.FromMicroseconds(40), settings.Server.EventLoopPoll);
    }

    [Fact]
    public void Read_Protocols_PerListener_AndDefaultsByAddress()
    {
        const string json = """
            {
              "listeners": [
                { "endpoint": "0.0.0.0:1080", "protocols": [ "socks5", "http" ] },
                { "endpoint": "127.0.0.1:1081", "protocols": "socks4a" },
                "0.0.0.0:1082"
              ],
              "users": [ "alice:secret" ],
              "socks4": { "allowWithUsers": [ "alice" ] }
            }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
        Assert.Equal(ListenerProtocols.Socks5 | ListenerProtocols.Http, settings.Server.Protocols[IPEndPoint.Parse("0.0.0.0:1080")]);
        Assert.Equal(ListenerProtocols.Socks4, settings.Server.Protocols[IPEndPoint.Parse("127.0.0.1:1081")]);
        Assert.False(settings.Server.Protocols.ContainsKey(IPEndPoint.Parse("0.0.0.0:1082")));
        Assert.Equal(ListenerProtocols.Socks5, ListenerProtocolDefaults.For(IPEndPoint.Parse("0.0.0.0:1082")));
        Assert.Equal(ListenerProtocols.All, ListenerProtocolDefaults.For(IPEndPoint.Parse("[::1]:1080")));
        Assert.Equal(["alice"], settings.Server.Socks4.AllowWithUsers);
    }

    [Fact]
    public void Read_Http_EveryKey()
    {
        const string json = """{ "http": { "maxRequestLineBytes": 4096, "maxHeaderBytes": 65536, "via": false, "realm": "corp proxy" } }""";
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
        Assert.Equal(4096, settings.Server.Http.MaxRequestLineBytes);
        Assert.Equal(65536, settings.Server.Http.MaxHeaderBytes);
        Assert.False(settings.Server.Http.Via);
        Assert.Equal("corp proxy", settings.Server.Http.Realm);
    }

    [Fact]
    public void Read_Gssapi_EveryKey_AndAuthenticatesANonLoopbackListener()
    {
        string keytab = Path.GetTempFileName();
        try
        {
            string json = $$"""{ "listeners": ["0.0.0.0:1080"], "gssapi": { "serviceName": "socks", "keytab": "{{keytab}}", "stripRealm": true, "minimumProtection": "Confidentiality" } }""";
            var errors = new List<string>();
            SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

            // No users and no allowAnonymous: GSSAPI is what keeps the proxy from being open.
            Assert.Empty(errors);
            Assert.NotNull(settings);
            GssapiOptions? gssapi = settings.Server.Gssapi;
            Assert.NotNull(gssapi);
            Assert.Equal("socks", gssapi.ServiceName);
            Assert.Equal(keytab, gssapi.Keytab);
            Assert.True(gssapi.StripRealm);
            Assert.Equal(Sockeye.Protocol.Gssapi.GssapiProtectionLevel.Confidentiality, gssapi.MinimumProtection);
        }
        finally
        {
            File.Delete(keytab);
        }
    }

    [Fact]
    public void Read_Gssapi_AbsentIsOff_UnknownKeyAndMissingKeytabAreErrors()
    {
        Assert.Null(SettingsReader.Read(Json("{}"), NoCommandLine, [])!.Server.Gssapi);

        var errors = new List<string>();
        SettingsReader.Read(Json("""{ "gssapi": { "keytab": "/nonexistent/sockeye.keytab", "realm": "X", "minimumProtection": "selective" } }"""), NoCommandLine, errors);

        Assert.Contains(errors, e => e.StartsWith("gssapi.realm: unknown setting", StringComparison.Ordinal));
        Assert.Contains(errors, e => e == "gssapi.minimumProtection: 'selective' is not none, integrity or confidentiality.");
        Assert.Equal(Sockeye.Protocol.Gssapi.GssapiProtectionLevel.None, SettingsReader.Read(Json("""{ "gssapi": { "stripRealm": false } }"""), NoCommandLine, [])!.Server.Gssapi!.MinimumProtection);
        Assert.Contains(errors, e => e.StartsWith("gssapi.keytab:", StringComparison.Ordinal));
    }

    [Fact]
    public void Read_EveryKeyInJson_EveryValueIsRead()
    {
        const string json = """
            {
              "listeners": [ { "endpoint": "127.0.0.1:1080" }, "[::1]:1081" ],
              "users": [ { "name": "alice", "password": "secret" }, "bob:hunter2" ],
              "handshakeTimeout": "3s",
              "connectTimeout": "4s",
              "idleTimeout": "30s",
              "shutdownTimeout": "250ms",
              "listenBacklog": 128,
              "relayBufferBytes": 8192,
              "allowAnonymous": true,
              "logLevel": "warning"
            }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 1080), new IPEndPoint(IPAddress.IPv6Loopback, 1081)], settings.Server.Listeners);
        Assert.Equal([new SockeyeUser("alice", "secret"), new SockeyeUser("bob", "hunter2")], settings.Server.Users);
        Assert.Equal(TimeSpan.FromSeconds(3), settings.Server.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(4), settings.Server.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.Server.IdleTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(250), settings.Server.ShutdownTimeout);
        Assert.Equal(128, settings.Server.ListenBacklog);
        Assert.Equal(8192, settings.Server.RelayBufferBytes);
        Assert.True(settings.AllowAnonymous);
        Assert.Equal(LogLevel.Warning, settings.LogLevel);
    }

    [Fact]
    public void Read_KeysAsEnvironmentVariablesSpellThem_AreReadCaseInsensitively()
    {
        // SOCKEYE_LISTENERS__0__ENDPOINT and SOCKEYE_IDLETIMEOUT arrive upper-cased, "__" turned into ":".
        IConfiguration configuration = Memory(new()
        {
            ["LISTENERS:0:ENDPOINT"] = "127.0.0.1:2080",
            ["IDLETIMEOUT"] = "7s",
            ["USERS:0"] = "carol:pw",
        });
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(configuration, NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 2080)], settings.Server.Listeners);
        Assert.Equal(TimeSpan.FromSeconds(7), settings.Server.IdleTimeout);
        Assert.Equal([new SockeyeUser("carol", "pw")], settings.Server.Users);
    }

    [Theory]
    [InlineData("trace", LogLevel.Trace)]
    [InlineData("Debug", LogLevel.Debug)]
    [InlineData("info", LogLevel.Information)]
    [InlineData("information", LogLevel.Information)]
    [InlineData("WARN", LogLevel.Warning)]
    [InlineData("error", LogLevel.Error)]
    [InlineData("critical", LogLevel.Critical)]
    [InlineData("none", LogLevel.None)]
    public void Read_LogLevel_IsParsed(string text, LogLevel expected)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["logLevel"] = text }), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(expected, settings!.LogLevel);
    }

    [Fact]
    public void Read_ListenersAsOneString_IsReadOrReportedNotIgnored()
    {
        // SOCKEYE_LISTENERS=127.0.0.1:2080 (no __0) or "listeners": "127.0.0.1:2080" in a file.
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["listeners"] = "127.0.0.1:2080" }), NoCommandLine, errors);

        Assert.True(
            errors.Count > 0 || settings!.Server.Listeners.SequenceEqual([new IPEndPoint(IPAddress.Loopback, 2080)]),
            $"listeners = {string.Join(", ", settings?.Server.Listeners ?? [])}, errors = {string.Join(" | ", errors)}");
    }

    [Fact]
    public void Read_UsersAsOneString_IsReadOrReportedNotIgnored()
    {
        // SOCKEYE_USERS=alice:secret (no __0) or "users": "alice:secret" in a file: authentication must not silently stay off.
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["users"] = "alice:secret" }), NoCommandLine, errors);

        Assert.True(
            errors.Count > 0 || settings!.Server.Users.SequenceEqual([new SockeyeUser("alice", "secret")]),
            $"users = {string.Join(", ", settings?.Server.Users ?? [])}, errors = {string.Join(" | ", errors)}");
    }

    [Fact]
    public void Read_ListenOnCommandLine_ReplacesConfiguredListenersEntirely()
    {
        const string json = """{ "listeners": [ "127.0.0.1:1080", "[::1]:1080" ] }""";
        var commandLine = new CommandLineValues { Listen = ["127.0.0.1:3000"] };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 3000)], settings!.Server.Listeners);
    }

    [Fact]
    public void Read_ListenOnCommandLine_ReplacesEvenAnInvalidConfiguredListener()
    {
        const string json = """{ "listeners": [ "nonsense" ] }""";
        var commandLine = new CommandLineValues { Listen = ["127.0.0.1:3000"] };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 3000)], settings!.Server.Listeners);
    }

    [Fact]
    public void Read_CommandLineValues_WinOverConfiguration()
    {
        const string json = """
            {
              "idleTimeout": "30s",
              "handshakeTimeout": "3s",
              "connectTimeout": "4s",
              "shutdownTimeout": "5s",
              "logLevel": "warning"
            }
            """;
        var commandLine = new CommandLineValues
        {
            IdleTimeout = "1m",
            HandshakeTimeout = "6s",
            ConnectTimeout = "7s",
            ShutdownTimeout = "8s",
            LogLevel = "debug",
        };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromMinutes(1), settings!.Server.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(6), settings.Server.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(7), settings.Server.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(8), settings.Server.ShutdownTimeout);
        Assert.Equal(LogLevel.Debug, settings.LogLevel);
    }

    [Fact]
    public void Read_CommandLineValueValid_InvalidConfiguredValueIsNotReported()
    {
        var commandLine = new CommandLineValues { IdleTimeout = "1m" };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["idleTimeout"] = "banana" }), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromMinutes(1), settings!.Server.IdleTimeout);
    }

    [Fact]
    public void Read_UserOnCommandLine_IsAddedToConfiguredUsers()
    {
        const string json = """{ "users": [ "alice:secret" ] }""";
        var commandLine = new CommandLineValues { Users = ["bob:hunter2"] };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal([new SockeyeUser("alice", "secret"), new SockeyeUser("bob", "hunter2")], settings!.Server.Users);
    }

    [Fact]
    public void Read_PasswordContainsColon_SplitsAtFirstColon()
    {
        var commandLine = new CommandLineValues { Users = ["alice:se:cret"] };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal([new SockeyeUser("alice", "se:cret")], settings!.Server.Users);
    }

    [Fact]
    public void Read_AllowAnonymousOnCommandLine_WinsOverConfiguredFalse()
    {
        var commandLine = new CommandLineValues { AllowAnonymous = true, Listen = ["0.0.0.0:1080"] };
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["allowAnonymous"] = "false" }), commandLine, errors);

        Assert.Empty(errors);
        Assert.True(settings!.AllowAnonymous);
    }

    [Fact]
    public void Read_UnknownKey_ErrorNamesIt()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "idleTimout": "30s" }"""), NoCommandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors, e => e.StartsWith("idleTimout:", StringComparison.Ordinal));
        Assert.Contains("unknown", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UnknownKeyAndNoListeners_ReportsOnlyTheUnknownKey()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "idleTimout": "30s" }"""), NoCommandLine, errors);

        Assert.Null(settings);
        Assert.StartsWith("idleTimout:", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_OnlyListenerInvalid_ReportsOnlyThatListener()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { Listen = ["nonsense"] }, errors);

        Assert.Null(settings);
        Assert.StartsWith("--listen:", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_OnlyListenerInvalid_DefaultListenerIsNotSilentlyUsedInstead()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { Listen = ["nonsense"] }, errors);

        Assert.Null(settings);
        Assert.Contains(errors, e => e.StartsWith("--listen:", StringComparison.Ordinal) && e.Contains("'nonsense'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("handshakeTimeout")]
    [InlineData("connectTimeout")]
    [InlineData("idleTimeout")]
    [InlineData("shutdownTimeout")]
    public void Read_BadDuration_ErrorNamesKeyAndValue(string key)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { [key] = "5x" }), NoCommandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith($"{key}:", error, StringComparison.Ordinal);
        Assert.Contains("'5x'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_ZeroHandshakeAndIdleTimeout_DisableThem()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["handshakeTimeout"] = "0", ["idleTimeout"] = "0" }), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(TimeSpan.Zero, settings!.Server.HandshakeTimeout);
        Assert.Equal(TimeSpan.Zero, settings.Server.IdleTimeout);
    }

    [Theory]
    [InlineData("connectTimeout")]
    [InlineData("shutdownTimeout")]
    public void Read_ZeroConnectOrShutdownTimeout_ErrorNamesKey(string key)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { [key] = "0" }), NoCommandLine, errors);

        Assert.Null(settings);
        Assert.StartsWith($"{key}:", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BadDurationOnCommandLine_ErrorNamesTheOption()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { IdleTimeout = "soon" }, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith("--idle-timeout:", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("listenBacklog", "lots")]
    [InlineData("relayBufferBytes", "64k")]
    [InlineData("allowAnonymous", "maybe")]
    [InlineData("logLevel", "loud")]
    [InlineData("eventLoopPoll", "briefly")]
    public void Read_BadValue_ErrorNamesKey(string key, string value)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { [key] = value }), NoCommandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith($"{key}:", error, StringComparison.Ordinal);
        Assert.Contains(value, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("50us", 50)]
    [InlineData("0.2ms", 200)]
    [InlineData("10ms", 10_000)]
    public void Read_EventLoopPoll_ReadToTheMicrosecond(string text, int microseconds)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["eventLoopPoll"] = text }), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromMicroseconds(microseconds), settings!.Server.EventLoopPoll);
    }

    [Theory]
    [InlineData("listenBacklog", "0")]
    [InlineData("relayBufferBytes", "100")]
    [InlineData("eventLoopPoll", "11ms")]
    public void Read_OutOfRangeNumber_ValidatorErrorNamesKey(string key, string value)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { [key] = value }), NoCommandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith($"{key}:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BadListenerInConfig_ErrorNamesItsIndex()
    {
        const string json = """{ "listeners": [ "127.0.0.1:1080", { "endpoint": "::1:1080" } ] }""";
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith("listeners[1].endpoint:", error, StringComparison.Ordinal);
        Assert.Contains("bracket", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_SeveralProblems_AreAllReportedTogether()
    {
        const string json = """
            {
              "listeners": [ "127.0.0.1:1080", "127.0.0.1:99999" ],
              "users": [ { "name": "alice" } ],
              "idleTimeout": "5x",
              "connectTimeout": "abc",
              "listenBacklog": "many",
              "colour": "blue"
            }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), new CommandLineValues { LogLevel = "loud" }, errors);

        Assert.Null(settings);
        Assert.Equal(7, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("colour:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("listeners[1]:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("users[0].password:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("idleTimeout:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("connectTimeout:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("listenBacklog:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("--log-level:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0.0.0.0:1080")]
    [InlineData("*:1080")]
    [InlineData("[::]:1080")]
    [InlineData("192.0.2.1:1080")]
    public void Read_NonLoopbackListenerWithoutUsers_RefusesAnOpenProxy(string listener)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { Listen = [listener] }, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.Contains("open proxy", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NonLoopbackListenerInConfigWithoutUsers_RefusesAnOpenProxy()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "listeners": [ "127.0.0.1:1080", "0.0.0.0:1080" ] }"""), NoCommandLine, errors);

        Assert.Null(settings);
        Assert.Contains("open proxy", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:1080")]
    [InlineData("localhost:1080")]
    [InlineData("[::1]:1080")]
    public void Read_LoopbackListenerWithoutUsers_IsAllowed(string listener)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { Listen = [listener] }, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
    }

    [Fact]
    public void Read_NonLoopbackListenerWithCommandLineUser_IsAllowed()
    {
        var errors = new List<string>();
        var commandLine = new CommandLineValues { Listen = ["0.0.0.0:1080"], Users = ["alice:secret"] };
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal([new IPEndPoint(IPAddress.Any, 1080)], settings!.Server.Listeners);
    }

    [Fact]
    public void Read_NonLoopbackListenerWithConfiguredUser_IsAllowed()
    {
        const string json = """{ "listeners": [ { "endpoint": "0.0.0.0:1080" } ], "users": [ { "name": "alice", "password": "secret" } ] }""";
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.NotNull(settings);
    }

    [Fact]
    public void Read_NonLoopbackListenerWithAllowAnonymous_IsAllowed()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "listeners": [ "0.0.0.0:1080" ], "allowAnonymous": true }"""), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.True(settings!.AllowAnonymous);
        Assert.Empty(settings.Server.Users);
    }

    [Theory]
    [InlineData("hunter2")]
    [InlineData(":hunter2")]
    [InlineData("hunter2:")]
    public void Read_MalformedUserOnCommandLine_NeverEchoesThePassword(string value)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), new CommandLineValues { Users = [value] }, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith("--user:", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_MalformedUserInConfig_NeverEchoesThePassword()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "users": [ "alice:secret", "hunter2" ] }"""), NoCommandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.StartsWith("users[1]:", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_DuplicateUser_IsReported()
    {
        var errors = new List<string>();
        var commandLine = new CommandLineValues { Users = ["alice:pw-first", "alice:pw-second"] };
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), commandLine, errors);

        Assert.Null(settings);
        string error = Assert.Single(errors);
        Assert.Contains("'alice'", error, StringComparison.Ordinal);
        Assert.DoesNotContain("pw-", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BindAndUdpSections_EveryValueIsRead()
    {
        const string json = """
            {
              "bind": { "advertiseAddress": "203.0.113.5", "acceptTimeout": "45s" },
              "dnsCacheTtl": "2m",
              "udp": { "advertiseAddress": "2001:db8::5", "maxDatagramBytes": 1500, "segmentationOffload": false }
            }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.False(settings!.Server.Udp.SegmentationOffload);
        Assert.NotNull(settings);
        Assert.Equal(IPAddress.Parse("203.0.113.5"), settings.Server.Bind.AdvertiseAddress);
        Assert.Equal(TimeSpan.FromSeconds(45), settings.Server.Bind.AcceptTimeout);
        Assert.Equal(IPAddress.Parse("2001:db8::5"), settings.Server.Udp.AdvertiseAddress);
        Assert.Equal(TimeSpan.FromMinutes(2), settings.Server.DnsCacheTtl);
        Assert.Equal(1500, settings.Server.Udp.MaxDatagramBytes);
    }

    [Fact]
    public void Read_BindAndUdpDefaults_AdvertiseNothingAndWaitAMinute()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), NoCommandLine, errors);

        Assert.NotNull(settings);
        Assert.Null(settings.Server.Bind.AdvertiseAddress);
        Assert.Equal(TimeSpan.FromSeconds(60), settings.Server.Bind.AcceptTimeout);
        Assert.Null(settings.Server.Udp.AdvertiseAddress);
        Assert.True(settings.Server.Udp.SegmentationOffload);
    }

    [Fact]
    public void Read_BadBindAndUdpValues_EachNamedWithItsKey()
    {
        const string json = """
            {
              "bind": { "advertiseAddress": "not-an-ip", "acceptTimout": "5s" },
              "dnsCacheTtl": "soon",
              "udp": { "maxDatagramBytes": 100000, "segmentationOffload": "sometimes" }
            }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Null(settings);
        Assert.Contains(errors, e => e.StartsWith("bind.advertiseAddress:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("bind.acceptTimout: unknown setting", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("dnsCacheTtl:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("udp.maxDatagramBytes:", StringComparison.Ordinal));
        Assert.Contains("udp.segmentationOffload: 'sometimes' is not true or false.", errors);
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void Read_UdpAdvertiseFromEnvironmentStyleKey_IsRead()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["UDP:ADVERTISEADDRESS"] = "198.51.100.1" }), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(IPAddress.Parse("198.51.100.1"), settings!.Server.Udp.AdvertiseAddress);
    }

    [Fact]
    public void Read_UdpPortRangeAndAdvertiseAddressPerFamily_AreRead()
    {
        const string json = """
            { "udp": { "portRange": "40000-40999", "advertiseAddress": [ "203.0.113.5", "2001:db8::5" ] } }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(new PortRange(40000, 40999), settings!.Server.Udp.PortRange);
        Assert.Equal(IPAddress.Parse("203.0.113.5"), settings.Server.Udp.AdvertiseAddressV4);
        Assert.Equal(IPAddress.Parse("2001:db8::5"), settings.Server.Udp.AdvertiseAddressV6);
    }

    [Fact]
    public void Read_UdpPortRangeAndAdvertiseListFromEnvironmentStyleKeys_AreRead()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(
            Memory(new() { ["UDP:PORTRANGE"] = "40000", ["UDP:ADVERTISEADDRESS"] = "2001:db8::7, 198.51.100.7" }), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(new PortRange(40000, 40000), settings!.Server.Udp.PortRange);
        Assert.Equal(IPAddress.Parse("198.51.100.7"), settings.Server.Udp.AdvertiseAddressV4);
        Assert.Equal(IPAddress.Parse("2001:db8::7"), settings.Server.Udp.AdvertiseAddressV6);
    }

    [Fact]
    public void Read_NoUdpPortRange_RelaysTakeEphemeralPorts()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), NoCommandLine, errors);

        Assert.Null(settings!.Server.Udp.PortRange);
        Assert.Null(settings.Server.Udp.AdvertiseAddressV4);
        Assert.Null(settings.Server.Udp.AdvertiseAddressV6);
    }

    [Theory]
    [InlineData("""{ "udp": { "portRange": "40999-40000" } }""", "udp.portRange: '40999-40000' is an empty range; write the lower port first.")]
    [InlineData("""{ "udp": { "portRange": "0-1000" } }""", "udp.portRange: 0-1000 includes port 0, which is no port a relay can be bound to; give ports from 1 to 65535, e.g. 40000-40999.")]
    [InlineData("""{ "udp": { "portRange": "0" } }""", "udp.portRange: 0 includes port 0, which is no port a relay can be bound to; give ports from 1 to 65535, e.g. 40000-40999.")]
    [InlineData("""{ "udp": { "portRange": "40000-70000" } }""", "udp.portRange: '40000-70000' is not a port (0 to 65535) or a range such as 8000-8999.")]
    [InlineData("""{ "udp": { "portRange": "high" } }""", "udp.portRange: 'high' is not a port (0 to 65535) or a range such as 8000-8999.")]
    [InlineData("""{ "udp": { "advertiseAddress": [ "203.0.113.5", "203.0.113.6" ] } }""", "udp.advertiseAddress: give at most one IPv4 address.")]
    [InlineData("""{ "udp": { "advertiseAddress": "2001:db8::5,2001:db8::6" } }""", "udp.advertiseAddress: give at most one IPv6 address.")]
    [InlineData("""{ "udp": { "advertiseAddress": [ "203.0.113.5", "udp.example" ] } }""", "udp.advertiseAddress: 'udp.example' is not an IPv4 or IPv6 address.")]
    public void Read_BadUdpPortRangeOrAdvertiseAddress_OneErrorNamingTheKey(string json, string expected)
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json(json), NoCommandLine, errors));
        Assert.Equal(expected, Assert.Single(errors));
    }

    [Theory]
    [InlineData("{}", RelayEngine.Auto)]
    [InlineData("""{ "relayMode": "copy" }""", RelayEngine.Portable)]
    [InlineData("""{ "relayMode": "Splice" }""", RelayEngine.Linux)]
    [InlineData("""{ "relay": { "engine": "portable" } }""", RelayEngine.Portable)]
    [InlineData("""{ "relay": { "engine": "Linux" } }""", RelayEngine.Linux)]
    [InlineData("""{ "relay": { "engine": "auto" } }""", RelayEngine.Auto)]
    [InlineData("""{ "relay": { "engine": "portable" }, "relayMode": "copy" }""", RelayEngine.Portable)]
    public void Read_RelayMode_IsRead(string json, RelayEngine expected)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(expected, settings!.Server.RelayEngine);
    }

    [Theory]
    [InlineData("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/metrics")]
    [InlineData("http://collector.example:4318/", "http://collector.example:4318/v1/metrics")]
    [InlineData("https://collector.example/otlp/v1/metrics", "https://collector.example/otlp/v1/metrics")]
    public void Read_MetricsOtlpEndpoint_MetricsPathAddedWhenNoneGiven(string configured, string expected)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json($$"""{ "metrics": { "otlpEndpoint": "{{configured}}", "exportInterval": "5s" } }"""), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(new Uri(expected), settings!.Metrics.OtlpEndpoint);
        Assert.Equal(TimeSpan.FromSeconds(5), settings.Metrics.ExportInterval);
    }

    [Fact]
    public void Read_NoMetricsSection_NoExportEveryFifteenSeconds()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("{}"), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Null(settings!.Metrics.OtlpEndpoint);
        Assert.Equal(TimeSpan.FromSeconds(15), settings.Metrics.ExportInterval);
    }

    [Fact]
    public void Read_MetricsOtlpOnTheCommandLine_WinsOverTheFile()
    {
        var errors = new List<string>();
        var commandLine = new CommandLineValues { MetricsOtlp = "http://127.0.0.1:9999" };
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "metrics": { "otlpEndpoint": "http://127.0.0.1:4318" } }"""), commandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(new Uri("http://127.0.0.1:9999/v1/metrics"), settings!.Metrics.OtlpEndpoint);
    }

    [Theory]
    [InlineData("""{ "metrics": { "otlpEndpoint": "127.0.0.1:4318" } }""", "metrics.otlpEndpoint: '127.0.0.1:4318' is not an http:// or https:// URL")]
    [InlineData("""{ "metrics": { "otlpEndpoint": "grpc://127.0.0.1:4317" } }""", "metrics.otlpEndpoint: 'grpc://127.0.0.1:4317' is not an http:// or https:// URL")]
    [InlineData("""{ "metrics": { "exportInterval": "10ms" } }""", "metrics.exportInterval: 10ms is out of range")]
    [InlineData("""{ "metrics": { "exportInterval": "often" } }""", "metrics.exportInterval: 'often' is not a duration")]
    [InlineData("""{ "metrics": { "prometheus": true } }""", "metrics.prometheus: unknown setting")]
    public void Read_BadMetricsSetting_NamesTheKey(string json, string expected)
    {
        var errors = new List<string>();

        Assert.Null(SettingsReader.Read(Json(json), NoCommandLine, errors));
        Assert.StartsWith(expected, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "relay": { "engine": "epoll" } }""", "relay.engine:")]
    [InlineData("""{ "relay": { "engine": "portable" }, "relayMode": "splice" }""", "relay.engine and relayMode disagree")]
    [InlineData("""{ "relay": { "engines": "portable" } }""", "relay.engines")]
    public void Read_BadRelayEngine_NamesTheKey(string json, string expectedStart)
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json(json), NoCommandLine, errors));
        Assert.StartsWith(expectedStart, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UnknownRelayMode_NamesTheKey()
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json("""{ "relayMode": "zerocopy" }"""), NoCommandLine, errors));
        Assert.StartsWith("relayMode:", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_LimitsSection_EveryValueIsRead()
    {
        const string json = """
            { "limits": { "maxHandshakes": 200, "maxSessions": 5000, "maxSessionsPerUser": 50, "maxSessionsPerClientAddress": 20 } }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        LimitsOptions limits = settings!.Server.Limits;
        Assert.Equal(200, limits.MaxHandshakes);
        Assert.Equal(5000, limits.MaxSessions);
        Assert.Equal(50, limits.MaxSessionsPerUser);
        Assert.Equal(20, limits.MaxSessionsPerClientAddress);
    }

    [Fact]
    public void Read_NegativeLimitOrUnknownLimitKey_NamedWithItsKey()
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json("""{ "limits": { "maxSessions": -1, "maxSesions": 3 } }"""), NoCommandLine, errors));
        Assert.Contains(errors, e => e.StartsWith("limits.maxSessions:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("limits.maxSesions: unknown setting", StringComparison.Ordinal));
    }

    [Fact]
    public void Read_Bandwidth_SizesWithSuffixesAreBytesPerSecond()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "limits": { "sessionBandwidth": "512k", "userBandwidth": "10M" } }"""), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(512 * 1024, settings!.Server.Limits.SessionBytesPerSecond);
        Assert.Equal(10L << 20, settings.Server.Limits.UserBytesPerSecond);
    }

    [Fact]
    public void Read_BandwidthAsPlainNumberFromEnvironmentStyleKey_IsRead()
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Memory(new() { ["LIMITS:SESSIONBANDWIDTH"] = "1048576" }), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(1 << 20, settings!.Server.Limits.SessionBytesPerSecond);
        Assert.Equal(0, settings.Server.Limits.UserBytesPerSecond);
    }

    [Theory]
    [InlineData("fast", "limits.sessionBandwidth: 'fast' is not a rate")]
    [InlineData("10MB", "limits.sessionBandwidth: '10MB' uses MB, which is ambiguous")]
    [InlineData("100", "limits.sessionBandwidth: 100 bytes per second is below the minimum of 1024")]
    public void Read_BadBandwidth_OneLineNamingTheKey(string value, string expectedStart)
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json($$"""{ "limits": { "sessionBandwidth": "{{value}}" } }"""), NoCommandLine, errors));

        string error = Assert.Single(errors);
        Assert.StartsWith(expectedStart, error, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UdpIdleTimeout_IsReadAndZeroDisablesIt()
    {
        var errors = new List<string>();
        Assert.Equal(TimeSpan.FromMinutes(5), SettingsReader.Read(Json("{}"), NoCommandLine, errors)!.Server.Udp.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(90), SettingsReader.Read(Json("""{ "udp": { "idleTimeout": "90s" } }"""), NoCommandLine, errors)!.Server.Udp.IdleTimeout);
        Assert.Equal(TimeSpan.Zero, SettingsReader.Read(Json("""{ "udp": { "idleTimeout": "0" } }"""), NoCommandLine, errors)!.Server.Udp.IdleTimeout);
        Assert.Empty(errors);

        Assert.Null(SettingsReader.Read(Json("""{ "udp": { "idleTimeout": "soon" } }"""), NoCommandLine, errors));
        Assert.StartsWith("udp.idleTimeout: 'soon' is not a duration", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ }""", false)]
    [InlineData("""{ "logFormat": "text" }""", false)]
    [InlineData("""{ "logFormat": "JSON" }""", true)]
    public void Read_LogFormat_TextOrJson(string json, bool jsonLogs)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(jsonLogs, settings!.JsonLogs);
    }

    [Fact]
    public void Read_LogFormatUnknown_NamesTheKey_AndTheCommandLineWins()
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json("""{ "logFormat": "xml" }"""), NoCommandLine, errors));
        Assert.Equal("logFormat: 'xml' is not a log format; use text or json.", Assert.Single(errors));

        errors.Clear();
        SockeyeSettings? settings = SettingsReader.Read(Json("""{ "logFormat": "text" }"""), new CommandLineValues { LogFormat = "json" }, errors);
        Assert.True(settings!.JsonLogs);
    }

    [Fact]
    public void Read_AccessLogPath_ReadAndChecked()
    {
        var errors = new List<string>();
        Assert.Equal("/var/log/sockeye/access.log", SettingsReader.Read(Json("""{ "accessLog": { "path": "/var/log/sockeye/access.log" } }"""), NoCommandLine, errors)!.AccessLogPath);
        Assert.Null(SettingsReader.Read(Json("""{ }"""), NoCommandLine, errors)!.AccessLogPath);
        Assert.Empty(errors);

        Assert.Null(SettingsReader.Read(Json("""{ "accessLog": { "path": " ", "file": "x" } }"""), NoCommandLine, errors));
        Assert.Equal(["accessLog.file: unknown setting; see docs/configuration.md for the keys Sockeye reads.", "accessLog.path: give a file, or leave the key out for the console."], errors);
    }

    [Fact]
    public void Read_AuthenticationSection_EveryValueIsRead()
    {
        const string json = """
            { "authentication": { "failureDelay": "100ms", "maxFailureDelay": "2s", "maxFailures": 5, "banDuration": "15m" } }
            """;
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        AuthenticationOptions authentication = settings!.Server.Authentication;
        Assert.Equal(TimeSpan.FromMilliseconds(100), authentication.FailureDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), authentication.MaxFailureDelay);
        Assert.Equal(5, authentication.MaxFailures);
        Assert.Equal(TimeSpan.FromMinutes(15), authentication.BanDuration);
    }

    [Theory]
    [InlineData("""{ "authentication": { "banExempt": [ "127.0.0.0/8", "::1" ] } }""", "127.0.0.0/8,::1/128")]
    [InlineData("""{ "authentication": { "banExempt": "10.0.0.0/8, 192.0.2.7" } }""", "10.0.0.0/8,192.0.2.7/32")]
    public void Read_BanExempt_NetworksAndAddresses_ListOrCommaSeparated(string json, string expected)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(expected, string.Join(',', settings!.Server.Authentication.BanExempt));
    }

    [Fact]
    public void Read_BanExemptNotANetwork_NamesTheKeyAndTheValue()
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json("""{ "authentication": { "banExempt": [ "localhost" ] } }"""), NoCommandLine, errors));
        Assert.Equal("authentication.banExempt: 'localhost' is not a network (such as 127.0.0.0/8) or an address.", Assert.Single(errors));
    }

    [Theory]
    [InlineData("""{ "outbound": { "bindAddress": "127.0.0.2" } }""", "127.0.0.2", null)]
    [InlineData("""{ "outbound": { "bindAddress": [ "127.0.0.2", "::1" ] } }""", "127.0.0.2", "::1")]
    [InlineData("""{ "outbound": { "bindAddress": "::1,127.0.0.3" } }""", "127.0.0.3", "::1")]
    public void Read_OutboundBindAddress_OnePerFamily(string json, string? v4, string? v6)
    {
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(Json(json), NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(v4, settings!.Server.Outbound.BindAddressV4?.ToString());
        Assert.Equal(v6, settings.Server.Outbound.BindAddressV6?.ToString());
    }

    [Theory]
    [InlineData("""{ "outbound": { "bindAddress": "nowhere" } }""")]
    [InlineData("""{ "outbound": { "bindAddress": [ "127.0.0.2", "127.0.0.3" ] } }""")]
    [InlineData("""{ "outbound": { "source": "127.0.0.2" } }""")]
    public void Read_BadOutbound_NamesTheKey(string json)
    {
        var errors = new List<string>();
        Assert.Null(SettingsReader.Read(Json(json), NoCommandLine, errors));
        Assert.StartsWith("outbound.", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UnknownTopLevelKeysOnlyFromTheEnvironment_IgnoredAndNamedAsTheVariables()
    {
        // What Kubernetes sets in every pod of a namespace with a Service named sockeye.
        IConfiguration configuration = JsonAndEnvironment("""{ "idleTimeout": "30s" }""", new()
        {
            ["PORT"] = "tcp://10.0.0.1:1080",
            ["PORT_1080_TCP_ADDR"] = "10.0.0.1",
            ["SERVICE_HOST"] = "10.0.0.1",
            ["SERVICE_PORT"] = "1080",
            ["IDLETIMEOUT"] = "45s",
        });
        var errors = new List<string>();
        SockeyeSettings? settings = SettingsReader.Read(configuration, NoCommandLine, errors);

        Assert.Empty(errors);
        Assert.Equal(["SOCKEYE_PORT", "SOCKEYE_PORT_1080_TCP_ADDR", "SOCKEYE_SERVICE_HOST", "SOCKEYE_SERVICE_PORT"], settings!.IgnoredEnvironmentVariables);
        Assert.Equal(TimeSpan.FromSeconds(45), settings.Server.IdleTimeout);
    }

    [Fact]
    public void Read_UnknownSectionOnlyFromTheEnvironment_StillAnError()
    {
        // SOCKEYE_EXTRA__A: a double underscore, which no Kubernetes variable has, makes a section: a mistyped setting.
        IConfiguration configuration = JsonAndEnvironment("{}", new() { ["EXTRA:A"] = "1", ["SERVICE_HOST"] = "10.0.0.1" });
        var errors = new List<string>();

        Assert.Null(SettingsReader.Read(configuration, NoCommandLine, errors));
        Assert.Equal("EXTRA: unknown setting; see docs/configuration.md for the keys Sockeye reads.", Assert.Single(errors));
    }

    [Fact]
    public void Read_UnknownKeyInTheFile_StillAnError_EvenWhenTheEnvironmentGivesItToo()
    {
        IConfiguration configuration = JsonAndEnvironment("""{ "port": 1080 }""", new() { ["PORT"] = "tcp://10.0.0.1:1080", ["SERVICE_HOST"] = "10.0.0.1" });
        var errors = new List<string>();

        Assert.Null(SettingsReader.Read(configuration, NoCommandLine, errors));
        // Spelt as the last source that gives it spells it.
        Assert.Equal("port: unknown setting; see docs/configuration.md for the keys Sockeye reads.", Assert.Single(errors), ignoreCase: true);
    }

    [Fact]
    public void Read_UnknownKeyInAKnownSectionFromTheEnvironment_StillAnError()
    {
        // SOCKEYE_UDP__BOGUS: no Kubernetes variable has a double underscore; this is a mistyped setting.
        IConfiguration configuration = JsonAndEnvironment("{}", new() { ["UDP:BOGUS"] = "1" });
        var errors = new List<string>();

        Assert.Null(SettingsReader.Read(configuration, NoCommandLine, errors));
        Assert.Equal("udp.BOGUS: unknown setting; see docs/configuration.md for the keys Sockeye reads.", Assert.Single(errors));
    }

    [Fact]
    public void Read_UnknownKeyFromAnotherSource_StillAnError()
    {
        var errors = new List<string>();

        Assert.Null(SettingsReader.Read(Memory(new() { ["PORT"] = "1080" }), NoCommandLine, errors));
        Assert.Equal("PORT: unknown setting; see docs/configuration.md for the keys Sockeye reads.", Assert.Single(errors));
    }

    /// <summary>A config file and, after it, environment variables as the real provider holds them (prefix taken off, __ as :).</summary>
    private static IConfiguration JsonAndEnvironment(string json, Dictionary<string, string?> environment) =>
        new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json)))
            .Add(new FixedEnvironmentSource(environment))
            .Build();

    /// <summary>
    /// The environment provider with fixed variables instead of the process's, which tests running in parallel share.
    /// </summary>
    private sealed class FixedEnvironmentSource(Dictionary<string, string?> variables) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new FixedEnvironmentProvider(variables);
    }

    private sealed class FixedEnvironmentProvider(Dictionary<string, string?> variables)
        : Microsoft.Extensions.Configuration.EnvironmentVariables.EnvironmentVariablesConfigurationProvider(SettingsReader.EnvironmentPrefix)
    {
        public override void Load() => Data = new Dictionary<string, string?>(variables, StringComparer.OrdinalIgnoreCase);
    }

    private static IConfiguration Json(string json) =>
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

    private static IConfiguration Memory(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
