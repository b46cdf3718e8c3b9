using System.Globalization;
using System.Security.Cryptography;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing.Kerberos;
using Sockeye.Testing.Origins;

namespace Sockeye.Server.Tests.Clients;

/// <summary>
/// RFC 1961 per-message protection with python3-gssapi (Clients/rfc1961_client.py): the client asks for integrity (1),
/// confidentiality (2) or selective (3, which the server treats as 2); after the protection answer the request, the
/// reply, every relayed byte and every UDP datagram travel wrapped in X'01 03' messages. The server is not configured
/// for a minimum: the client's request alone must get the level (a level below the one asked ends the script with its
/// "granted level unacceptable", exit code 8).
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class PythonGssapiProtectionTests
{
    private const int OneMebibyte = 1024 * 1024;

    [PythonGssapiTheory]
    [InlineData("integrity", false)]
    [InlineData("confidentiality", false)]
    [InlineData("selective", false)]
    [InlineData("integrity", true)]
    [InlineData("confidentiality", true)]
    public async Task Level_HttpGet_ReturnsTheBody(string level, bool nec)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var http = new HttpTestServer($"wrapped at {level}");

        string[] arguments = ["--level", level, "--connect", PythonGssapiClient.Endpoint(http.EndPoint), "--get", "/", .. nec ? ["--nec"] : Array.Empty<string>()];
        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(realm, server.EndPoint, arguments);

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(http.Body, output);
        Assert.Contains($"protection level {(level == "integrity" ? "1 (integrity)" : "2 (confidentiality)")} granted", error, StringComparison.Ordinal);
    }

    [PythonGssapiTheory]
    [InlineData("integrity", false)]
    [InlineData("confidentiality", false)]
    [InlineData("confidentiality", true)]
    public async Task Level_OneMebibyteGet_ArrivesWhole(string level, bool fragment)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);

        string[] arguments = ["--level", level, "--digest", "--connect", PythonGssapiClient.Endpoint(origin.EndPoint),
            "--get", $"/chunked/{OneMebibyte}", .. fragment ? ["--fragment"] : Array.Empty<string>()];
        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(realm, server.EndPoint, arguments);

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(Digest(OriginContent.Bytes(OneMebibyte)), output);
    }

    /// <summary>1 MiB up and the same 1 MiB back down (the origin's /echo streams the body back as it reads it).</summary>
    [PythonGssapiTheory]
    [InlineData("integrity", false)]
    [InlineData("confidentiality", false)]
    [InlineData("selective", true)]
    public async Task Level_OneMebibyteEcho_BothWays(string level, bool fragment)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        await using OriginServer origin = await OriginServer.StartAsync(tls: false);

        string[] arguments = ["--level", level, "--digest", "--connect", PythonGssapiClient.Endpoint(origin.EndPoint),
            "--post", "/echo", "--body-bytes", OneMebibyte.ToString(CultureInfo.InvariantCulture), .. fragment ? ["--fragment"] : Array.Empty<string>()];
        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(realm, server.EndPoint, arguments);

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        Assert.Equal(Digest(OriginContent.Bytes(OneMebibyte)), output);
    }

    [PythonGssapiTheory]
    [InlineData("integrity")]
    [InlineData("confidentiality")]
    [InlineData("selective")]
    public async Task Level_UdpAssociate_EchoesWrappedDatagrams(string level)
    {
        await using var realm = await KerberosRealm.StartAsync();
        await realm.KinitUserAsync();
        using IDisposable environment = realm.UseInThisProcess();
        await using TestServer server = await PythonGssapiClient.StartServerAsync(realm);
        using var echo = new UdpEcho();

        (int exitCode, string output, string error) = await PythonGssapiClient.RunAsync(
            realm, server.EndPoint, "--level", level, "--udp", PythonGssapiClient.Endpoint(echo.EndPoint),
            "--datagram", "one", "--datagram", "two", "--datagram", "three");

        Assert.True(exitCode == PythonGssapiClient.Succeeded, PythonGssapiClient.Explain(realm, exitCode, error));
        int port = echo.EndPoint.Port;
        Assert.Equal($"one 127.0.0.1 {port}\ntwo 127.0.0.1 {port}\nthree 127.0.0.1 {port}\n", output);
    }

    /// <summary>What the script prints for <c>--digest</c>: the length and the SHA-256 of what it received.</summary>
    private static string Digest(byte[] body) =>
        $"{body.Length} {Convert.ToHexStringLower(SHA256.HashData(body))}\n";
}
