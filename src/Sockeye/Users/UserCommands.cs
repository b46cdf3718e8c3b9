using System.CommandLine;
using System.Text;
using Sockeye.Server.Authentication;

namespace Sockeye.Users;

/// <summary>
/// <c>sockeye user add|remove|list NAME --file PATH</c>: manages a users file. Every problem is one line on standard
/// error and exit code 2; a file that cannot be written is exit code 1 and stays as it was.
/// </summary>
internal static class UserCommands
{
    private const int MaxPromptKeys = 4096;

    /// <summary>The <c>user</c> command. <paramref name="input"/> is where <c>add</c> reads a password from;
    /// <see langword="null"/> means the console (a prompt without echo when it is a terminal).</summary>
    public static Command Create(TextReader? input, TextWriter output, TextWriter error)
    {
        Option<string> addFile = FileOption();
        Argument<string> addName = NameArgument();
        var replace = new Option<bool>("--replace") { Description = "Replace the password of a user who already exists." };
        var add = new Command("add", "Add a user with a password hashed with PBKDF2-SHA256. Prompts twice on a terminal; otherwise reads one line from standard input.")
        {
            addName, addFile, replace,
        };
        add.SetAction((result, token) => AddAsync(result.GetValue(addName)!, result.GetValue(addFile)!, result.GetValue(replace), input, output, error, token));

        Option<string> removeFile = FileOption();
        Argument<string> removeName = NameArgument();
        var remove = new Command("remove", "Remove a user.") { removeName, removeFile };
        remove.SetAction((result, token) => RemoveAsync(result.GetValue(removeName)!, result.GetValue(removeFile)!, output, error));

        Option<string> listFile = FileOption();
        var list = new Command("list", "Print the usernames, one a line.") { listFile };
        list.SetAction((result, token) => ListAsync(result.GetValue(listFile)!, output, error));

        return new Command("user", "Manage a users file (NAME:HASH lines; see docs/configuration.md).") { add, remove, list };
    }

    private static Option<string> FileOption() => new("--file", "-f")
    {
        Description = "The users file. 'add' creates it with mode 0600 when it does not exist.",
        HelpName = "PATH",
        Required = true,
    };

    private static Argument<string> NameArgument() => new("NAME") { Description = "The username: 1 to 255 bytes of UTF-8, without ':'." };

    private static async Task<int> AddAsync(string name, string path, bool replace, TextReader? input, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (UsersFile.CheckName(name) is { } nameProblem)
        {
            return await FailAsync(error, $"user add: {nameProblem}").ConfigureAwait(false);
        }

        var errors = new List<string>();
        UsersFile? file = UsersFile.Load(path, missingIsEmpty: true, checkHashes: false, errors);
        if (file is null)
        {
            return await FailAsync(error, errors).ConfigureAwait(false);
        }

        bool exists = file.Contains(name);
        if (exists && !replace)
        {
            return await FailAsync(error, $"user add: '{name}' is already in {path}; pass --replace to change the password.").ConfigureAwait(false);
        }

        (string? password, string? problem) = await ReadPasswordAsync(name, input, error, cancellationToken).ConfigureAwait(false);
        if (password is null)
        {
            return await FailAsync(error, $"user add: {problem}").ConfigureAwait(false);
        }

        file.Set(name, PasswordHash.Create(password));
        if (!await TrySaveAsync(file, error).ConfigureAwait(false))
        {
            return SockeyeCommandLine.ExitFailure;
        }

        await output.WriteLineAsync(exists ? $"Replaced the password of user '{name}' in {path}." : $"Added user '{name}' to {path}.").ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RemoveAsync(string name, string path, TextWriter output, TextWriter error)
    {
        var errors = new List<string>();
        UsersFile? file = UsersFile.Load(path, missingIsEmpty: false, checkHashes: false, errors);
        if (file is null)
        {
            return await FailAsync(error, errors).ConfigureAwait(false);
        }

        if (!file.Remove(name))
        {
            return await FailAsync(error, $"user remove: there is no user '{name}' in {path}.").ConfigureAwait(false);
        }

        if (!await TrySaveAsync(file, error).ConfigureAwait(false))
        {
            return SockeyeCommandLine.ExitFailure;
        }

        await output.WriteLineAsync($"Removed user '{name}' from {path}.").ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> ListAsync(string path, TextWriter output, TextWriter error)
    {
        var errors = new List<string>();
        UsersFile? file = UsersFile.Load(path, missingIsEmpty: false, checkHashes: false, errors);
        if (file is null)
        {
            return await FailAsync(error, errors).ConfigureAwait(false);
        }

        foreach ((string name, _, _) in file.Entries)
        {
            await output.WriteLineAsync(name).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>
    /// The new password: typed twice without echo on a terminal, else exactly one line of <paramref name="input"/>
    /// (or of standard input). Returns <see langword="null"/> and the reason when there is no usable password.
    /// </summary>
    private static async Task<(string? Password, string? Problem)> ReadPasswordAsync(string name, TextReader? input, TextWriter error, CancellationToken cancellationToken)
    {
        string? password;
        if (input is null && !Console.IsInputRedirected)
        {
            password = Prompt($"Password for {name}: ", error);
            if (!string.Equals(password, Prompt("Same password again: ", error), StringComparison.Ordinal))
            {
                return (null, "the two passwords differ; nothing was changed.");
            }
        }
        else
        {
            password = await (input ?? Console.In).ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (password is null)
            {
                return (null, "no password: standard input was empty (give the password as one line).");
            }
        }

        int length = Encoding.UTF8.GetByteCount(password);
        return length switch
        {
            0 => (null, "the password is empty."),
            > 255 => (null, $"the password is {length} bytes of UTF-8; RFC 1929 allows at most 255."),
            _ => (password, null),
        };
    }

    /// <summary>Reads a line from the terminal without echoing it. Synchronous: Console.ReadKey has no async form.</summary>
    private static string Prompt(string prompt, TextWriter error)
    {
        error.Write(prompt);
        error.Flush();
        var typed = new StringBuilder();
        for (int i = 0; i < MaxPromptKeys; i++)
        {
            ConsoleKeyInfo key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                typed.Length = Math.Max(0, typed.Length - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                typed.Append(key.KeyChar);
            }
        }

        error.WriteLine();
        return typed.ToString();
    }

    private static async Task<bool> TrySaveAsync(UsersFile file, TextWriter error)
    {
        try
        {
            file.Save();
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"sockeye: {file.Path}: cannot write it, left unchanged: {e.Message}").ConfigureAwait(false);
            return false;
        }
    }

    private static Task<int> FailAsync(TextWriter error, string problem) => FailAsync(error, [problem]);

    private static async Task<int> FailAsync(TextWriter error, List<string> problems)
    {
        foreach (string problem in problems)
        {
            await error.WriteLineAsync($"sockeye: {problem}").ConfigureAwait(false);
        }

        return SockeyeCommandLine.ExitUsage;
    }
}
