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
    default:
        Console.Error.WriteLine("usage: Sockeye.Fuzz proxy-header");
        return 2;
}
