namespace Sockeye.Protocol.Http;

/// <summary>The one place that chooses a response status for a message that failed to parse.</summary>
public static class HttpParseErrorExtensions
{
    /// <summary>
    /// The status a proxy answers a client with: 414 for <see cref="HttpParseError.RequestLineTooLong"/>, 431 for
    /// <see cref="HttpParseError.HeadTooLarge"/>, 505 for <see cref="HttpParseError.UnsupportedVersion"/>, 400 for
    /// every other error (<see cref="HttpParseError.InvalidChunk"/> included: a broken body from an origin is the
    /// caller's 502 to decide).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="error"/> is <see cref="HttpParseError.None"/> or not defined.</exception>
    public static int ToStatusCode(this HttpParseError error) => error switch
    {
        HttpParseError.RequestLineTooLong => 414,
        HttpParseError.HeadTooLarge => 431,
        HttpParseError.UnsupportedVersion => 505,
        HttpParseError.Malformed or HttpParseError.InvalidContentLength or HttpParseError.ConflictingFraming
            or HttpParseError.MissingHost or HttpParseError.NotAProxyRequest or HttpParseError.UnsupportedScheme
            or HttpParseError.InvalidChunk => 400,
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "Not an error: there is no status for it."),
    };
}
