namespace Forklift.Abi;

/// <summary>
/// The 64-bit clone flag word, with the kernel's names and values (include/uapi/linux/sched.h).
/// Bits 0..7 of the legacy <c>clone()</c> flag register are the exit signal (<see cref="CloneMasks.CSignal"/>);
/// bit 7 doubles as <see cref="NewTime"/>, which only <c>clone3</c> can express.
/// </summary>
[Flags]
public enum CloneFlags : ulong
{
    /// <summary>No flag: a plain fork.</summary>
    None = 0,
    /// <summary><c>CLONE_NEWTIME</c>: new time namespace (clone3 only; since 5.6, accepted by clone3 since 6.3).</summary>
    NewTime = 0x80,
    /// <summary><c>CLONE_VM</c>: share the address space.</summary>
    Vm = 0x100,
    /// <summary><c>CLONE_FS</c>: share cwd, root and umask (fs_struct).</summary>
    Fs = 0x200,
    /// <summary><c>CLONE_FILES</c>: share the fd table.</summary>
    Files = 0x400,
    /// <summary><c>CLONE_SIGHAND</c>: share signal handlers.</summary>
    Sighand = 0x800,
    /// <summary><c>CLONE_PIDFD</c>: return a pidfd for the child (since 5.2).</summary>
    Pidfd = 0x1000,
    /// <summary><c>CLONE_PTRACE</c>: trace the child too if the caller is traced.</summary>
    Ptrace = 0x2000,
    /// <summary><c>CLONE_VFORK</c>: suspend the caller until the child execs or exits.</summary>
    Vfork = 0x4000,
    /// <summary><c>CLONE_PARENT</c>: the child's parent is the caller's parent (a sibling).</summary>
    Parent = 0x8000,
    /// <summary><c>CLONE_THREAD</c>: same thread group.</summary>
    Thread = 0x10000,
    /// <summary><c>CLONE_NEWNS</c>: new mount namespace.</summary>
    NewNs = 0x20000,
    /// <summary><c>CLONE_SYSVSEM</c>: share System V semaphore undo values.</summary>
    Sysvsem = 0x40000,
    /// <summary><c>CLONE_SETTLS</c>: set the thread pointer (x86-64: FS base) to <c>tls</c>.</summary>
    SetTls = 0x80000,
    /// <summary><c>CLONE_PARENT_SETTID</c>: write the child's tid at <c>parent_tid</c>.</summary>
    ParentSetTid = 0x100000,
    /// <summary><c>CLONE_CHILD_CLEARTID</c>: clear (and futex-wake) <c>child_tid</c> when the child exits.</summary>
    ChildClearTid = 0x200000,
    /// <summary><c>CLONE_DETACHED</c>: obsolete; ignored by legacy clone, refused by clone3.</summary>
    Detached = 0x400000,
    /// <summary><c>CLONE_UNTRACED</c>: a tracer cannot force CLONE_PTRACE.</summary>
    Untraced = 0x800000,
    /// <summary><c>CLONE_CHILD_SETTID</c>: write the child's tid at <c>child_tid</c> in the child's memory.</summary>
    ChildSetTid = 0x1000000,
    /// <summary><c>CLONE_NEWCGROUP</c>: new cgroup namespace.</summary>
    NewCgroup = 0x2000000,
    /// <summary><c>CLONE_NEWUTS</c>: new UTS namespace.</summary>
    NewUts = 0x4000000,
    /// <summary><c>CLONE_NEWIPC</c>: new IPC namespace.</summary>
    NewIpc = 0x8000000,
    /// <summary><c>CLONE_NEWUSER</c>: new user namespace.</summary>
    NewUser = 0x10000000,
    /// <summary><c>CLONE_NEWPID</c>: new pid namespace.</summary>
    NewPid = 0x20000000,
    /// <summary><c>CLONE_NEWNET</c>: new network namespace.</summary>
    NewNet = 0x40000000,
    /// <summary><c>CLONE_IO</c>: share the I/O context.</summary>
    Io = 0x80000000,
    /// <summary><c>CLONE_CLEAR_SIGHAND</c>: reset every handled signal to default in the child (clone3, 5.5).</summary>
    ClearSighand = 0x100000000,
    /// <summary><c>CLONE_INTO_CGROUP</c>: start the child in the cgroup2 directory given by <c>cgroup</c> (clone3, 5.7).</summary>
    IntoCgroup = 0x200000000,
}

/// <summary>The masks the kernel uses on the flag word.</summary>
public static class CloneMasks
{
    /// <summary><c>CSIGNAL</c> (0xff): the exit-signal byte of the legacy flag register.</summary>
    public const ulong CSignal = 0xff;

    /// <summary>The bits legacy <c>clone()</c> can carry: its flags are <c>lower_32_bits(flags) &amp; ~CSIGNAL</c>.</summary>
    public const ulong Legacy32 = 0xffffffff;

    /// <summary>Every namespace flag (<c>CLONE_NEW*</c>), the set <c>copy_namespaces</c> acts on plus user.</summary>
    public const CloneFlags Namespaces = CloneFlags.NewNs | CloneFlags.NewUts | CloneFlags.NewIpc | CloneFlags.NewUser
        | CloneFlags.NewPid | CloneFlags.NewNet | CloneFlags.NewCgroup | CloneFlags.NewTime;

    /// <summary>The namespaces whose creation needs CAP_SYS_ADMIN in the child's user namespace (all but user).</summary>
    public const CloneFlags PrivilegedNamespaces = Namespaces & ~CloneFlags.NewUser;

    /// <summary>Every bit clone3 accepts on 6.18 (<c>clone3_args_valid</c>): the low 32 bits and the two high flags.</summary>
    public const ulong Clone3Valid = Legacy32 | (ulong)(CloneFlags.ClearSighand | CloneFlags.IntoCgroup);

    /// <summary>All 34 defined flags.</summary>
    public const CloneFlags All = (CloneFlags)(0x3_ffff_ff80UL);
}
