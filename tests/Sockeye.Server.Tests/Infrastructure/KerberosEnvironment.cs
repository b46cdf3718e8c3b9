namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>
/// Tests that point this process's MIT Kerberos at a realm (KerberosRealm.UseInThisProcess sets KRB5_CONFIG and the
/// rest with setenv): one realm at a time, and no other test's thread reading the environment while it changes.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KerberosEnvironment
{
    public const string Name = "Sets the process's Kerberos environment";
}
