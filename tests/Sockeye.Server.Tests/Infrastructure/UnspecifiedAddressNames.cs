namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>
/// Domain names that are written as the unspecified address, the ones issue 17's adversarial run sent: the system
/// resolver throws for them instead of answering, and Linux takes a connect to 0.0.0.0 or :: as one to the host itself.
/// </summary>
public static class UnspecifiedAddressNames
{
    public static TheoryData<string> All => ["0", "0.0.0.0", "00000", "::", "0:0::0", "::0"];
}
