using Forklift.Abi;

namespace Forklift.Rules;

/// <summary>What the child gets for one resource.</summary>
public enum Effect
{
    /// <summary>Does not apply (nothing is created or written).</summary>
    None,
    /// <summary>The child shares the caller's object: a change by either is seen by both.</summary>
    Shared,
    /// <summary>The child gets a copy taken at the clone (copy-on-write for memory).</summary>
    Copied,
    /// <summary>The child gets a new, fresh object.</summary>
    New,
    /// <summary>A copy with every handled signal reset to its default (CLONE_CLEAR_SIGHAND).</summary>
    Reset,
    /// <summary>The kernel writes a value (a tid, a pidfd) to the named place.</summary>
    Written,
    /// <summary>The child joins the caller's group (thread group).</summary>
    Joined,
    /// <summary>Set to a value from the request.</summary>
    Set,
    /// <summary>Inherited unchanged from the caller.</summary>
    Inherited,
    /// <summary>The child enters an object that already exists but is not the caller's own (a namespace unshared for children, a cgroup).</summary>
    Entered,
}

/// <summary>One resource and what the child gets, with a short detail for display.</summary>
/// <param name="Resource">The resource's name (stable; used as the JSON key).</param>
/// <param name="Effect">What the child gets.</param>
/// <param name="Detail">A short explanation.</param>
public readonly record struct ResourceEffect(string Resource, Effect Effect, string Detail);

/// <summary>
/// The effects of an allowed clone, per resource, as copy_process applies them (copy_mm, copy_files, copy_fs,
/// copy_sighand, copy_semundo, copy_namespaces, the thread-group and parent choice, the tid writes, copy_thread's
/// TLS, the pidfd, the exit signal and vfork completion). A value type; computing it allocates nothing.
/// </summary>
public readonly struct CloneEffects
{
    /// <summary>Address space (CLONE_VM): shared, or a copy-on-write copy.</summary>
    public Effect AddressSpace { get; init; }
    /// <summary>File descriptor table (CLONE_FILES).</summary>
    public Effect FdTable { get; init; }
    /// <summary>Root, cwd and umask (CLONE_FS).</summary>
    public Effect FsInfo { get; init; }
    /// <summary>Signal handlers (CLONE_SIGHAND, CLONE_CLEAR_SIGHAND).</summary>
    public Effect SignalHandlers { get; init; }
    /// <summary>System V semaphore undo list (CLONE_SYSVSEM): shared, or a new empty one.</summary>
    public Effect SysvSemUndo { get; init; }
    /// <summary>Thread group (CLONE_THREAD): joined, or a new process.</summary>
    public Effect ThreadGroup { get; init; }
    /// <summary>Parent: the caller (<see cref="Effect.New"/>) or the caller's own parent (<see cref="Effect.Inherited"/>, CLONE_PARENT/CLONE_THREAD).</summary>
    public Effect Parent { get; init; }
    /// <summary>Namespaces by <see cref="NamespaceType"/>: Shared, New, or Entered (unshared for children earlier).</summary>
    public Effect User { get; init; }
    /// <summary>Mount namespace.</summary>
    public Effect Mnt { get; init; }
    /// <summary>UTS namespace.</summary>
    public Effect Uts { get; init; }
    /// <summary>IPC namespace.</summary>
    public Effect Ipc { get; init; }
    /// <summary>PID namespace.</summary>
    public Effect Pid { get; init; }
    /// <summary>Cgroup namespace.</summary>
    public Effect CgroupNs { get; init; }
    /// <summary>Network namespace.</summary>
    public Effect Net { get; init; }
    /// <summary>Time namespace (entered at the child's first exec when it shares the address space).</summary>
    public Effect Time { get; init; }
    /// <summary>Cgroup membership: inherited, or entered (CLONE_INTO_CGROUP).</summary>
    public Effect Cgroup { get; init; }
    /// <summary>CLONE_PARENT_SETTID: the child's tid written at parent_tid in the caller's memory.</summary>
    public Effect ParentTid { get; init; }
    /// <summary>CLONE_CHILD_SETTID: the child's tid written at child_tid in the child's memory.</summary>
    public Effect ChildSetTid { get; init; }
    /// <summary>CLONE_CHILD_CLEARTID: child_tid cleared and futex-woken when the child exits.</summary>
    public Effect ChildClearTid { get; init; }
    /// <summary>Thread pointer (CLONE_SETTLS): set, or inherited.</summary>
    public Effect Tls { get; init; }
    /// <summary>The pidfd (CLONE_PIDFD): written at the pidfd pointer (legacy clone: parent_tid).</summary>
    public Effect Pidfd { get; init; }
    /// <summary>The stack pointer: set (a stack was given) or inherited (the caller's, copied or shared).</summary>
    public Effect Stack { get; init; }
    /// <summary>CLONE_VFORK: the caller sleeps until the child execs or exits.</summary>
    public bool VforkWait { get; init; }
    /// <summary>The signal the parent receives when the child exits; -1 for a thread (none).</summary>
    public int ExitSignal { get; init; }
    /// <summary>CLONE_PTRACE: the child is traced too if the caller is.</summary>
    public bool Traced { get; init; }
    /// <summary>CLONE_IO: the I/O context is shared.</summary>
    public Effect IoContext { get; init; }

    /// <summary>Computes the effects of a request (meaningful when the model allows it).</summary>
    public static CloneEffects Of(in CloneCall call, CallerContext context)
    {
        var f = call.Args.Flags;
        bool Has(CloneFlags x) => (f & x) != 0;
        Effect Ns(CloneFlags flag) => Has(flag) ? Effect.New : Effect.Shared;
        bool thread = Has(CloneFlags.Thread);
        return new CloneEffects
        {
            AddressSpace = Has(CloneFlags.Vm) ? Effect.Shared : Effect.Copied,
            FdTable = Has(CloneFlags.Files) ? Effect.Shared : Effect.Copied,
            FsInfo = Has(CloneFlags.Fs) ? Effect.Shared : Effect.Copied,
            SignalHandlers = Has(CloneFlags.Sighand) ? Effect.Shared : Has(CloneFlags.ClearSighand) ? Effect.Reset : Effect.Copied,
            SysvSemUndo = Has(CloneFlags.Sysvsem) ? Effect.Shared : Effect.New,
            ThreadGroup = thread ? Effect.Joined : Effect.New,
            Parent = Has(CloneFlags.Parent | CloneFlags.Thread) ? Effect.Inherited : Effect.New,
            User = Ns(CloneFlags.NewUser),
            Mnt = Ns(CloneFlags.NewNs),
            Uts = Ns(CloneFlags.NewUts),
            Ipc = Ns(CloneFlags.NewIpc),
            Pid = Has(CloneFlags.NewPid) ? Effect.New : context.PidNsForChildrenUnshared ? Effect.Entered : Effect.Shared,
            CgroupNs = Ns(CloneFlags.NewCgroup),
            Net = Ns(CloneFlags.NewNet),
            Time = Has(CloneFlags.NewTime) ? Effect.New : context.TimeNsForChildrenUnshared ? Effect.Entered : Effect.Shared,
            Cgroup = Has(CloneFlags.IntoCgroup) ? Effect.Entered : Effect.Inherited,
            ParentTid = Has(CloneFlags.ParentSetTid) ? Effect.Written : Effect.None,
            ChildSetTid = Has(CloneFlags.ChildSetTid) ? Effect.Written : Effect.None,
            ChildClearTid = Has(CloneFlags.ChildClearTid) ? Effect.Set : Effect.None,
            Tls = Has(CloneFlags.SetTls) ? Effect.Set : Effect.Inherited,
            Pidfd = Has(CloneFlags.Pidfd) ? Effect.Written : Effect.None,
            Stack = call.Args.Stack != 0 ? Effect.Set : Effect.Inherited,
            VforkWait = Has(CloneFlags.Vfork),
            // copy_process: a thread's exit_signal is -1; a CLONE_PARENT sibling takes the caller's group leader's
            // (the shared parent expects that one), whatever was requested.
            ExitSignal = thread ? -1 : Has(CloneFlags.Parent) ? context.ExitSignal : call.Args.ExitSignalNumber,
            Traced = Has(CloneFlags.Ptrace),
            IoContext = Has(CloneFlags.Io) ? Effect.Shared : Effect.Copied,
        };
    }

    /// <summary>The effects as a list of named resources with details (allocates; for display and JSON).</summary>
    public IReadOnlyList<ResourceEffect> Describe(in CloneCall call)
    {
        var a = call.Args;
        bool legacy = call.Entry == CloneEntry.Clone;
        static string NsDetail(Effect e, string name) => e switch
        {
            Effect.New => $"a new {name} namespace",
            Effect.Entered => $"the {name} namespace unshared for children",
            _ => $"the caller's {name} namespace",
        };
        return
        [
            new("address_space", AddressSpace, AddressSpace == Effect.Shared ? "same memory (CLONE_VM)" : "copy-on-write copy"),
            new("fd_table", FdTable, FdTable == Effect.Shared ? "same fd table (CLONE_FILES)" : "copy of the fd table; open files shared"),
            new("fs_info", FsInfo, FsInfo == Effect.Shared ? "same root, cwd, umask (CLONE_FS)" : "copy of root, cwd, umask"),
            new("signal_handlers", SignalHandlers, SignalHandlers switch
            {
                Effect.Shared => "same handler table (CLONE_SIGHAND)",
                Effect.Reset => "handlers reset to default, ignored signals stay ignored (CLONE_CLEAR_SIGHAND)",
                _ => "copy of the handler table",
            }),
            new("sysvsem_undo", SysvSemUndo, SysvSemUndo == Effect.Shared ? "same semaphore undo list (CLONE_SYSVSEM)" : "no undo entries"),
            new("thread_group", ThreadGroup, ThreadGroup == Effect.Joined ? "a thread of the caller's process (CLONE_THREAD)" : "a new process, its own thread-group leader"),
            new("parent", Parent, Parent == Effect.Inherited ? "the caller's parent (a sibling of the caller)" : "the caller"),
            new("user_ns", User, NsDetail(User, "user")),
            new("mnt_ns", Mnt, NsDetail(Mnt, "mount")),
            new("uts_ns", Uts, NsDetail(Uts, "UTS")),
            new("ipc_ns", Ipc, NsDetail(Ipc, "IPC")),
            new("pid_ns", Pid, NsDetail(Pid, "pid") + (Pid == Effect.New ? ", the child is its pid 1" : "")),
            new("cgroup_ns", CgroupNs, NsDetail(CgroupNs, "cgroup")),
            new("net_ns", Net, NsDetail(Net, "network")),
            new("time_ns", Time, NsDetail(Time, "time") + (Time != Effect.Shared && AddressSpace == Effect.Shared ? ", entered at the child's first execve" : "")),
            new("cgroup", Cgroup, Cgroup == Effect.Entered ? $"placed in the cgroup of fd {a.Cgroup} before it runs (CLONE_INTO_CGROUP)" : "the caller's cgroups"),
            new("parent_tid", ParentTid, ParentTid == Effect.Written ? $"child tid written at 0x{a.ParentTid:x} in the caller's memory" : "not written"),
            new("child_tid", ChildSetTid == Effect.Written || ChildClearTid == Effect.Set ? Effect.Written : Effect.None,
                (ChildSetTid == Effect.Written ? $"child tid written at 0x{a.ChildTid:x} in the child's memory" : "")
                + (ChildSetTid == Effect.Written && ChildClearTid == Effect.Set ? "; " : "")
                + (ChildClearTid == Effect.Set ? "cleared and futex-woken when the child exits" : "")
                + (ChildSetTid != Effect.Written && ChildClearTid != Effect.Set ? "not written" : "")),
            new("tls", Tls, Tls == Effect.Set ? $"thread pointer (FS base) set to 0x{a.Tls:x}" : "the caller's thread pointer"),
            new("pidfd", Pidfd, Pidfd == Effect.Written ? $"a pidfd written at 0x{a.Pidfd:x}" + (legacy ? " (parent_tid)" : "") : "none"),
            new("stack", Stack, Stack == Effect.Set
                ? (call.HasStruct ? $"stack pointer 0x{a.Stack + a.StackSize:x} (stack + stack_size)" : $"stack pointer 0x{a.Stack:x} (newsp)")
                : AddressSpace == Effect.Shared ? "the caller's stack pointer, in shared memory" : "the caller's stack pointer, in the copied memory"),
            new("exit_signal", ExitSignal > 0 ? Effect.Set : Effect.None,
                ExitSignal < 0 ? "none: a thread does not signal its parent" : ExitSignal == 0 ? "none (0): wait with __WALL or __WCLONE" : Signals.Name(ExitSignal)),
            new("vfork", VforkWait ? Effect.Set : Effect.None, VforkWait ? "the caller sleeps until the child execs or exits" : "the caller continues at once"),
            new("io_context", IoContext, IoContext == Effect.Shared ? "same I/O context (CLONE_IO)" : "its own I/O context"),
        ];
    }
}
