using System.Buffers;
using System.Text;

namespace Sockeye.Protocol.Http;

/// <summary>
/// Writes a head's text into a span sized beforehand: every string here is Latin-1 (validated when it was parsed or
/// created), so its length in bytes is its length in chars.
/// </summary>
internal ref struct HttpHeadWriter
{
    private readonly Span<byte> _destination;
    private int _position;

    public HttpHeadWriter(Span<byte> destination)
    {
        _destination = destination;
        _position = 0;
    }

    public readonly int Position => _position;

    public static int DigitCount(int value) => value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : value < 10000 ? 4 : value.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;

    /// <summary>Bytes of one field line: "Name: Value\r\n".</summary>
    public static int FieldLength(string name, string value) => name.Length + 2 + value.Length + 2;

    public void Write(ReadOnlySpan<char> text)
    {
        _position += Encoding.Latin1.GetBytes(text, _destination[_position..]);
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_destination[_position..]);
        _position += bytes.Length;
    }

    public void Write(byte value)
    {
        _destination[_position++] = value;
    }

    public void Write(int value)
    {
        bool written = value.TryFormat(_destination[_position..], out int length, default, System.Globalization.CultureInfo.InvariantCulture);
        System.Diagnostics.Debug.Assert(written, "the destination was sized for the value");
        _position += length;
    }

    public void WriteField(string name, string value)
    {
        Write(name);
        Write(": "u8);
        Write(value);
        Write("\r\n"u8);
    }

    /// <summary>Gets a span of exactly <paramref name="length"/> bytes from <paramref name="output"/>, for <paramref name="length"/> known up front.</summary>
    public static Span<byte> Reserve(IBufferWriter<byte> output, int length)
    {
        ArgumentNullException.ThrowIfNull(output);
        return output.GetSpan(length)[..length];
    }
}
