using System.CommandLine;

namespace Forklift.Cli.Run;

/// <summary>
/// The options of <c>forklift run</c>, spelled as the contract fixes them (other tools rely on the spellings).
/// Values are taken as strings and parsed by <see cref="RunRequest"/>, so every malformed value gets the same kind
/// of one-line message and exit code 2.
/// </summary>
internal sealed class RunOptions
{
    // The environment.
    public readonly Option<string[]> Env = Repeatable("--env", "K=V", "Set a variable in the child's environment; repeatable.");
    public readonly Option<string[]> UnsetEnv = Repeatable("--unset-env", "K", "Remove a variable from the child's environment; repeatable.");
    public readonly Option<bool> ClearEnv = Switch("--clear-env", "Start from an empty environment (--env still applies).");
    public readonly Option<string?> Cwd = Text("--cwd", "DIR", "The child's working directory (relative: to this process's).");

    // The standard streams.
    public readonly Option<string?> Stdin = Text("--stdin", "null|inherit|FILE", "fd 0: /dev/null, this process's fd 0 (default), or FILE opened read-only.");
    public readonly Option<string?> Stdout = Text("--stdout", "null|inherit|FILE|append:FILE",
        "fd 1: /dev/null, this process's fd 1 (default), FILE (created or truncated), or append:FILE (created or appended to). " +
        "Files are opened by the child, after --uid/--gid (with --sandbox or a new mount namespace: before the mounts, so FILE is the file this process sees); a relative FILE is relative to this process's directory, not --cwd.");
    public readonly Option<string?> Stderr = Text("--stderr", "null|inherit|FILE|append:FILE", "fd 2, as --stdout.");

    // The process.
    public readonly Option<string?> Umask = Text("--umask", "OCTAL", "The child's umask (0..0777).");
    public readonly Option<bool> Setsid = Switch("--setsid", "Start a new session (setsid): the child leads a new session and process group.");
    public readonly Option<bool> Pgid = Switch("--pgid", "Put the child in a new process group that it leads (setpgid(0, 0)).");
    public readonly Option<string?> Pdeathsig = Text("--pdeathsig", "SIG", "The signal the child gets when forklift exits (PR_SET_PDEATHSIG).");
    public readonly Option<string[]> Rlimit = Repeatable("--rlimit", "NAME=SOFT[:HARD]",
        "Set a resource limit: NAME is NOFILE, NPROC, CORE, AS, CPU, FSIZE, DATA, STACK, MEMLOCK, RSS, LOCKS, SIGPENDING, " +
        "MSGQUEUE, NICE, RTPRIO or RTTIME; values are numbers or 'unlimited'; SOFT alone sets both (as ulimit and prlimit do); repeatable.");
    public readonly Option<string?> Uid = Text("--uid", "N", "The child's real, effective and saved uid.");
    public readonly Option<string?> Gid = Text("--gid", "N", "The child's real, effective and saved gid.");
    public readonly Option<string?> Groups = Text("--groups", "LIST",
        "Supplementary gids, joined by ',' (empty: none). Default: this process's, or none when --uid or --gid is given.");
    public readonly Option<bool> NoNewPrivs = Switch("--no-new-privs", "Set no_new_privs: exec cannot grant privileges.");

    // The clone.
    public readonly Option<bool> Sibling = Switch("--sibling", "Create the child as forklift's sibling (CLONE_PARENT). Its exit status goes to forklift's parent: forklift can read " +
        "it back only once that parent has reaped it (Linux 6.15+), and otherwise exits 125 saying so.");
    public readonly Option<string?> ExitSignal = Text("--exit-signal", "SIG", "The signal the parent gets when the child exits (default SIGCHLD; 0 for --sibling).");
    public readonly Option<string?> CloneFlags = Text("--clone-flags", "LIST",
        "Extra clone flags for experts, names with or without CLONE_ or numbers joined by | or , (NEWNS, NEWUTS, NEWIPC, NEWNET, " +
        "NEWPID, NEWCGROUP, IO, SYSVSEM...). Checked against the clone model before the call.");
    public readonly Option<bool> NoClone3 = Switch("--no-clone3", "Use the legacy clone system call only.");
    public readonly Option<bool> Clone3EpermFallback = Switch("--clone3-eperm-fallback",
        "Fall back to legacy clone when clone3 answers EPERM too, as seccomp profiles that block clone3 do (ENOSYS always falls back).");

    // The program.
    public readonly Option<string?> Argv0 = Text("--argv0", "NAME", "argv[0] as the child sees it (default: PROGRAM as given).");
    public readonly Option<bool> Verbose = Switch("--verbose",
        "Print to stderr the plan (flags, steps, exec candidates), the system call that created the child and why, the pid, " +
        "the clone call's duration, forwarded signals, and the exit status with the resource usage.");

    // Cgroups.
    public readonly RunCgroupOptions Cgroups = new();

    public readonly Argument<string[]> Program = new("PROGRAM")
    {
        HelpName = "PROGRAM [ARGS...]",
        Description = "The program (a path, or a name looked up in PATH as execvp does) and its arguments, after '--'.",
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>Namespaces, mounts, the sandbox preset (their own class: <see cref="IsolationOptions"/>).</summary>
    public readonly IsolationOptions Isolation = new();

    /// <summary>Every option, in help order.</summary>
    public IEnumerable<Option> All =>
    [
        Env, UnsetEnv, ClearEnv, Cwd, Stdin, Stdout, Stderr, Umask, Setsid, Pgid, Pdeathsig, Rlimit, Uid, Gid, Groups,
        NoNewPrivs, Sibling, ExitSignal, CloneFlags, NoClone3, Clone3EpermFallback, .. Isolation.All, .. Cgroups.All, Argv0, Verbose,
    ];

    /// <summary>An option with one text value (parsed later, so every malformed value gets the same kind of message).</summary>
    internal static Option<string?> Text(string name, string helpName, string description) =>
        new(name) { HelpName = helpName, Description = description };

    /// <summary>A flag.</summary>
    internal static Option<bool> Switch(string name, string description) => new(name) { Description = description };

    // One value per occurrence: `--env A=1 /bin/true` must not take /bin/true as a second variable.
    internal static Option<string[]> Repeatable(string name, string helpName, string description) =>
        new(name) { HelpName = helpName, Description = description, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
}
