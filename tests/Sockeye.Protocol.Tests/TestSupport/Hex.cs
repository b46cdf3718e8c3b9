namespace Sockeye.Protocol.Tests.TestSupport;

/// <summary>Test tables spell messages as hex with spaces between fields: "05 01 00 01 C0000201 0050".</summary>
internal static class Hex
{
    public static byte[] Parse(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    public static string Format(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    /// <summary>The hex of <paramref name="text"/>'s UTF-8 bytes, for building table rows.</summary>
    public static string Utf8(string text) => Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(text));
}
