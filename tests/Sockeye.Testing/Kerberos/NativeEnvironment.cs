using System.Runtime.InteropServices;

namespace Sockeye.Testing.Kerberos;

/// <summary>
/// The C library's environment, which native code (MIT Kerberos) reads with <c>getenv</c>. On Linux .NET keeps a copy
/// of the environment of its own: <see cref="Environment.SetEnvironmentVariable(string, string?)"/> changes only that
/// copy, so native code never sees the change. This sets both.
/// </summary>
public static partial class NativeEnvironment
{
    /// <summary>The variable as native code sees it (<c>getenv</c>), or null if unset.</summary>
    public static string? Get(string name) => Marshal.PtrToStringUTF8(GetEnv(name));

    /// <summary>Sets (or, for null, unsets) the variable in the C library's environment and in .NET's.</summary>
    public static void Set(string name, string? value)
    {
        int result = value is null ? UnsetEnv(name) : SetEnv(name, value, 1);
        if (result != 0)
        {
            throw new InvalidOperationException($"Could not set {name} in the native environment (errno {Marshal.GetLastPInvokeError()}).");
        }

        Environment.SetEnvironmentVariable(name, value);
    }

    /// <summary>Sets the variables in both environments; disposing restores what native code saw before.</summary>
    public static IDisposable Set(IReadOnlyDictionary<string, string> variables)
    {
        var previous = variables.Keys.ToDictionary(name => name, Get);
        foreach ((string name, string value) in variables)
        {
            Set(name, value);
        }

        return new Restore(previous);
    }

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "unsetenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int UnsetEnv(string name);

    private sealed class Restore(Dictionary<string, string?> previous) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                foreach ((string name, string? value) in previous)
                {
                    Set(name, value);
                }
            }
        }
    }
}
