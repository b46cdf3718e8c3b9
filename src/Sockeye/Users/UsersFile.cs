using System.Text;
using Sockeye.Server.Authentication;

namespace Sockeye.Users;

/// <summary>
/// A users file: one <c>NAME:HASH</c> a line, blank lines and <c>#</c> comments allowed. Read by the server
/// (<c>--users-file</c>) and changed by <c>sockeye user</c>, which keeps every other line as it was.
/// </summary>
/// <remarks>
/// Like OpenSSH's StrictModes, a file that its group or others may write is refused, for reading and for changing:
/// whoever can write it can add themselves an account. Changes are written to a 0600 temporary file in the same folder,
/// then moved over the old file, so a reader never sees half a file.
/// </remarks>
internal sealed class UsersFile
{
    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Permissions = (UnixFileMode)0x1FF; // 0777

    private readonly List<Line> _lines;
    private readonly UnixFileMode? _mode;

    private UsersFile(string path, List<Line> lines, UnixFileMode? mode)
    {
        Path = path;
        _lines = lines;
        _mode = mode;
    }

    public string Path { get; }

    /// <summary>The accounts, in file order.</summary>
    public IEnumerable<(string Name, string Hash, int LineNumber)> Entries
    {
        get
        {
            for (int i = 0; i < _lines.Count; i++)
            {
                if (_lines[i].Name is { } name)
                {
                    yield return (name, _lines[i].Hash!, i + 1);
                }
            }
        }
    }

    /// <summary>
    /// Reads and checks the file: its names and duplicates, and with <paramref name="checkHashes"/> every hash as the
    /// server will (iteration bounds included; <c>sockeye user</c> skips that so it can replace an outdated hash).
    /// Returns <see langword="null"/> after adding one line per problem to <paramref name="errors"/>, each starting with
    /// the path (and line number). With <paramref name="missingIsEmpty"/>, a missing file reads as an empty one, to be
    /// created on <see cref="Save"/>.
    /// </summary>
    public static UsersFile? Load(string path, bool missingIsEmpty, bool checkHashes, List<string> errors)
    {
        if (Directory.Exists(path))
        {
            errors.Add($"{path}: is a directory, not a users file.");
            return null;
        }

        string text;
        UnixFileMode? mode = null;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (!stream.CanSeek)
            {
                errors.Add($"{path}: is not a regular file (a pipe or a device?); give the path of a users file.");
                return null;
            }

            if (!OperatingSystem.IsWindows())
            {
                // Checked on the open handle: the file read is the file checked.
                mode = File.GetUnixFileMode(stream.SafeFileHandle);
                if ((mode & WritableByOthers) != 0)
                {
                    errors.Add($"{path}: refused because its group or others may write it (mode {Octal(mode.Value)}), so anyone of them could add an account; make it writable by its owner only, e.g. chmod 600 {path}.");
                    return null;
                }
            }

            using var reader = new StreamReader(stream, Encoding.UTF8);
            text = reader.ReadToEnd();
        }
        catch (FileNotFoundException) when (missingIsEmpty)
        {
            return new UsersFile(path, [], mode: null);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException)
        {
            errors.Add($"{path}: cannot read it: {e.Message}");
            return null;
        }

        return Parse(path, text, mode, checkHashes, errors);
    }

    /// <summary>Why <paramref name="name"/> cannot be a username in a users file, or <see langword="null"/> if it can.</summary>
    public static string? CheckName(string name)
    {
        int length = Encoding.UTF8.GetByteCount(name);
        if (length is 0 or > 255)
        {
            return $"a username must be 1 to 255 bytes of UTF-8 (RFC 1929); it is {length}.";
        }

        if (name.Contains(':', StringComparison.Ordinal))
        {
            return "a username in a users file cannot contain ':'.";
        }

        if (name.Any(char.IsControl) || char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]))
        {
            return "a username cannot contain control characters or start or end with white space.";
        }

        return name.StartsWith('#') ? "a username cannot start with '#' (that line would be a comment)." : null;
    }

    /// <summary>Whether <paramref name="name"/> has an account here.</summary>
    public bool Contains(string name) => _lines.Exists(l => l.Name == name);

    /// <summary>Adds the account, or replaces its hash in place when it exists.</summary>
    public void Set(string name, string hash)
    {
        var line = new Line($"{name}:{hash}", name, hash);
        int index = _lines.FindIndex(l => l.Name == name);
        if (index >= 0)
        {
            _lines[index] = line;
        }
        else
        {
            _lines.Add(line);
        }
    }

    /// <summary>Removes the account; false when there is none of that name.</summary>
    public bool Remove(string name) => _lines.RemoveAll(l => l.Name == name) > 0;

    /// <summary>Writes the file atomically: a 0600 temporary file in the same folder, then a rename over the old one.</summary>
    /// <exception cref="IOException">The file could not be written; it is unchanged.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder or file may not be written; it is unchanged.</exception>
    public void Save()
    {
        string fullPath = System.IO.Path.GetFullPath(Path);
        string temporary = System.IO.Path.Combine(
            System.IO.Path.GetDirectoryName(fullPath)!,
            $".{System.IO.Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                if (!OperatingSystem.IsWindows() && _mode is { } mode)
                {
                    // An existing file keeps its permissions (say 0640 for a service's group); it has no group or other
                    // write bit, or Load would have refused it.
                    File.SetUnixFileMode(stream.SafeFileHandle, mode & Permissions & ~WritableByOthers);
                }

                var builder = new StringBuilder();
                foreach (Line line in _lines)
                {
                    builder.Append(line.Text).Append('\n');
                }

                stream.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(builder.ToString()));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static UsersFile? Parse(string path, string text, UnixFileMode? mode, bool checkHashes, List<string> errors)
    {
        var lines = new List<Line>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int errorCount = errors.Count;
        string[] rawLines = text.Split('\n');
        int count = rawLines.Length > 0 && rawLines[^1].Length == 0 ? rawLines.Length - 1 : rawLines.Length;
        for (int i = 0; i < count; i++)
        {
            string raw = rawLines[i].TrimEnd('\r');
            string trimmed = raw.Trim();
            int lineNumber = i + 1;
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                lines.Add(new Line(raw, null, null));
                continue;
            }

            int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                // Never echo the line: it may be a password typed in by mistake.
                errors.Add($"{path}:{lineNumber}: expected NAME:HASH (create entries with 'sockeye user add').");
                continue;
            }

            string name = trimmed[..colon].TrimEnd();
            string hash = trimmed[(colon + 1)..].Trim();
            if (CheckName(name) is { } problem)
            {
                errors.Add($"{path}:{lineNumber}: {problem}");
                continue;
            }

            if (hash.Length == 0)
            {
                errors.Add($"{path}:{lineNumber}: user '{name}' has no password hash after the colon.");
                continue;
            }

            if (seen.TryGetValue(name, out int first))
            {
                errors.Add($"{path}:{lineNumber}: user '{name}' is already on line {first}; remove one.");
                continue;
            }

            seen[name] = lineNumber;
            if (checkHashes && !PasswordHash.IsValid(hash, out string? hashProblem))
            {
                errors.Add($"{path}:{lineNumber}: user '{name}': {hashProblem}");
                continue;
            }

            lines.Add(new Line(raw, name, hash));
        }

        return errors.Count == errorCount ? new UsersFile(path, lines, mode) : null;
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)(mode & Permissions), 8).PadLeft(3, '0');

    /// <summary>A line as written, and the account on it (none for blank lines and comments).</summary>
    private sealed record Line(string Text, string? Name, string? Hash);
}
