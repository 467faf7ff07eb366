using System.CommandLine;

namespace Forklift.Cli.Explain;

/// <summary>
/// The options of <c>forklift explain</c>, spelled as the contract fixes them (other tools rely on the spellings).
/// Values are taken as strings and parsed by <see cref="ExplainRequest"/>, so every malformed value gets the same
/// kind of one-line message and exit code 2.
/// </summary>
internal sealed class ExplainOptions
{
    // The call.
    public readonly Option<string?> Call = Text("--call", "clone3|clone|fork|vfork|clone6",
        "The entry point: clone3 (default), legacy clone, fork, vfork, or the experimental clone6 proposal.");
    public readonly Option<string?> Flags = Text("--flags", "LIST",
        "Clone flags: names with or without CLONE_ (" + FlagNames() + "), or numbers, joined by | or ,.");
    public readonly Option<string?> RawFlags = Text("--raw-flags", "VALUE",
        "Legacy clone only: the whole first register (flags | exit-signal byte), all 64 bits as passed.");
    public readonly Option<string?> ExitSignal = Text("--exit-signal", "SIG",
        "The exit signal: a number or a name (SIGCHLD, CHLD, 17). Default 0; fork and vfork always use SIGCHLD.");

    // The clone_args struct (clone3, clone6).
    public readonly Option<string?> Size = Text("--size", "N", "The size argument of clone3 (default 88).");
    public readonly Option<string?> ArgsPointer = Text("--args-pointer", "valid|null|bad", "The clone_args pointer (default valid).");
    public readonly Option<string?> ReadableBytes = Text("--readable-bytes", "N",
        "How many bytes from the struct's start are readable (default: all of them).");
    public readonly Option<string?> TailNonZeroAt = Text("--tail-nonzero-at", "OFFSET",
        "A byte at this offset (88 or more) past the known struct is non-zero.");

    // set_tid.
    public readonly Option<string?> SetTid = Text("--set-tid", "LIST",
        "pids for set_tid, innermost pid namespace first, joined by , (the pointer then defaults to valid).");
    public readonly Option<string?> SetTidSize = Text("--set-tid-size", "N", "set_tid_size (default: the number of --set-tid values).");
    public readonly Option<string?> SetTidPointer = Text("--set-tid-pointer", "valid|null|bad",
        "The set_tid pointer (default: valid with --set-tid, else null).");

    // The other pointers.
    public readonly Option<string?> PidfdPointer = Text("--pidfd-pointer", "valid|null|bad|same-as-parent-tid",
        "Where the pidfd goes (default: valid with CLONE_PIDFD, else null).");
    public readonly Option<string?> ParentTidPointer = Text("--parent-tid-pointer", "valid|null|bad",
        "parent_tid (default: valid with CLONE_PARENT_SETTID, and for legacy clone with CLONE_PIDFD; else null).");
    public readonly Option<string?> ChildTidPointer = Text("--child-tid-pointer", "valid|null|bad",
        "child_tid (default: valid with CLONE_CHILD_SETTID or CLONE_CHILD_CLEARTID, else null).");
    public readonly Option<string?> Stack = Text("--stack", "ADDR|null", "clone3: the lowest stack address; legacy clone: newsp.");
    public readonly Option<string?> StackSize = Text("--stack-size", "N", "clone3: the stack size.");
    public readonly Option<string?> Tls = Text("--tls", "ADDR", "The CLONE_SETTLS value (x86-64: the FS base).");

    // CLONE_INTO_CGROUP.
    public readonly Option<string?> Cgroup = Text("--cgroup", "PATH", "The CLONE_INTO_CGROUP target: a real directory.");
    public readonly Option<string?> CgroupFd = Text("--cgroup-fd", "N", "The cgroup field as a raw fd number.");
    public readonly Option<string?> CgroupFdKind = Text("--cgroup-fd-kind", "KIND",
        "The CLONE_INTO_CGROUP target as a what-if: valid, opath, root, bad-fd, not-cgroup, v1, removed, threaded, domain-invalid, busy, no-write-permission.");

    // The caller (default: this process as it is).
    public readonly Option<string?> Uid = Text("--uid", "N", "The caller's uid; other than 0 it also drops every capability unless --caps says otherwise.");
    public readonly Option<string?> Caps = Text("--caps", "all|none|CAP_A,CAP_B", "The caller's effective capabilities.");
    public readonly Option<string?> DropCaps = Text("--drop-caps", "CAP_A,...", "Capabilities to remove from the caller's set.");
    public readonly Option<string?> UserNsLevel = Text("--userns-level", "N", "Depth of the caller's user namespace (0 = initial).");
    public readonly Option<bool> UserNsUnmapped = Switch("--userns-unmapped", "The caller is in a user namespace whose uid_map was never written.");
    public readonly Option<bool> AsInit = Switch("--as-init", "The caller is pid 1 of a new pid namespace.");
    public readonly Option<string?> PidNsLevel = Text("--pid-ns-level", "N", "Depth of the caller's pid namespace (0 = initial).");
    public readonly Option<string?> Unshared = Text("--unshared", "newpid,newtime",
        "Namespaces the caller unshared for its children (unshare(CLONE_NEWPID), unshare(CLONE_NEWTIME)).");
    public readonly Option<bool> PidNsInitExited = Switch("--pidns-init-exited",
        "The caller unshared a pid namespace whose init has exited (implies --unshared newpid).");
    public readonly Option<bool> Chrooted = Switch("--chrooted", "The caller is chrooted.");
    public readonly Option<bool> Subreaper = Switch("--subreaper", "The caller is a child subreaper.");
    public readonly Option<string?> RlimitNproc = Text("--rlimit-nproc", "N|unlimited", "The caller's RLIMIT_NPROC.");
    public readonly Option<bool> SchedDeadline = Switch("--sched-deadline", "The caller runs under SCHED_DEADLINE.");
    public readonly Option<string[]> NsLimit = new("--ns-limit")
    {
        HelpName = "TYPE=N",
        Description = "A per-user namespace limit, max_<TYPE>_namespaces (user, mnt, uts, ipc, pid, cgroup, net, time); repeatable.",
        AllowMultipleArgumentsPerToken = true,
    };
    public readonly Option<string?> Kernel = Text("--kernel", "X.Y[.Z]", "Apply the rules of this kernel release (default: the running one).");

    // What to do.
    public readonly Option<bool> Verify = Switch("--verify",
        "Also make the call on the live kernel, from a throwaway process set up as the caller, and compare.");
    public readonly Option<bool> Json = Switch("--json", "Write one JSON object instead of text.");

    /// <summary>Every option, in help order.</summary>
    public IEnumerable<Option> All =>
    [
        Call, Flags, RawFlags, ExitSignal, Size, ArgsPointer, ReadableBytes, TailNonZeroAt, SetTid, SetTidSize, SetTidPointer,
        PidfdPointer, ParentTidPointer, ChildTidPointer, Stack, StackSize, Tls, Cgroup, CgroupFd, CgroupFdKind,
        Uid, Caps, DropCaps, UserNsLevel, UserNsUnmapped, AsInit, PidNsLevel, Unshared, PidNsInitExited, Chrooted, Subreaper,
        RlimitNproc, SchedDeadline, NsLimit, Kernel, Verify, Json,
    ];

    private static Option<string?> Text(string name, string helpName, string description) =>
        new(name) { HelpName = helpName, Description = description };

    private static Option<bool> Switch(string name, string description) => new(name) { Description = description };

    private static string FlagNames()
    {
        var names = new List<string>();
        foreach (var (_, n) in Forklift.Abi.CloneFlagNames.All)
        {
            names.Add(n["CLONE_".Length..]);
        }
        return string.Join(' ', names);
    }
}
