using System.Collections.Immutable;

namespace Forklift.Spawning;

/// <summary>
/// Turns a program into the list of paths the child tries with execve, as execvp(3) searches: a name with a '/'
/// is one path; any other name is tried in each PATH directory in order (an empty entry is the current
/// directory), with <see cref="DefaultPath"/> when PATH is unset. The stage reports each candidate's errno, so a
/// failed search can name every directory it tried. Unlike glibc's execvp, a file that is not executable
/// format (ENOEXEC) is not handed to /bin/sh: that is reported, with a hint.
/// </summary>
internal static class ExecResolver
{
    /// <summary>The search path used when PATH is unset (glibc's and Go's default).</summary>
    public const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    private static ImmutableArray<string> s_lastAbsolute = [""];
    private static Search? s_lastSearch;

    /// <summary>
    /// The candidates for <paramref name="program"/>, reading from <paramref name="inputs"/> only what it needs
    /// (PATH for a bare name, the current directory for a relative path with '/', nothing for an absolute path).
    /// The last answer for an absolute path and for a PATH search is remembered and reused while the program
    /// and PATH are the same (a command started again and again): the list is immutable, so it can be shared.
    /// </summary>
    public static ImmutableArray<string> Candidates(string program, SpawnInputs inputs)
    {
        if (program.Contains('/'))
        {
            if (!Path.IsPathRooted(program))
                return [Path.Join(inputs.CurrentDirectory, program)];
            var absolute = s_lastAbsolute; // one reference: read and written atomically
            if (absolute[0] == program)
                return absolute;
            absolute = [program];
            s_lastAbsolute = absolute;
            return absolute;
        }
        bool set = inputs.Environment.TryGetValue("PATH", out var path);
        var last = s_lastSearch;
        if (last is not null && last.Program == program && (set ? last.Path is not null && path.SequenceEqual(last.Path) : last.Path is null))
            return last.Candidates;
        string? callerPath = set ? path.ToString() : null;
        var candidates = Candidates(program, callerPath, "");
        s_lastSearch = new Search(program, callerPath, candidates);
        return candidates;
    }

    /// <param name="program">The command's program.</param>
    /// <param name="callerPath">The caller's PATH (null: unset). PATH is the caller's, as execvp uses it, whatever the child's environment says.</param>
    /// <param name="currentDirectory">The caller's current directory, against which a relative path with '/' is made absolute.</param>
    public static ImmutableArray<string> Candidates(string program, string? callerPath, string currentDirectory)
    {
        if (program.Contains('/'))
            return [Path.IsPathRooted(program) ? program : Path.Join(currentDirectory, program)];
        var candidates = ImmutableArray.CreateBuilder<string>();
        foreach (var entry in (callerPath ?? DefaultPath).Split(':'))
        {
            // An empty entry means the current directory (of the child at exec time, as for execvp in the child).
            string candidate = entry.Length == 0 ? "./" + program : entry.EndsWith('/') ? entry + program : entry + "/" + program;
            if (!candidates.Contains(candidate))
                candidates.Add(candidate);
        }
        return candidates.ToImmutable();
    }

    private sealed record Search(string Program, string? Path, ImmutableArray<string> Candidates);
}
