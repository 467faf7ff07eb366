using System.Collections.Immutable;

namespace Forklift.Rules;

/// <summary>
/// Everything about the calling task that changes the kernel's answer to a clone request. Immutable; every
/// field can be set for what-if questions with <c>with</c>. The default value (<see cref="Root"/>) is uid 0 with
/// every capability, in the initial user and pid namespaces, not pid 1, nothing unshared, no limits reached,
/// on the reference kernel (<see cref="KernelVersion.Reference"/>). <see cref="CallerContextReader.Live"/> reads
/// the running process instead.
/// </summary>
public sealed record CallerContext
{
    /// <summary>The root caller described above.</summary>
    public static CallerContext Root { get; } = new();

    /// <summary>The kernel release whose rules apply.</summary>
    public KernelVersion Kernel { get; init; } = KernelVersion.Reference;

    /// <summary>The effective uid, as seen in the caller's user namespace.</summary>
    public uint Uid { get; init; }

    /// <summary>
    /// True when the real uid is the initial user namespace's uid 0 (<c>INIT_USER</c>), which is exempt from
    /// RLIMIT_NPROC (copy_process). False for root inside a user namespace mapped to another uid.
    /// </summary>
    public bool IsGlobalRoot { get; init; } = true;

    /// <summary>Effective capabilities in the caller's own user namespace (bit n = capability n).</summary>
    public ulong Capabilities { get; init; } = Rules.Capabilities.All;

    /// <summary>Depth of the caller's user namespace (0 = initial). The kernel refuses a new one past depth 32.</summary>
    public int UserNsLevel { get; init; }

    /// <summary>Whether the caller's euid and egid have a mapping in its user namespace (create_user_ns).</summary>
    public bool UidMapped { get; init; } = true;

    /// <summary>Depth of the caller's active pid namespace (0 = initial).</summary>
    public int PidNsLevel { get; init; }

    /// <summary>
    /// How many pid namespaces, counted from the caller's own outwards, are owned by the caller's user namespace
    /// (or one below it), so that the caller's capabilities count there for set_tid (alloc_pid). Null: all of
    /// them when <see cref="UserNsLevel"/> is 0, otherwise just the caller's own.
    /// </summary>
    public int? PidNsLevelsOwned { get; init; }

    /// <summary>The caller is the init (pid 1) of its pid namespace, or global init: SIGNAL_UNKILLABLE.</summary>
    public bool IsPidNsInit { get; init; }

    /// <summary>After <c>unshare(CLONE_NEWPID)</c>: children go to a new pid namespace that has no init yet.</summary>
    public bool PidNsForChildrenUnshared { get; init; }

    /// <summary>The init of the pid namespace for children has exited: every new pid is refused (ENOMEM).</summary>
    public bool PidNsForChildrenInitExited { get; init; }

    /// <summary>After <c>unshare(CLONE_NEWTIME)</c>: children enter a new time namespace.</summary>
    public bool TimeNsForChildrenUnshared { get; init; }

    /// <summary>The caller's root is not its mount namespace's root (chroot).</summary>
    public bool Chrooted { get; init; }

    /// <summary>The caller is a child subreaper (PR_SET_CHILD_SUBREAPER).</summary>
    public bool ChildSubreaper { get; init; }

    /// <summary>
    /// The exit signal of the caller's thread-group leader (its own parent gets it when it exits). A child made with
    /// CLONE_PARENT inherits this one instead of the requested signal (copy_process). Default SIGCHLD.
    /// </summary>
    public int ExitSignal { get; init; } = Abi.Signals.SigChld;

    /// <summary>RLIMIT_NPROC; <see cref="ulong.MaxValue"/> is unlimited.</summary>
    public ulong RlimitNproc { get; init; } = ulong.MaxValue;

    /// <summary>Tasks the caller's real uid already has in its user namespace, the caller included.</summary>
    public long UserProcesses { get; init; } = 1;

    /// <summary>The caller runs under SCHED_DEADLINE (without SCHED_FLAG_RESET_ON_FORK).</summary>
    public bool SchedDeadline { get; init; }

    /// <summary>
    /// <c>/proc/sys/user/max_&lt;type&gt;_namespaces</c> by <see cref="NamespaceType"/> (the tightest along the
    /// caller's user namespace and its ancestors). Default: unlimited.
    /// </summary>
    public ImmutableArray<long> NamespaceLimits { get; init; } = Unlimited;

    /// <summary>Namespaces of each type already charged to the caller's user (default: none).</summary>
    public ImmutableArray<long> NamespaceCounts { get; init; } = Zeroes;

    /// <summary><c>/proc/sys/kernel/pid_max</c> (per pid namespace since 6.14).</summary>
    public int PidMax { get; init; } = 32768;

    /// <summary>
    /// Pids in use, per pid namespace: element 0 is the caller's own, 1 its parent, and so on. A missing level
    /// or a null set means only pid 1 is known to be in use there.
    /// </summary>
    public ImmutableArray<IReadOnlySet<int>?> PidsInUse { get; init; } = ImmutableArray<IReadOnlySet<int>?>.Empty;

    /// <summary>x86-64 <c>TASK_SIZE_MAX</c>: 0x7ffffffff000 with 4-level paging, 0xfffffffffff000 with 5-level.</summary>
    public ulong TaskSizeMax { get; init; } = Abi.UserPointer.TaskSizeMax4Level;

    /// <summary>Every fd number is taken (RLIMIT_NOFILE reached): a pidfd cannot be allocated (EMFILE).</summary>
    public bool NoFreeFd { get; init; }

    /// <summary>A signal is pending for the caller (the call is restarted: ERESTARTNOINTR).</summary>
    public bool SignalPending { get; init; }

    /// <summary>A fatal signal is pending (EINTR late in copy_process).</summary>
    public bool FatalSignalPending { get; init; }

    /// <summary>The system-wide thread count is at <c>kernel.threads-max</c>.</summary>
    public bool ThreadsAtMax { get; init; }

    /// <summary>Another thread sharing the fs_struct is in execve (CLONE_FS races: EAGAIN).</summary>
    public bool FsInExec { get; init; }

    /// <summary>The pid namespace has no free pid left.</summary>
    public bool PidSpaceFull { get; init; }

    /// <summary>The caller's pids cgroup is at pids.max.</summary>
    public bool PidsControllerAtMax { get; init; }

    /// <summary>After setns into a pid namespace whose owner is not an ancestor of the caller's user namespace.</summary>
    public bool PidNsOwnerOutsideUserNs { get; init; }

    /// <summary>
    /// Whether <c>kernel_clone</c> validates every caller's exit signal (upstream "kernel/fork: validate
    /// exit_signal in kernel_clone()", 2026). Null: decided by <see cref="Kernel"/> (see
    /// <see cref="CloneRules.ExitSignalCheckedInKernelCloneSince"/>).
    /// </summary>
    public bool? ExitSignalCheckedInKernelClone { get; init; }

    /// <summary>True when <see cref="Capabilities"/> holds <paramref name="cap"/> (in the caller's user namespace).</summary>
    public bool Has(int cap) => Rules.Capabilities.Has(Capabilities, cap);

    /// <summary>True when the caller holds <paramref name="cap"/> in the initial user namespace (<c>capable()</c>).</summary>
    public bool HasGlobally(int cap) => UserNsLevel == 0 && Has(cap);

    internal static readonly ImmutableArray<long> Unlimited = ImmutableArray.Create(
        long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue);

    internal static readonly ImmutableArray<long> Zeroes = ImmutableArray.Create(0L, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>True when no more namespaces of <paramref name="type"/> may be created by this user.</summary>
    public bool NamespaceLimitReached(NamespaceType type)
    {
        int i = (int)type;
        long max = NamespaceLimits.IsDefaultOrEmpty || i >= NamespaceLimits.Length ? long.MaxValue : NamespaceLimits[i];
        long used = NamespaceCounts.IsDefaultOrEmpty || i >= NamespaceCounts.Length ? 0 : NamespaceCounts[i];
        return used >= max;
    }

    /// <summary>The limit for one type as a copy with that value changed.</summary>
    public CallerContext WithNamespaceLimit(NamespaceType type, long max)
    {
        var limits = NamespaceLimits.IsDefaultOrEmpty ? Unlimited : NamespaceLimits;
        return this with { NamespaceLimits = limits.SetItem((int)type, max) };
    }

    /// <summary>True when pid <paramref name="pid"/> is in use in the caller's pid namespace at distance <paramref name="level"/> (0 = own).</summary>
    public bool PidInUse(int level, int pid)
    {
        if (!PidsInUse.IsDefaultOrEmpty && level < PidsInUse.Length && PidsInUse[level] is { } set)
        {
            return set.Contains(pid);
        }
        return pid == 1;
    }

    /// <summary>
    /// Whether the caller's capabilities count in the user namespace owning its pid namespace at distance
    /// <paramref name="level"/> (0 = own), as <c>checkpoint_restore_ns_capable</c> needs for set_tid.
    /// </summary>
    public bool CapableForSetTid(int level)
    {
        int owned = PidNsLevelsOwned ?? (UserNsLevel == 0 ? int.MaxValue : 1);
        return HasSetTidCapability && level < owned;
    }

    /// <summary>
    /// CAP_SYS_ADMIN, or CAP_CHECKPOINT_RESTORE from 5.9, in the caller's own user namespace: what set_tid needs
    /// over a pid namespace that namespace owns (a new one, or one unshared for children).
    /// </summary>
    public bool HasSetTidCapability =>
        Has(Rules.Capabilities.SysAdmin) || (Kernel.AtLeast(5, 9) && Has(Rules.Capabilities.CheckpointRestore));
}
