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
}
