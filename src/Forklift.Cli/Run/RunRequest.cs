using System.Collections.Immutable;
using System.CommandLine;
using System.CommandLine.Parsing;
using Forklift.Abi;
using Forklift.Cli.Explain;
using Forklift.Spawning;
using SpawnCommand = Forklift.Spawning.Command;

namespace Forklift.Cli.Run;

/// <summary>
/// What <c>run</c> was asked: the library's <see cref="SpawnCommand"/> built from the options, plus the CLI's own
/// switches. Building it checks everything that can be checked without the kernel (each value, the options against
/// each other, and the library's own validation), so a <see cref="UsageException"/> (exit 2) is thrown before
/// anything is created.
/// </summary>
internal sealed record RunRequest
{
    /// <summary>The command to start.</summary>
    public required SpawnCommand Command { get; init; }

    /// <summary><c>--verbose</c>.</summary>
    public bool Verbose { get; init; }

    /// <summary>The cgroup options (<c>--memory</c>, <c>--pids</c>, <c>--cgroup</c>, <c>--stats</c>...), or null when none was given.</summary>
    public RunCgroupRequest? Cgroup { get; init; }

    /// <summary>Reads and checks the options.</summary>
    /// <exception cref="UsageException">A value is malformed, or options contradict each other.</exception>
    public static RunRequest From(ParseResult r, RunOptions o)
    {
        string[] program = r.GetValue(o.Program) ?? [];
        CheckOptionsBeforeProgram(r, o);
        var c = new SpawnCommand(program[0]).WithArguments(program.AsSpan(1).ToArray());

        // Environment.
        var unset = (r.GetValue(o.UnsetEnv) ?? []).ToHashSet(StringComparer.Ordinal);
        foreach (var name in unset)
        {
            if (name.Length == 0 || name.Contains('='))
                throw new UsageException($"--unset-env '{name}': expected a variable name (no '=')");
            c = c.WithoutEnvironmentVariable(name);
        }
        foreach (var pair in r.GetValue(o.Env) ?? [])
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0)
                throw new UsageException($"--env '{pair}': expected K=V with a non-empty name K");
            string name = pair[..eq];
            if (unset.Contains(name))
                throw new UsageException($"--env {name}=... and --unset-env {name} contradict each other: choose one");
            c = c.WithEnvironmentVariable(name, pair[(eq + 1)..]);
        }
        if (r.GetValue(o.ClearEnv))
            c = c.WithClearedEnvironment();
        if (r.GetValue(o.Cwd) is { } cwd)
            c = c.WithWorkingDirectory(NonEmpty("--cwd", cwd));

        // Standard streams.
        if (r.GetValue(o.Stdin) is { } stdin)
            c = c.WithStandardInput(Stream("--stdin", stdin, input: true));
        if (r.GetValue(o.Stdout) is { } stdout)
            c = c.WithStandardOutput(Stream("--stdout", stdout, input: false));
        if (r.GetValue(o.Stderr) is { } stderr)
            c = c.WithStandardError(Stream("--stderr", stderr, input: false));

        // The process.
        if (r.GetValue(o.Umask) is { } umask)
            c = c.WithUmask(Umask(umask));
        bool setsid = r.GetValue(o.Setsid);
        bool pgid = r.GetValue(o.Pgid);
        if (setsid && pgid)
            throw new UsageException("--setsid and --pgid: a new session already gives the child a new process group it leads; choose one");
        if (setsid)
            c = c.WithNewSession();
        if (pgid)
            c = c.WithProcessGroup(0);
        if (r.GetValue(o.Pdeathsig) is { } pdeathsig)
            c = c.WithParentDeathSignal(Signal("--pdeathsig", pdeathsig));
        var seen = new HashSet<ResourceLimit>();
        foreach (var text in r.GetValue(o.Rlimit) ?? [])
        {
            var (resource, soft, hard) = Rlimit(text);
            if (!seen.Add(resource))
                throw new UsageException($"--rlimit {ResourceLimits.Name(resource)} is given twice");
            c = c.WithResourceLimit(resource, soft, hard);
        }
        if (r.GetValue(o.Uid) is { } uid)
            c = c.WithUser(Id("--uid", uid));
        if (r.GetValue(o.Gid) is { } gid)
            c = c.WithGroup(Id("--gid", gid));
        if (r.GetValue(o.Groups) is { } groups)
            c = c.WithSupplementaryGroups(Groups(groups));
        if (r.GetValue(o.NoNewPrivs))
            c = c.WithNoNewPrivileges();

        // The clone.
        bool sibling = r.GetValue(o.Sibling);
        if (sibling)
            c = c.AsSibling();
        if (r.GetValue(o.ExitSignal) is { } exitSignal)
        {
            int s = Signal("--exit-signal", exitSignal);
            if (sibling && s != 0)
                throw new UsageException($"--exit-signal {exitSignal} with --sibling: a sibling's exit signal must be 0 (clone3 refuses any other with EINVAL)");
            c = c.WithExitSignal(s);
        }
        if (r.GetValue(o.CloneFlags) is { } flagText)
        {
            if (!CloneFlagNames.TryParse(flagText, out var flags, out var error))
                throw new UsageException($"--clone-flags '{flagText}': {error}");
            c = c.WithCloneFlags(flags);
        }
        bool noClone3 = r.GetValue(o.NoClone3);
        bool epermFallback = r.GetValue(o.Clone3EpermFallback);
        if (noClone3 && epermFallback)
            throw new UsageException("--no-clone3 and --clone3-eperm-fallback: legacy clone only never tries clone3; choose one");
        if (noClone3)
            c = c.WithCloneEntry(CloneEntryPolicy.LegacyClone);
        if (epermFallback)
            c = c.WithCloneEntry(CloneEntryPolicy.Clone3WithFallbackOnEperm);

        if (r.GetValue(o.Argv0) is { } argv0)
            c = c.WithArgumentZero(argv0);

        // Isolation: namespaces, maps, mounts, the sandbox preset.
        c = o.Isolation.Apply(r, c);

        // The library's own checks (NUL characters, flags the stage owns...), worded with the CLI's option names.
        try
        {
            CommandValidator.Validate(c);
        }
        catch (CommandException e)
        {
            throw new UsageException($"{OptionName(e.Option)}: {e.Reason}");
        }
        return new RunRequest { Command = c, Verbose = r.GetValue(o.Verbose), Cgroup = o.Cgroups.Parse(r) };
    }

    /// <summary>
    /// An unknown option before <c>--</c> is an error, not a program name. And without <c>--</c>, an option after PROGRAM would be taken as forklift's (<c>forklift run ls --verbose</c>),
    /// silently. Refuse that: options go before <c>--</c>, everything after it is the program's.
    /// </summary>
    private static void CheckOptionsBeforeProgram(ParseResult r, RunOptions o)
    {
        bool afterProgram = false;
        foreach (var token in r.Tokens)
        {
            switch (token.Type)
            {
                case TokenType.DoubleDash:
                    return;
                case TokenType.Argument when IsProgramToken(r, o, token):
                    // System.CommandLine hands an unknown option before '--' to the PROGRAM argument.
                    if (token.Value.Length > 1 && token.Value[0] == '-')
                        throw new UsageException($"unrecognized option '{token.Value}' (see 'forklift run --help'; the program and its arguments go after '--')");
                    afterProgram = true;
                    break;
                case TokenType.Option when afterProgram:
                    throw new UsageException($"{token.Value} after PROGRAM: put forklift's options before '--' and the program after it (forklift run [options] -- PROGRAM [ARGS...])");
            }
        }
    }

    private static bool IsProgramToken(ParseResult r, RunOptions o, Token token) =>
        r.GetResult(o.Program) is { } program && program.Tokens.Any(t => ReferenceEquals(t, token));

    /// <summary>The CLI option for a <see cref="CommandException.Option"/> (a property name of the library's command).</summary>
    internal static string OptionName(string option)
    {
        string head = option.Split('[')[0];
        string? index = option.Contains('[') ? option[(option.IndexOf('[') + 1)..].TrimEnd(']') : null;
        return head switch
        {
            "Program" => "PROGRAM",
            "Arguments" => index is null ? "ARGS" : $"ARGS[{index}]",
            "ArgumentZero" => "--argv0",
            "EnvironmentChanges" => index is null ? "--env" : $"--env {index}",
            "WorkingDirectory" => "--cwd",
            "StandardInput" => "--stdin",
            "StandardOutput" => "--stdout",
            "StandardError" => "--stderr",
            "Umask" => "--umask",
            "NewSession" => "--setsid",
            "ProcessGroup" => "--pgid",
            "ParentDeathSignal" => "--pdeathsig",
            "ResourceLimits" => index is null ? "--rlimit" : $"--rlimit {index}",
            "UserId" => "--uid",
            "GroupId" => "--gid",
            "SupplementaryGroups" => "--groups",
            "NoNewPrivileges" => "--no-new-privs",
            "Sibling" => "--sibling",
            "ExitSignal" => "--exit-signal",
            "CloneFlags" => "--clone-flags",
            "CloneEntry" => "--no-clone3/--clone3-eperm-fallback",
            _ => IsolationOptions.OptionName(option) ?? option,
        };
    }

    private static string NonEmpty(string option, string text) =>
        text.Length > 0 ? text : throw new UsageException($"{option}: expected a path, got an empty string");

    private static Stdio Stream(string option, string text, bool input)
    {
        switch (text)
        {
            case "null":
                return Stdio.Null;
            case "inherit":
                return Stdio.Inherit;
        }
        if (text.StartsWith("append:", StringComparison.Ordinal))
        {
            if (input)
                throw new UsageException($"{option} '{text}': append: is for output; give the FILE to read as is");
            return Stdio.File(NonEmpty(option, text["append:".Length..]), StdioFileMode.Append);
        }
        return Stdio.File(NonEmpty(option, text), input ? StdioFileMode.Read : StdioFileMode.Truncate);
    }

    private static UnixFileMode Umask(string text)
    {
        string t = text.Trim();
        if (t.Length is 0 or > 4 || t.Any(ch => ch is < '0' or > '7'))
            throw new UsageException($"--umask '{text}': expected octal digits (such as 022 or 0077)");
        int value = Convert.ToInt32(t, 8);
        return value <= 0x1ff ? (UnixFileMode)value : throw new UsageException($"--umask '{text}': out of range (0..0777)");
    }

    private static int Signal(string option, string text)
    {
        if (!Signals.TryParse(text, out int signal, out string? error))
            throw new UsageException($"{option}: {error}");
        if (signal != 0 && !Signals.IsValid(signal))
            throw new UsageException($"{option} '{text}': not a signal (valid: 1..{Signals.Max}, or 0 for none)");
        return signal;
    }

    private static (ResourceLimit Resource, ulong Soft, ulong Hard) Rlimit(string text)
    {
        int eq = text.IndexOf('=');
        if (eq <= 0)
            throw new UsageException($"--rlimit '{text}': expected NAME=SOFT[:HARD], such as NOFILE=1024:4096 or CORE=unlimited");
        string name = text[..eq].Trim().ToUpperInvariant();
        if (name.StartsWith("RLIMIT_", StringComparison.Ordinal))
            name = name["RLIMIT_".Length..];
        var resource = Enum.GetValues<ResourceLimit>().Cast<ResourceLimit?>().FirstOrDefault(x => ResourceLimits.Name(x!.Value) == name)
            ?? throw new UsageException($"--rlimit '{text}': unknown resource '{text[..eq]}' (use {string.Join(", ", Enum.GetValues<ResourceLimit>().Select(ResourceLimits.Name))})");
        string[] values = text[(eq + 1)..].Split(':');
        if (values.Length > 2 || values.Any(v => v.Trim().Length == 0))
            throw new UsageException($"--rlimit '{text}': expected NAME=SOFT[:HARD], such as NOFILE=1024:4096 or CORE=unlimited");
        ulong soft = Limit(text, values[0]);
        ulong hard = values.Length == 2 ? Limit(text, values[1]) : soft;
        if (soft > hard)
            throw new UsageException($"--rlimit '{text}': the soft limit exceeds the hard limit (setrlimit would fail with EINVAL)");
        return (resource, soft, hard);
    }

    private static ulong Limit(string text, string value)
    {
        string t = value.Trim().ToLowerInvariant();
        if (t is "unlimited" or "infinity")
            return ulong.MaxValue;
        return NumberText.TryParseUInt64(t, out ulong v)
            ? v
            : throw new UsageException($"--rlimit '{text}': '{value}' is not a number or 'unlimited'");
    }

    private static uint Id(string option, string text)
    {
        uint v = ArgText.UInt32(option, text);
        return v != uint.MaxValue ? v : throw new UsageException($"{option} {text}: 4294967295 means 'unchanged' to the kernel and is not an id");
    }

    private static ImmutableArray<uint> Groups(string text)
    {
        var groups = ImmutableArray.CreateBuilder<uint>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.Length == 0 && text.Trim().Length == 0)
                continue;
            groups.Add(Id("--groups", part.Length > 0 ? part : throw new UsageException($"--groups '{text}': an empty entry")));
        }
        return groups.ToImmutable();
    }
}
