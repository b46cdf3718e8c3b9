using System.Buffers;
using System.Security.Cryptography;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Fuzz;

/// <summary>
/// The RFC 1929 request parser (<see cref="UsernamePasswordRequest.TryParse"/>) fed arbitrary bytes in two segments
/// (split where the first byte says), and checked for what must hold whatever the bytes: no exception; one segment and
/// two agreeing; a reader that moved only past a parsed request; every shorter prefix asking for more; the fields
/// copied into the scratch span as documented (UNAME at its start, PASSWD right after, nothing written beyond them, and
/// no password bytes at all when the parse fails); and a request that writes back to the very bytes it was parsed from.
/// </summary>
public static class UsernamePasswordRequestTarget
{
    // What the scratch holds before a parse, so that the target can see which bytes the parser wrote.
    private const byte Untouched = 0xA5;

    /// <summary>Runs one input; returns whether it held a request. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        int split = bytes.Length == 0 ? 0 : bytes[0] % (bytes.Length + 1);
        Span<byte> scratch = stackalloc byte[UsernamePasswordRequest.ScratchLength];
        Span<byte> wholeScratch = stackalloc byte[UsernamePasswordRequest.ScratchLength];
        scratch.Fill(Untouched);
        wholeScratch.Fill(Untouched);
        try
        {
            return RunCore(bytes, split, scratch, wholeScratch);
        }
        finally
        {
            // The type's documentation asks every caller to clear the scratch after use: it held a password.
            CryptographicOperations.ZeroMemory(scratch);
            CryptographicOperations.ZeroMemory(wholeScratch);
        }
    }

    private static bool RunCore(byte[] bytes, int split, Span<byte> scratch, Span<byte> wholeScratch)
    {
        var reader = new SequenceReader<byte>(Segments.Of(bytes, split));
        bool parsed = UsernamePasswordRequest.TryParse(ref reader, scratch, out UsernamePasswordRequest request, out Socks5ParseError error);
        var whole = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsedWhole = UsernamePasswordRequest.TryParse(ref whole, wholeScratch, out UsernamePasswordRequest wholeRequest, out Socks5ParseError wholeError);
        Check(parsed == parsedWhole && error == wholeError && reader.Consumed == whole.Consumed &&
            request.Username.SequenceEqual(wholeRequest.Username) && request.Password.SequenceEqual(wholeRequest.Password),
            "one segment and two disagree");
        if (!parsed)
        {
            Check(reader.Consumed == 0, "a failed parse moved the reader");
            Check(request.Username.IsEmpty && request.Password.IsEmpty, "a failed parse returned fields");

            // Only a whole UNAME may have been copied: a request that fails never leaves PASSWD bytes in the scratch.
            int usernameLength = bytes.Length > 1 ? bytes[1] : 0;
            Check(!scratch[usernameLength..].ContainsAnyExcept(Untouched), "a failed parse wrote beyond UNAME in the scratch");
            return false;
        }

        int length = (int)reader.Consumed;
        int ulen = bytes[1];
        int plen = bytes[2 + ulen];
        Check(error == Socks5ParseError.None, "a parsed request came with an error");
        Check(length == 3 + ulen + plen && length == request.WireLength && length <= UsernamePasswordRequest.MaxLength,
            "the request's length is not ULEN + PLEN + 3");
        Check(ulen > 0 && plen > 0, "an empty field was accepted");
        Check(request.Username.SequenceEqual(bytes.AsSpan(2, ulen)) && request.Password.SequenceEqual(bytes.AsSpan(3 + ulen, plen)),
            "the fields differ from the bytes");
        Check(scratch.Overlaps(request.Username, out int usernameOffset) && usernameOffset == 0 &&
            scratch.Overlaps(request.Password, out int passwordOffset) && passwordOffset == ulen,
            "the fields are not where the documentation puts them in the scratch");
        Check(!scratch[(ulen + plen)..].ContainsAnyExcept(Untouched), "the parse wrote beyond the fields in the scratch");

        byte[] prefixScratch = new byte[UsernamePasswordRequest.ScratchLength];
        for (int prefix = 0; prefix < length; prefix++)
        {
            var shorter = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, prefix));
            Check(!UsernamePasswordRequest.TryParse(ref shorter, prefixScratch, out _, out Socks5ParseError prefixError) && prefixError == Socks5ParseError.None,
                "a prefix of a parsed request did not ask for more");
        }

        CryptographicOperations.ZeroMemory(prefixScratch);
        byte[] written = new byte[UsernamePasswordRequest.MaxLength];
        int writtenLength = request.Write(written);
        Check(writtenLength == length && written.AsSpan(0, writtenLength).SequenceEqual(bytes.AsSpan(0, length)),
            "the written request differs from the parsed bytes");
        CryptographicOperations.ZeroMemory(written);
        return true;
    }

    private static void Check(bool condition, string invariant)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(invariant);
        }
    }
}
