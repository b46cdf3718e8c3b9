using System.Buffers;

namespace Sockeye.Protocol.Tests.TestSupport;

/// <summary>
/// A TCP-side parser whose message is turned into a comparable value (a record, or a summary string for a
/// <see langword="ref struct"/> or a type without equality), so that parses of the same bytes can be compared.
/// </summary>
internal delegate bool TryParseMessage<TMessage, TError>(ref SequenceReader<byte> reader, out TMessage message, out TError error)
    where TError : struct, Enum;

/// <summary>One parse's outcome as a value: parsed (with the message), need more, or refused with an error.</summary>
internal readonly record struct ParseOutcome<TMessage, TError>(bool Parsed, TError Error, long Consumed, TMessage? Message)
    where TError : struct, Enum
{
    public bool NeedsMore => !Parsed && EqualityComparer<TError>.Default.Equals(Error, default);

    public bool Refused => !Parsed && !NeedsMore;
}

/// <summary>
/// The properties every sequence parser shares (STYLE.md 2.9), checked over arbitrary bytes: one outcome however the
/// bytes are segmented, a reader that moves only past a parsed message, and a decision that does not change as more
/// bytes arrive.
/// </summary>
internal static class ParseOutcome
{
    /// <summary>
    /// Parses <paramref name="sequence"/> after <paramref name="lead"/> already consumed bytes, and checks the reader
    /// contract: a parse consumes at least one byte and no more than there are, and a need-more or a refusal leaves the
    /// reader where it was. The outcome's <c>Consumed</c> does not count the lead.
    /// </summary>
    public static ParseOutcome<TMessage, TError> Of<TMessage, TError>(ReadOnlySequence<byte> sequence, TryParseMessage<TMessage, TError> tryParse, int lead = 0)
        where TError : struct, Enum
    {
        var reader = new SequenceReader<byte>(sequence);
        reader.Advance(lead);
        bool parsed = tryParse(ref reader, out TMessage message, out TError error);
        long consumed = reader.Consumed - lead;
        if (parsed)
        {
            Assert.True(EqualityComparer<TError>.Default.Equals(error, default), $"error {error} on success");
            Assert.InRange(consumed, 1, sequence.Length - lead);
            return new ParseOutcome<TMessage, TError>(true, error, consumed, message);
        }

        Assert.True(consumed == 0, $"a failed parse (error {error}) moved the reader by {consumed}");
        return new ParseOutcome<TMessage, TError>(false, error, 0, default);
    }

    /// <summary>
    /// The outcome of <paramref name="bytes"/> in one segment, which must be the outcome in segments cut at
    /// <paramref name="cuts"/>, one byte per segment, and after a consumed byte; and, as the bytes arrive one at a time,
    /// every prefix needs more until one decides, and from then on every prefix gives the whole input's outcome.
    /// </summary>
    public static ParseOutcome<TMessage, TError> SameInEverySplit<TMessage, TError>(byte[] bytes, int[] cuts, TryParseMessage<TMessage, TError> tryParse)
        where TError : struct, Enum
    {
        ParseOutcome<TMessage, TError> whole = Of(new ReadOnlySequence<byte>(bytes), tryParse);
        Assert.Equal(whole, Of(Sequences.SplitAt(bytes, cuts), tryParse));
        Assert.Equal(whole, Of(Sequences.OneBytePerSegment(bytes), tryParse));
        Assert.Equal(whole, Of(Sequences.Create([ParserAssert.LeadByte], bytes), tryParse, lead: 1));

        bool decided = false;
        for (int length = 0; length <= bytes.Length; length++)
        {
            ParseOutcome<TMessage, TError> prefix = Of(new ReadOnlySequence<byte>(bytes, 0, length), tryParse);
            if (decided || !prefix.NeedsMore)
            {
                decided = true;
                Assert.Equal(whole, prefix);
            }
        }

        Assert.Equal(!whole.NeedsMore, decided);
        return whole;
    }

    /// <summary>Counts the kinds of outcome a property saw, from CsCheck's parallel threads.</summary>
    internal sealed class Tally
    {
        private int _parsed;
        private int _needsMore;
        private int _refused;

        public int Parsed => _parsed;

        public int NeedsMore => _needsMore;

        public int Refused => _refused;

        public void Add<TMessage, TError>(ParseOutcome<TMessage, TError> outcome)
            where TError : struct, Enum
        {
            _ = outcome.Parsed ? Interlocked.Increment(ref _parsed) : outcome.NeedsMore ? Interlocked.Increment(ref _needsMore) : Interlocked.Increment(ref _refused);
        }

        /// <summary>
        /// The generator reached every outcome often enough for the property to say something about each: at least
        /// <paramref name="share"/> of <paramref name="iterations"/> apiece. Only a lower bound, so that a longer run
        /// (CsCheck_Time or CsCheck_Iter in the environment) still passes.
        /// </summary>
        public void AssertEachAtLeast(int iterations, double share)
        {
            int minimum = (int)(iterations * share);
            Assert.True(_parsed >= minimum, $"only {_parsed} of {iterations} inputs parsed");
            Assert.True(_needsMore >= minimum, $"only {_needsMore} of {iterations} inputs needed more");
            Assert.True(_refused >= minimum, $"only {_refused} of {iterations} inputs were refused");
        }
    }
}
