using System.Reflection;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Tests;

/// <summary>STYLE.md 2.1: the codec is the BCL only. No sockets, no logging, no Microsoft.Extensions.*.</summary>
public class ProtocolAssemblyTests
{
    [Fact]
    public void References_NeitherSocketsNorMicrosoftExtensions()
    {
        AssemblyName[] references = typeof(Socks5Request).Assembly.GetReferencedAssemblies();

        Assert.NotEmpty(references);
        Assert.DoesNotContain(references, reference => reference.Name == "System.Net.Sockets");
        Assert.DoesNotContain(references, reference => reference.Name?.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) == true);
    }
}
