namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>
/// Tests that point this process's MIT Kerberos at a realm (KerberosRealm.UseInThisProcess sets KRB5_CONFIG and the
/// rest with setenv, and a server with a keytab sets KRB5_KTNAME): one realm at a time, and no other test's thread
/// reading the environment while it changes. The same pattern as Sockeye.Server.Tests' collection of that name.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KerberosEnvironment
{
    public const string Name = "Sets the process's Kerberos environment";
}
