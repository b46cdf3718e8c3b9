using System.Reflection;
using System.Reflection.Emit;
using System.Security.Cryptography;
using Sockeye.Server.Authentication;

namespace Sockeye.Server.Tests.Authentication;

/// <summary>
/// The verifier compares secrets in constant time: checked on the compiled IL, not by timing. Every method that compares
/// a password-derived value calls <see cref="CryptographicOperations.FixedTimeEquals"/>, and nothing in the verifier
/// (async state machines included) uses an early-exit comparison such as SequenceEqual.
/// </summary>
public sealed class ConstantTimeComparisonTests
{
    private const BindingFlags AllDeclared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Theory]
    [InlineData(typeof(UserDirectory), "MatchesDigest")]
    [InlineData(typeof(UserDirectory), "IsRemembered")]
    [InlineData(typeof(PasswordHash.StoredHash), nameof(PasswordHash.StoredHash.Verify))]
    public void ComparisonPath_CallsFixedTimeEquals(Type type, string methodName)
    {
        MethodInfo method = type.GetMethod(methodName, AllDeclared) ?? throw new InvalidOperationException($"{type.Name}.{methodName} is gone; update this test.");

        Assert.Contains(CalledMethods(method), IsFixedTimeEquals);
    }

    [Theory]
    [InlineData(typeof(UserDirectory))]
    [InlineData(typeof(PasswordHash))]
    public void Verifier_NeverComparesWithAnEarlyExitComparison(Type type)
    {
        List<MethodBase> methods = AllMethods(type).ToList();
        List<MethodBase> called = methods.SelectMany(CalledMethods).ToList();

        Assert.True(methods.Count > 5, "the scan found the methods");
        Assert.Contains(called, IsFixedTimeEquals);
        Assert.DoesNotContain(called, m => m.Name is "SequenceEqual" or "SequenceCompareTo" or "StructuralEquals");
        Assert.DoesNotContain(called, m => m.Name == "op_Equality" && m.DeclaringType is { IsGenericType: true } t && t.GetGenericTypeDefinition() == typeof(ReadOnlySpan<>));
    }

    [Fact]
    public void CalledMethods_DecodesRealCalls()
    {
        // The decoder itself must work, or the tests above would pass vacuously.
        MethodInfo create = typeof(PasswordHash).GetMethod(nameof(PasswordHash.Create), AllDeclared, [typeof(ReadOnlySpan<byte>), typeof(int)])!;

        Assert.Contains(CalledMethods(create), m => m.DeclaringType == typeof(Rfc2898DeriveBytes) && m.Name == nameof(Rfc2898DeriveBytes.Pbkdf2));
    }

    private static bool IsFixedTimeEquals(MethodBase method) =>
        method.DeclaringType == typeof(CryptographicOperations) && method.Name == nameof(CryptographicOperations.FixedTimeEquals);

    private static IEnumerable<MethodBase> AllMethods(Type type)
    {
        foreach (MethodBase method in type.GetMethods(AllDeclared).Cast<MethodBase>().Concat(type.GetConstructors(AllDeclared)))
        {
            yield return method;
        }

        // Nested types include the compiler's async state machines and closures.
        foreach (Type nested in type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
        {
            foreach (MethodBase method in AllMethods(nested))
            {
                yield return method;
            }
        }
    }

    /// <summary>Every method a body calls, decoded opcode by opcode (call, callvirt, newobj, ldftn).</summary>
    private static List<MethodBase> CalledMethods(MethodBase method)
    {
        var called = new List<MethodBase>();
        byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            return called;
        }

        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int position = 0;
        while (position < il.Length)
        {
            short value = il[position] == 0xFE ? (short)(0xFE00 | il[position + 1]) : il[position];
            OpCode opCode = OpCodesByValue[value];
            position += opCode.Size;
            if (opCode.OperandType == OperandType.InlineMethod)
            {
                int token = BitConverter.ToInt32(il, position);
                called.Add(method.Module.ResolveMethod(token, typeArguments, methodArguments)!);
            }

            position += OperandSize(opCode, il, position);
        }

        return called;
    }

    private static int OperandSize(OpCode opCode, byte[] il, int position) => opCode.OperandType switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, position)),
        _ => 4,
    };
}
