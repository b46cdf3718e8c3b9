using SharpFuzz;
using Sockeye.Fuzz;

// Usage: Sockeye.Fuzz TARGET. Under AFL (after `sharpfuzz` has instrumented Sockeye.Protocol.dll): afl-fuzz -i
// Corpus/TARGET -o findings -- dotnet Sockeye.Fuzz.dll TARGET. fuzz/README.md has the whole recipe.
string target = args.Length > 0 ? args[0] : "";
switch (target)
{
    case "proxy-header":
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            _ = ProxyHeaderTarget.Run(copy.ToArray());
        });
        return 0;
    case "http-request":
        Fuzzer.OutOfProcess.Run(stream => _ = HttpRequestHeadTarget.Run(ReadAll(stream)));
        return 0;
    case "http-response":
        Fuzzer.OutOfProcess.Run(stream => _ = HttpResponseHeadTarget.Run(ReadAll(stream)));
        return 0;
    case "http-chunked":
        Fuzzer.OutOfProcess.Run(stream => _ = HttpChunkedBodyTarget.Run(ReadAll(stream)));
        return 0;
    case "socks4-request":
        Fuzzer.OutOfProcess.Run(stream => _ = Socks4RequestTarget.Run(ReadAll(stream)));
        return 0;
    case "socks5-greeting":
        Fuzzer.OutOfProcess.Run(stream => _ = Socks5GreetingTarget.Run(ReadAll(stream)));
        return 0;
    case "socks5-credentials":
        Fuzzer.OutOfProcess.Run(stream => _ = UsernamePasswordRequestTarget.Run(ReadAll(stream)));
        return 0;
    case "socks5-credentials-reply":
        Fuzzer.OutOfProcess.Run(stream => _ = UsernamePasswordReplyTarget.Run(ReadAll(stream)));
        return 0;
    case "socks5-request":
        Fuzzer.OutOfProcess.Run(stream => _ = Socks5RequestTarget.Run(ReadAll(stream)));
        return 0;
    case "socks5-reply":
        Fuzzer.OutOfProcess.Run(stream => _ = Socks5ReplyTarget.Run(ReadAll(stream)));
        return 0;
    case "udp-header":
        Fuzzer.OutOfProcess.Run(stream => _ = Socks5UdpHeaderTarget.Run(ReadAll(stream)));
        return 0;
    case "gssapi-message":
        Fuzzer.OutOfProcess.Run(stream => _ = GssapiMessageTarget.Run(ReadAll(stream)));
        return 0;
    default:
        Console.Error.WriteLine(
            "usage: Sockeye.Fuzz proxy-header|http-request|http-response|http-chunked|socks4-request|socks5-greeting|" +
            "socks5-credentials|socks5-credentials-reply|socks5-request|socks5-reply|udp-header|gssapi-message");
        return 2;
}

static byte[] ReadAll(Stream stream)
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    return copy.ToArray();
}
