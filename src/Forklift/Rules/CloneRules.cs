using System.Runtime.CompilerServices;
using Forklift.Abi;

namespace Forklift.Rules;

/// <summary>
/// The kernel's clone rules, each a small predicate that mirrors one check of the kernel, evaluated in the
/// kernel's order: the first that fires decides the errno. Source of truth: kernel/fork.c
/// (<c>copy_clone_args_from_user</c>, <c>clone3_args_valid</c>, <c>kernel_clone</c>, <c>copy_process</c>),
/// kernel/nsproxy.c, kernel/pid.c, kernel/pid_namespace.c, kernel/user_namespace.c, kernel/cgroup/cgroup.c,
/// as written down in CLONE_RULES.md and checked against the live kernel by the differential tests.
/// Evaluation is pure and allocation-free.
/// </summary>
public static unsafe class CloneRules
{
    /// <summary>
    /// The first release assumed to carry "kernel/fork: validate exit_signal in kernel_clone()" (2026). It is
    /// absent from 6.18.44 (checked here); stable branches may receive it earlier, so the context can override it.
    /// </summary>
    public static readonly KernelVersion ExitSignalCheckedInKernelCloneSince = new(7, 1, 0);

    /// <summary>The deepest pid namespace level and the longest set_tid (<c>MAX_PID_NS_LEVEL</c>).</summary>
    public const int MaxPidNsLevel = 32;

    /// <summary>A user namespace cannot be created by a caller whose own is deeper than this (create_user_ns).</summary>
    public const int MaxUserNsParentLevel = 32;

    private readonly struct Check
    {
        public Check(delegate*<in Query, RuleId> fn, bool structOnly)
        {
            Fn = fn;
            StructOnly = structOnly;
        }

        public readonly delegate*<in Query, RuleId> Fn;
        public readonly bool StructOnly;
    }

    /// <summary>What the predicates look at: the call, the caller, the cgroup target, and a detail slot.</summary>
    internal ref struct Query
    {
        // By reference: the call is large, and copying it per evaluation costs more than every check together.
        public ref readonly CloneCall Call;
        public CallerContext Ctx;
        public ref readonly CgroupTarget Cgroup;
        public int Detail;

        public readonly CloneFlags Flags => Call.Args.Flags;
        public readonly bool Has(CloneFlags f) => (Call.Args.Flags & f) != 0;
        public readonly bool HasAll(CloneFlags f) => (Call.Args.Flags & f) == f;
        public readonly KernelVersion Kernel => Ctx.Kernel;
    }

    // The order of this table is the kernel's order. Struct-only checks apply to clone3 and clone6.
    private static readonly Check[] Order =
    [
        new(&Clone3Missing, true),
        new(&SizeTooBig, true), new(&SizeTooSmall, true), new(&StructCopy, true),
        new(&SetTidSizeTooBig, true), new(&SetTidSizeWithoutArray, true), new(&SetTidArrayWithoutSize, true),
        new(&ExitSignalInvalidClone3, true), new(&CgroupFieldInvalid, true), new(&SetTidUnreadable, true),
        new(&Clone6UpperWords, true),
        new(&UnknownFlags, true), new(&ReservedFlagBits, true), new(&SighandWithClearSighand, true),
        new(&ExitSignalWithThreadOrParent, true), new(&StackInvalid, true),
        new(&PidfdSameAsParentTid, false), new(&ExitSignalInvalidKernelClone, false),
        new(&NewNsWithFs, false), new(&NewUserWithFs, false), new(&ThreadWithoutSighand, false),
        new(&SighandWithoutVm, false), new(&ParentFromInit, false), new(&ThreadAcrossPidNs, false),
        new(&TimeNsSharingVm, false), new(&PidfdConflicts, false),
        new(&SignalPending, false), new(&UserNsCreation, false), new(&ProcessLimit, false), new(&Deadline, false),
        new(&FsInExec, false), new(&NamespacePermission, false), new(&IpcWithSysvsem, false), new(&NamespaceCreation, false),
        new(&TlsOutOfRange, false), new(&SetTidTooLong, false), new(&SetTidWalk, false), new(&PidNsDead, false),
        new(&PidfdAllocation, false), new(&IntoCgroup, false), new(&PidsController, false), new(&FatalSignal, false),
    ];

    /// <summary>Evaluates a request: the first rule that fires, in the kernel's order, or allowed.</summary>
    /// <param name="call">The request.</param>
    /// <param name="context">The caller.</param>
    /// <param name="cgroup">What the <c>CLONE_INTO_CGROUP</c> fd refers to (ignored without that flag).</param>
    public static CloneVerdict Evaluate(in CloneCall call, CallerContext context, in CgroupTarget cgroup = default)
    {
        var q = new Query { Call = ref call, Ctx = context, Cgroup = ref cgroup, Detail = -1 };
        bool hasStruct = call.HasStruct;
        var order = Order;
        for (int i = 0; i < order.Length; i++)
        {
            if (order[i].StructOnly && !hasStruct)
            {
                continue;
            }
            RuleId id = order[i].Fn(in q);
            if (id != RuleId.None)
            {
                return new CloneVerdict(Table[(int)id], q.Detail);
            }
        }
        return default;
    }

    /// <summary>Every rule, in the kernel's order.</summary>
    public static IReadOnlyList<CloneRule> All => AllRules;

    /// <summary>The rule with the given id.</summary>
    public static CloneRule Get(RuleId id) => Table[(int)id] ?? throw new ArgumentOutOfRangeException(nameof(id));

    /// <summary>Finds a rule by its name (<c>R-E22</c> or <c>E22</c>).</summary>
    public static CloneRule? Find(string name)
    {
        string n = name.StartsWith("R-", StringComparison.OrdinalIgnoreCase) ? name[2..] : name;
        return Enum.TryParse<RuleId>(n, ignoreCase: true, out var id) && id != RuleId.None ? Table[(int)id] : null;
    }

    // ---------------------------------------------------------------------------------------------------------
    // (A) copy_clone_args_from_user (kernel/fork.c), clone3 and clone6 only.

    // The syscall table: clone3 arrived in 5.3; the number is unknown (ENOSYS) before.
    private static RuleId Clone3Missing(in Query q) =>
        q.Call.Entry == CloneEntry.Clone3 && !q.Kernel.AtLeast(5, 3) ? RuleId.N1 : RuleId.None;

    // R-A1: usize > PAGE_SIZE, checked before memory is touched.
    private static RuleId SizeTooBig(in Query q) => q.Call.Size > Clone3Struct.MaxSize ? RuleId.A1 : RuleId.None;

    // R-A2: usize < CLONE_ARGS_SIZE_VER0.
    private static RuleId SizeTooSmall(in Query q) => q.Call.Size < Clone3Struct.SizeVer0 ? RuleId.A2 : RuleId.None;

    /// <summary><c>sizeof(struct clone_args)</c> of a release: VER0 (5.3), VER1 (5.5), VER2 (5.7).</summary>
    public static int KnownStructSize(KernelVersion k) =>
        k.AtLeast(5, 7) ? Clone3Struct.SizeVer2 : k.AtLeast(5, 5) ? Clone3Struct.SizeVer1 : Clone3Struct.SizeVer0;

    // R-A3/R-A4: copy_struct_from_user (include/linux/uaccess.h). The tail [ksize, usize) is scanned first by
    // check_zeroed_user (E2BIG at a non-zero byte, EFAULT at a fault, whichever comes first), then the first
    // min(usize, ksize) bytes are copied (EFAULT). On releases with a smaller struct, the newer fields are tail.
    private static RuleId StructCopy(in Query q)
    {
        ulong size = q.Call.Size;
        ulong known = (ulong)KnownStructSize(q.Kernel);
        bool pointerOk = UserPointer.Classify(q.Call.ArgsPointer, q.Ctx.TaskSizeMax) == PointerState.Valid;
        ulong readable = q.Call.ReadableBytes ?? ulong.MaxValue;
        if (!pointerOk)
        {
            readable = 0;
        }
        if (size > known)
        {
            ulong firstNonZero = FirstNonZeroTailByte(q.Call, known, size);
            ulong stop = Math.Min(readable, size);
            if (firstNonZero < stop)
            {
                return RuleId.A3;
            }
            if (readable < size)
            {
                return RuleId.A4;
            }
        }
        return readable < Math.Min(size, known) ? RuleId.A4 : RuleId.None;
    }

    private static ulong FirstNonZeroTailByte(in CloneCall call, ulong known, ulong size)
    {
        ulong first = ulong.MaxValue;
        // Fields this release does not know are tail bytes too (e.g. cgroup on 5.5).
        if (known < Clone3Struct.SizeVer2)
        {
            ReadOnlySpan<ulong> values = [call.Args.SetTid, call.Args.SetTidSize, call.Args.Cgroup];
            for (int f = 0; f < values.Length; f++)
            {
                ulong offset = (ulong)(Clone3Struct.SetTidOffset + 8 * f);
                if (offset >= known && offset < size && values[f] != 0)
                {
                    first = offset + (ulong)(System.Numerics.BitOperations.TrailingZeroCount(values[f]) / 8);
                    break;
                }
            }
        }
        ulong t = call.TailNonZeroAt;
        if (t >= Clone3Struct.SizeVer2 && t >= known && t < size && t < first)
        {
            first = t;
        }
        return first;
    }

    // R-A5: set_tid_size > MAX_PID_NS_LEVEL, before the array is read (5.5).
    private static RuleId SetTidSizeTooBig(in Query q) =>
        q.Call.Args.SetTidSize > MaxPidNsLevel ? RuleId.A5 : RuleId.None;

    // R-A6: !set_tid && set_tid_size > 0.
    private static RuleId SetTidSizeWithoutArray(in Query q) =>
        q.Call.Args.SetTid == 0 && q.Call.Args.SetTidSize > 0 ? RuleId.A6 : RuleId.None;

    // R-A7: set_tid && set_tid_size == 0.
    private static RuleId SetTidArrayWithoutSize(in Query q) =>
        q.Call.Args.SetTid != 0 && q.Call.Args.SetTidSize == 0 ? RuleId.A7 : RuleId.None;

    // R-A8: (exit_signal & ~CSIGNAL) || !valid_signal(exit_signal). Where kernel_clone validates every exit
    // signal (R-C2), only the upper-bits half stays here.
    private static RuleId ExitSignalInvalidClone3(in Query q)
    {
        ulong sig = q.Call.Args.ExitSignal;
        if ((sig & ~CloneMasks.CSignal) != 0)
        {
            return RuleId.A8;
        }
        return !ExitSignalCheckedInKernelClone(q.Ctx) && sig > Signals.Max ? RuleId.A8 : RuleId.None;
    }

    // R-A9: CLONE_INTO_CGROUP with cgroup > INT_MAX or usize < CLONE_ARGS_SIZE_VER2 (5.7).
    private static RuleId CgroupFieldInvalid(in Query q) =>
        q.Has(CloneFlags.IntoCgroup) && q.Kernel.AtLeast(5, 7)
        && (q.Call.Args.Cgroup > int.MaxValue || q.Call.Size < Clone3Struct.SizeVer2) ? RuleId.A9 : RuleId.None;

    // R-A10: copy_from_user of set_tid_size pid_t values.
    private static RuleId SetTidUnreadable(in Query q) =>
        q.Call.Args.SetTid != 0 && UserPointer.Classify(q.Call.Args.SetTid, q.Ctx.TaskSizeMax) != PointerState.Valid
            ? RuleId.A10 : RuleId.None;

    // clone6 proposal: flag words 2..5 are reserved and must be zero.
    private static RuleId Clone6UpperWords(in Query q) =>
        q.Call.Entry == CloneEntry.Clone6 && q.Call.Clone6UpperWords != 0 ? RuleId.X1 : RuleId.None;

    // ---------------------------------------------------------------------------------------------------------
    // (B) clone3_args_valid (kernel/fork.c), all EINVAL.

    /// <summary>The flag bits clone3 accepts on a release (5.3: the low 32; 5.5: + CLEAR_SIGHAND; 5.7: + INTO_CGROUP).</summary>
    public static ulong Clone3ValidFlags(KernelVersion k) =>
        CloneMasks.Legacy32
        | (k.AtLeast(5, 5) ? (ulong)CloneFlags.ClearSighand : 0)
        | (k.AtLeast(5, 7) ? (ulong)CloneFlags.IntoCgroup : 0);

    // R-B1: flags & ~(CLONE_LEGACY_FLAGS | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP).
    private static RuleId UnknownFlags(in Query q) =>
        ((ulong)q.Flags & ~Clone3ValidFlags(q.Kernel)) != 0 ? RuleId.B1 : RuleId.None;

    // R-B2: flags & (CLONE_DETACHED | (CSIGNAL & ~CLONE_NEWTIME)); CLONE_NEWTIME itself only since 6.3.
    private static RuleId ReservedFlagBits(in Query q)
    {
        ulong reserved = (ulong)CloneFlags.Detached | CloneMasks.CSignal;
        if (q.Kernel.AtLeast(6, 3))
        {
            reserved &= ~(ulong)CloneFlags.NewTime;
        }
        return ((ulong)q.Flags & reserved) != 0 ? RuleId.B2 : RuleId.None;
    }

    // R-B3: CLONE_SIGHAND together with CLONE_CLEAR_SIGHAND.
    private static RuleId SighandWithClearSighand(in Query q) =>
        q.HasAll(CloneFlags.Sighand | CloneFlags.ClearSighand) ? RuleId.B3 : RuleId.None;

    // R-B4: (CLONE_THREAD | CLONE_PARENT) && exit_signal.
    private static RuleId ExitSignalWithThreadOrParent(in Query q) =>
        q.Has(CloneFlags.Thread | CloneFlags.Parent) && q.Call.Args.ExitSignal != 0 ? RuleId.B4 : RuleId.None;

    // R-B5: clone3_stack_valid: stack and stack_size both set or both zero, and access_ok(stack, stack_size).
    private static RuleId StackInvalid(in Query q)
    {
        ulong stack = q.Call.Args.Stack, size = q.Call.Args.StackSize;
        if (stack == 0)
        {
            return size != 0 ? RuleId.B5 : RuleId.None;
        }
        if (size == 0)
        {
            return RuleId.B5;
        }
        return AccessOk(stack, size, q.Ctx) ? RuleId.None : RuleId.B5;
    }

    /// <summary>
    /// x86-64 <c>access_ok(addr, size)</c> for a range, as it changed over releases: before 6.7 the range must end
    /// at or below TASK_SIZE_MAX; 6.7..6.11 only test the sign bit of the end; 6.12.0 requires the end below
    /// TASK_SIZE_MAX; from 6.12.1/6.13 at or below it again. The sum must never wrap.
    /// </summary>
    public static bool AccessOk(ulong addr, ulong size, CallerContext ctx)
    {
        ulong end = addr + size;
        if (end < addr)
        {
            return false;
        }
        var k = ctx.Kernel;
        if (k.AtLeast(6, 7) && !k.AtLeast(6, 12))
        {
            return (long)end >= 0;
        }
        if (k.Major == 6 && k.Minor == 12 && k.Patch == 0)
        {
            return end < ctx.TaskSizeMax;
        }
        return end <= ctx.TaskSizeMax;
    }

    // ---------------------------------------------------------------------------------------------------------
    // (C) kernel_clone (kernel/fork.c), every entry point.

    // R-C1: CLONE_PIDFD with CLONE_PARENT_SETTID pointing at the same place (always so for legacy clone).
    private static RuleId PidfdSameAsParentTid(in Query q) =>
        q.HasAll(CloneFlags.Pidfd | CloneFlags.ParentSetTid) && q.Call.Args.Pidfd == q.Call.Args.ParentTid
        && q.Kernel.AtLeast(5, 2) ? RuleId.C1 : RuleId.None;

    /// <summary>Whether <c>kernel_clone</c> validates the exit signal for every caller in this context.</summary>
    public static bool ExitSignalCheckedInKernelClone(CallerContext ctx) =>
        ctx.ExitSignalCheckedInKernelClone ?? ctx.Kernel >= ExitSignalCheckedInKernelCloneSince;

    // R-C2: !valid_signal(exit_signal) in kernel_clone, where that check exists (see above).
    private static RuleId ExitSignalInvalidKernelClone(in Query q) =>
        ExitSignalCheckedInKernelClone(q.Ctx) && q.Call.Args.ExitSignal > Signals.Max ? RuleId.C2 : RuleId.None;

    // ---------------------------------------------------------------------------------------------------------
    // (D) copy_process, early flag checks, all EINVAL.

    // R-D1: a new mount namespace cannot share the fs_struct (it holds the root and cwd mounts).
    private static RuleId NewNsWithFs(in Query q) => q.HasAll(CloneFlags.NewNs | CloneFlags.Fs) ? RuleId.D1 : RuleId.None;

    // R-D2: a new user namespace cannot share the fs_struct.
    private static RuleId NewUserWithFs(in Query q) => q.HasAll(CloneFlags.NewUser | CloneFlags.Fs) ? RuleId.D2 : RuleId.None;

    // R-D3: threads must share signal handlers.
    private static RuleId ThreadWithoutSighand(in Query q) =>
        q.Has(CloneFlags.Thread) && !q.Has(CloneFlags.Sighand) ? RuleId.D3 : RuleId.None;

    // R-D4: shared handlers need a shared address space (handlers are addresses).
    private static RuleId SighandWithoutVm(in Query q) =>
        q.Has(CloneFlags.Sighand) && !q.Has(CloneFlags.Vm) ? RuleId.D4 : RuleId.None;

    // R-D5: CLONE_PARENT from a SIGNAL_UNKILLABLE task (an init) would create a sibling of init.
    private static RuleId ParentFromInit(in Query q) =>
        q.Has(CloneFlags.Parent) && q.Ctx.IsPidNsInit ? RuleId.D5 : RuleId.None;

    // R-D6: a thread must stay in its thread group's user and pid namespaces.
    private static RuleId ThreadAcrossPidNs(in Query q) =>
        q.Has(CloneFlags.Thread)
        && (q.Has(CloneFlags.NewUser | CloneFlags.NewPid) || q.Ctx.PidNsForChildrenUnshared) ? RuleId.D6 : RuleId.None;

    // R-D8 (5.6..5.19): after unshare(CLONE_NEWTIME), no CLONE_THREAD or CLONE_VM (removed in 6.0).
    private static RuleId TimeNsSharingVm(in Query q) =>
        q.Kernel.AtLeast(5, 6) && !q.Kernel.AtLeast(6, 0) && q.Ctx.TimeNsForChildrenUnshared
        && q.Has(CloneFlags.Thread | CloneFlags.Vm) ? RuleId.D8 : RuleId.None;

    // R-D7: CLONE_PIDFD with CLONE_DETACHED (bit kept for reuse), and with CLONE_THREAD before 6.9.
    private static RuleId PidfdConflicts(in Query q) =>
        q.Has(CloneFlags.Pidfd)
        && (q.Has(CloneFlags.Detached) || (q.Has(CloneFlags.Thread) && !q.Kernel.AtLeast(6, 9))) ? RuleId.D7 : RuleId.None;

    // ---------------------------------------------------------------------------------------------------------
    // (E) copy_process, later stages, in order.

    // R-E1: a pending signal restarts the fork so it is delivered first.
    private static RuleId SignalPending(in Query q) => q.Ctx.SignalPending ? RuleId.E1 : RuleId.None;

    // R-E2..R-E4: copy_creds -> create_user_ns (kernel/user_namespace.c): depth, ucount, chroot, mapping.
    private static RuleId UserNsCreation(in Query q)
    {
        if (!q.Has(CloneFlags.NewUser))
        {
            return RuleId.None;
        }
        if (q.Ctx.UserNsLevel > MaxUserNsParentLevel || q.Ctx.NamespaceLimitReached(NamespaceType.User))
        {
            return RuleId.E2;
        }
        if (q.Ctx.Chrooted)
        {
            return RuleId.E3;
        }
        return q.Ctx.UidMapped ? RuleId.None : RuleId.E4;
    }

    // R-E5: RLIMIT_NPROC (counting the new task) unless INIT_USER or capable(CAP_SYS_RESOURCE/CAP_SYS_ADMIN)
    // in the initial user namespace; and the global threads-max.
    private static RuleId ProcessLimit(in Query q)
    {
        var c = q.Ctx;
        bool over = c.RlimitNproc != ulong.MaxValue && (ulong)Math.Max(0, c.UserProcesses + 1) > c.RlimitNproc;
        if (over && !c.IsGlobalRoot && !c.HasGlobally(Capabilities.SysResource) && !c.HasGlobally(Capabilities.SysAdmin))
        {
            return RuleId.E5;
        }
        return c.ThreadsAtMax ? RuleId.E5 : RuleId.None;
    }

    // R-E6: sched_fork refuses to duplicate a SCHED_DEADLINE task (its bandwidth cannot be split).
    private static RuleId Deadline(in Query q) => q.Ctx.SchedDeadline ? RuleId.E6 : RuleId.None;

    // R-E7: copy_fs: CLONE_FS while the shared fs_struct is in execve.
    private static RuleId FsInExec(in Query q) => q.Has(CloneFlags.Fs) && q.Ctx.FsInExec ? RuleId.E7 : RuleId.None;

    // R-E8: copy_namespaces (kernel/nsproxy.c): CAP_SYS_ADMIN in the child's user namespace. With CLONE_NEWUSER
    // that is the new one, whose creator always holds it.
    private static RuleId NamespacePermission(in Query q) =>
        q.Has(CloneMasks.PrivilegedNamespaces) && !q.Has(CloneFlags.NewUser) && !q.Ctx.Has(Capabilities.SysAdmin)
            ? RuleId.E8 : RuleId.None;

    // R-E9: copy_namespaces: a new IPC namespace cannot share the SysV semaphore undo list of the old one.
    private static RuleId IpcWithSysvsem(in Query q) =>
        q.HasAll(CloneFlags.NewIpc | CloneFlags.Sysvsem) ? RuleId.E9 : RuleId.None;

    // R-E10..R-E13: create_new_namespaces in its order: mnt, uts, ipc, pid, cgroup, net, time. Each charges a
    // ucount (ENOSPC); copy_pid_ns/create_pid_namespace add their own checks in the pid step.
    private static RuleId NamespaceCreation(in Query q)
    {
        if (!q.Has(CloneMasks.PrivilegedNamespaces))
        {
            return RuleId.None;
        }
        var order = CreationOrder;
        for (int i = 0; i < order.Length; i++)
        {
            var t = order[i];
            if (!q.Has(NamespaceTypes.Flag(t)))
            {
                continue;
            }
            if (t == NamespaceType.Pid)
            {
                // copy_pid_ns: only from the active namespace (not after unshare(CLONE_NEWPID)).
                if (q.Ctx.PidNsForChildrenUnshared)
                {
                    return RuleId.E11;
                }
                // create_pid_namespace: owner check, then depth, then the ucount.
                if (q.Ctx.PidNsOwnerOutsideUserNs)
                {
                    return RuleId.E13;
                }
                if (q.Ctx.PidNsLevel + 1 > MaxPidNsLevel)
                {
                    return RuleId.E12;
                }
            }
            if (q.Ctx.NamespaceLimitReached(t))
            {
                return WithDetail(in q, RuleId.E10, (int)t);
            }
        }
        return RuleId.None;
    }

    // A static array: a span literal of enum values would be a new array per call.
    private static readonly NamespaceType[] CreationOrder =
        [NamespaceType.Mnt, NamespaceType.Uts, NamespaceType.Ipc, NamespaceType.Pid, NamespaceType.Cgroup, NamespaceType.Net, NamespaceType.Time];

    // R-E14: copy_thread (arch/x86): CLONE_SETTLS goes through do_arch_prctl_64(ARCH_SET_FS), which refuses a
    // base outside user space.
    private static RuleId TlsOutOfRange(in Query q) =>
        q.Has(CloneFlags.SetTls) && q.Call.Args.Tls >= q.Ctx.TaskSizeMax ? RuleId.E14 : RuleId.None;

    /// <summary>The level of the pid namespace the child gets its first pid in (alloc_pid's <c>ns->level</c>).</summary>
    public static int ChildPidNsLevel(in CloneCall call, CallerContext ctx) =>
        ctx.PidNsLevel + (ctx.PidNsForChildrenUnshared ? 1 : 0) + ((call.Args.Flags & CloneFlags.NewPid) != 0 ? 1 : 0);

    // R-E15: alloc_pid (kernel/pid.c): more set_tid entries than pid namespaces the child will be in.
    private static RuleId SetTidTooLong(in Query q) =>
        q.Call.Args.SetTidSize > (ulong)(ChildPidNsLevel(q.Call, q.Ctx) + 1) ? RuleId.E15 : RuleId.None;

    // R-E16..R-E19, R-E21: alloc_pid walks from the deepest namespace outwards; for each set_tid entry: the
    // range (EINVAL), a pid other than 1 where no init exists yet (EINVAL), CAP_SYS_ADMIN or
    // CAP_CHECKPOINT_RESTORE over that namespace (EPERM), then the allocation itself (EEXIST when taken).
    private static RuleId SetTidWalk(in Query q)
    {
        var c = q.Ctx;
        int n = (int)Math.Min(q.Call.Args.SetTidSize, MaxPidNsLevel);
        bool newPid = q.Has(CloneFlags.NewPid);
        int fresh = (newPid ? 1 : 0) + (c.PidNsForChildrenUnshared ? 1 : 0);
        var values = q.Call.Args.SetTidValues;
        for (int k = 0; k < n; k++)
        {
            int tid = values.IsDefault || k >= values.Length ? 0 : values[k];
            if (tid < 1 || tid >= c.PidMax)
            {
                return WithDetail(in q, RuleId.E16, k);
            }
            bool isNew = newPid && k == 0;
            bool isUnsharedChildren = c.PidNsForChildrenUnshared && k == (newPid ? 1 : 0);
            // A brand-new namespace, or one unshared but never entered, has no child_reaper yet. After its init
            // exited, the reaper pointer is still set.
            bool hasReaper = !(isNew || (isUnsharedChildren && !c.PidNsForChildrenInitExited));
            if (tid != 1 && !hasReaper)
            {
                return WithDetail(in q, RuleId.E17, k);
            }
            // A new pid namespace is owned by the child's user namespace: the new one with CLONE_NEWUSER (whose
            // creator is capable over it), else the caller's own, as is one unshared for children.
            bool capable = isNew
                ? q.Has(CloneFlags.NewUser) || c.HasSetTidCapability
                : isUnsharedChildren ? c.HasSetTidCapability : c.CapableForSetTid(k - fresh);
            if (!capable)
            {
                return WithDetail(in q, RuleId.E18, k);
            }
            bool inUse = !isNew && !isUnsharedChildren && c.PidInUse(k - fresh, tid);
            if (inUse)
            {
                return WithDetail(in q, RuleId.E19, k);
            }
        }
        return c.PidSpaceFull ? RuleId.E21 : RuleId.None;
    }

    // The query is always a local of Evaluate passed by reference, so recording the detail in it is safe; the
    // predicates take it read-only to keep every other check honest.
    private static RuleId WithDetail(in Query q, RuleId id, int detail)
    {
        Unsafe.AsRef(in q).Detail = detail;
        return id;
    }

    // R-E20: alloc_pid: the namespace no longer accepts pids (PIDNS_ADDING cleared: its init exited).
    private static RuleId PidNsDead(in Query q) =>
        q.Ctx.PidNsForChildrenInitExited && !q.Has(CloneFlags.NewPid) ? RuleId.E20 : RuleId.None;

    // R-E22: CLONE_PIDFD: an fd is reserved (EMFILE), then put_user(pidfd, args->pidfd) (EFAULT).
    private static RuleId PidfdAllocation(in Query q)
    {
        if (!q.Has(CloneFlags.Pidfd))
        {
            return RuleId.None;
        }
        if (q.Ctx.NoFreeFd)
        {
            return RuleId.E22a;
        }
        return UserPointer.Classify(q.Call.Args.Pidfd, q.Ctx.TaskSizeMax) != PointerState.Valid ? RuleId.E22 : RuleId.None;
    }

    // R-E23..R-E29: cgroup_can_fork -> cgroup_css_set_fork (kernel/cgroup/cgroup.c).
    private static RuleId IntoCgroup(in Query q)
    {
        if (!q.Has(CloneFlags.IntoCgroup))
        {
            return RuleId.None;
        }
        ref readonly var t = ref q.Cgroup;
        switch (t.Kind)
        {
            case CgroupTargetKind.NotOpen: return RuleId.E23;
            case CgroupTargetKind.NotCgroup:
            case CgroupTargetKind.V1: return RuleId.E24;
            case CgroupTargetKind.Removed: return RuleId.E25;
        }
        if (!t.Writable)
        {
            return RuleId.E26;
        }
        if (t.Kind == CgroupTargetKind.DomainInvalid)
        {
            return RuleId.E27;
        }
        if (t.Kind == CgroupTargetKind.Busy)
        {
            return RuleId.E28;
        }
        return q.Has(CloneFlags.Thread) && !t.SameDomainAsCaller ? RuleId.E29 : RuleId.None;
    }

    // R-E30: the pids controller's can_fork (pids.max reached).
    private static RuleId PidsController(in Query q) => q.Ctx.PidsControllerAtMax ? RuleId.E30 : RuleId.None;

    // R-E31: a fatal signal arrived during the fork.
    private static RuleId FatalSignal(in Query q) => q.Ctx.FatalSignalPending ? RuleId.E31 : RuleId.None;

    // ---------------------------------------------------------------------------------------------------------
    // The rules' descriptions.

    private static readonly CloneRule[] AllRules =
    [
        new(RuleId.N1, RulePhase.CopyArgs, Errno.ENOSYS, "syscall table", "clone3 on a kernel before 5.3",
            "clone3 does not exist before Linux 5.3; use legacy clone", "5.3"),
        new(RuleId.A1, RulePhase.CopyArgs, Errno.E2BIG, "copy_clone_args_from_user", "size > PAGE_SIZE",
            "the clone_args size is larger than a page (4096), so the kernel refuses before reading it", "5.3"),
        new(RuleId.A2, RulePhase.CopyArgs, Errno.EINVAL, "copy_clone_args_from_user", "size < CLONE_ARGS_SIZE_VER0 (64)",
            "the clone_args size is smaller than the first version of the struct (64 bytes)", "5.3"),
        new(RuleId.A3, RulePhase.CopyArgs, Errno.E2BIG, "copy_struct_from_user", "a non-zero byte in [sizeof(clone_args), size)",
            "the struct is larger than this kernel's clone_args and the extra bytes are not all zero: a newer feature this kernel does not know was asked for", "5.4"),
        new(RuleId.A4, RulePhase.CopyArgs, Errno.EFAULT, "copy_struct_from_user", "the struct (or its tail) is not readable",
            "the clone_args pointer is NULL or the memory it points to is not readable for the given size", "5.3"),
        new(RuleId.A5, RulePhase.CopyArgs, Errno.EINVAL, "copy_clone_args_from_user", "set_tid_size > MAX_PID_NS_LEVEL (32)",
            "set_tid can name at most 32 pids, one per pid-namespace level", "5.5"),
        new(RuleId.A6, RulePhase.CopyArgs, Errno.EINVAL, "copy_clone_args_from_user", "!set_tid && set_tid_size > 0",
            "set_tid_size is set but the set_tid array pointer is NULL", "5.5"),
        new(RuleId.A7, RulePhase.CopyArgs, Errno.EINVAL, "copy_clone_args_from_user", "set_tid && set_tid_size == 0",
            "a set_tid array is given but set_tid_size is 0", "5.5"),
        new(RuleId.A8, RulePhase.CopyArgs, Errno.EINVAL, "copy_clone_args_from_user", "(exit_signal & ~CSIGNAL) || !valid_signal(exit_signal)",
            "the exit signal must be a valid signal number (0..64) in the low byte", "5.3"),
        new(RuleId.A9, RulePhase.CopyArgs, Errno.EINVAL, "copy_clone_args_from_user", "CLONE_INTO_CGROUP && (cgroup > INT_MAX || size < CLONE_ARGS_SIZE_VER2)",
            "CLONE_INTO_CGROUP needs the 88-byte struct and a cgroup fd that fits an int", "5.7"),
        new(RuleId.A10, RulePhase.CopyArgs, Errno.EFAULT, "copy_clone_args_from_user", "the set_tid array is not readable",
            "the set_tid array pointer does not point at set_tid_size readable pid_t values", "5.5"),
        new(RuleId.X1, RulePhase.CopyArgs, Errno.EINVAL, "clone6 proposal (2019)", "flag words 2..5 non-zero",
            "clone6 reserves flag words 2 to 5; they must be zero (experimental: clone6 was never merged)", "never merged"),
        new(RuleId.B1, RulePhase.Clone3Valid, Errno.EINVAL, "clone3_args_valid", "flags & ~(CLONE_LEGACY_FLAGS | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP)",
            "an unknown flag bit is set: this kernel defines no flag there", "5.3; CLEAR_SIGHAND 5.5, INTO_CGROUP 5.7"),
        new(RuleId.B2, RulePhase.Clone3Valid, Errno.EINVAL, "clone3_args_valid", "flags & (CLONE_DETACHED | (CSIGNAL & ~CLONE_NEWTIME))",
            "clone3 reserves CLONE_DETACHED and the old exit-signal bits 0..7 (except CLONE_NEWTIME from 6.3): pass the exit signal in exit_signal", "5.3; NEWTIME allowed 6.3"),
        new(RuleId.B3, RulePhase.Clone3Valid, Errno.EINVAL, "clone3_args_valid", "CLONE_SIGHAND && CLONE_CLEAR_SIGHAND",
            "a child cannot both share the parent's signal handlers and have them reset", "5.5"),
        new(RuleId.B4, RulePhase.Clone3Valid, Errno.EINVAL, "clone3_args_valid", "(CLONE_THREAD || CLONE_PARENT) && exit_signal",
            "a thread or a sibling (CLONE_PARENT) cannot have its own exit signal: the signal would go to a parent that did not ask for it", "5.3"),
        new(RuleId.B5, RulePhase.Clone3Valid, Errno.EINVAL, "clone3_stack_valid", "stack and stack_size not both set or both zero, or !access_ok(stack, stack_size)",
            "the stack must be given with its size, and lie entirely in user space", "5.3; boundary varies 6.7..6.12"),
        new(RuleId.C1, RulePhase.KernelClone, Errno.EINVAL, "kernel_clone", "CLONE_PIDFD && CLONE_PARENT_SETTID && pidfd == parent_tid",
            "the pidfd and the parent tid would be written to the same place (always so with legacy clone, which returns the pidfd through parent_tid)", "5.2"),
        new(RuleId.C2, RulePhase.KernelClone, Errno.EINVAL, "kernel_clone", "!valid_signal(exit_signal)",
            "the exit signal must be a valid signal number (0..64)", "2026 upstream; absent in 6.18.44"),
        new(RuleId.D1, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_NEWNS && CLONE_FS",
            "a child in a new mount namespace cannot share root and cwd (fs_struct) with a parent in the old one", "2.4"),
        new(RuleId.D2, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_NEWUSER && CLONE_FS",
            "a child in a new user namespace cannot share root and cwd (fs_struct) with its parent", "3.9"),
        new(RuleId.D3, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_THREAD && !CLONE_SIGHAND",
            "threads of one process must share signal handlers: add CLONE_SIGHAND (and CLONE_VM)", "2.5.35"),
        new(RuleId.D4, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_SIGHAND && !CLONE_VM",
            "shared signal handlers are addresses in one address space: add CLONE_VM", "2.6.0"),
        new(RuleId.D5, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_PARENT && (current->signal->flags & SIGNAL_UNKILLABLE)",
            "an init process (pid 1 of a pid namespace) cannot create siblings: nobody would reap them", "2.6.32"),
        new(RuleId.D6, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_THREAD && (CLONE_NEWUSER || CLONE_NEWPID || pid_ns_for_children != active pid ns)",
            "a thread must stay in its process's user and pid namespaces", "3.12"),
        new(RuleId.D7, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "CLONE_PIDFD && (CLONE_DETACHED || (CLONE_THREAD before 6.9))",
            "CLONE_PIDFD cannot be combined with CLONE_DETACHED (and, before 6.9, with CLONE_THREAD)", "5.2; THREAD allowed 6.9"),
        new(RuleId.D8, RulePhase.CopyProcessEarly, Errno.EINVAL, "copy_process", "(CLONE_THREAD || CLONE_VM) && time_ns != time_ns_for_children (5.6..5.19)",
            "after unshare(CLONE_NEWTIME) a child could not share the address space or thread group (removed in 6.0)", "5.6 to 5.19"),
        new(RuleId.E1, RulePhase.CopyProcessLate, Errno.ERESTARTNOINTR, "copy_process", "signal_pending(current)",
            "a signal is pending: the kernel delivers it first and restarts the call", "2.6.17"),
        new(RuleId.E2, RulePhase.CopyProcessLate, Errno.ENOSPC, "create_user_ns (kernel/user_namespace.c)", "parent user-ns level > 32 or max_user_namespaces reached",
            "no more user namespaces: the nesting limit (32) or /proc/sys/user/max_user_namespaces is reached", "4.9"),
        new(RuleId.E3, RulePhase.CopyProcessLate, Errno.EPERM, "create_user_ns (kernel/user_namespace.c)", "current_chrooted()",
            "a chrooted process may not create a user namespace (it could escape the chroot with the new privileges)", "3.9"),
        new(RuleId.E4, RulePhase.CopyProcessLate, Errno.EPERM, "create_user_ns (kernel/user_namespace.c)", "!kuid_has_mapping(parent_ns, euid) || !kgid_has_mapping(parent_ns, egid)",
            "the caller's uid or gid has no mapping in its user namespace (its uid_map/gid_map were never written)", "3.8"),
        new(RuleId.E5, RulePhase.CopyProcessLate, Errno.EAGAIN, "copy_process", "RLIMIT_NPROC exceeded without INIT_USER/CAP_SYS_RESOURCE/CAP_SYS_ADMIN, or threads-max reached",
            "the user has reached RLIMIT_NPROC (threads count too), or the system its thread limit", "2.6"),
        new(RuleId.E6, RulePhase.CopyProcessLate, Errno.EAGAIN, "sched_fork (kernel/sched/core.c)", "dl_prio(p->prio) without reset-on-fork",
            "a SCHED_DEADLINE task cannot fork: its reserved bandwidth cannot be inherited", "3.14"),
        new(RuleId.E7, RulePhase.CopyProcessLate, Errno.EAGAIN, "copy_fs", "CLONE_FS && fs->in_exec",
            "another thread sharing the fs_struct is in execve", "2.6.32"),
        new(RuleId.E8, RulePhase.CopyProcessLate, Errno.EPERM, "copy_namespaces (kernel/nsproxy.c)", "CLONE_NEW{NS,UTS,IPC,PID,NET,CGROUP,TIME} && !ns_capable(child user ns, CAP_SYS_ADMIN)",
            "creating this namespace needs CAP_SYS_ADMIN; add CLONE_NEWUSER to get it inside a new user namespace", "2.6.24"),
        new(RuleId.E9, RulePhase.CopyProcessLate, Errno.EINVAL, "copy_namespaces (kernel/nsproxy.c)", "CLONE_NEWIPC && CLONE_SYSVSEM",
            "a child in a new IPC namespace cannot share semaphore undo values that belong to the old one", "2.6.19"),
        new(RuleId.E10, RulePhase.CopyProcessLate, Errno.ENOSPC, "create_new_namespaces (kernel/nsproxy.c)", "max_<type>_namespaces reached",
            "the per-user limit for this namespace type is reached", "4.9"),
        new(RuleId.E11, RulePhase.CopyProcessLate, Errno.EINVAL, "copy_pid_ns (kernel/pid_namespace.c)", "CLONE_NEWPID && pid_ns_for_children != active pid ns",
            "after unshare(CLONE_NEWPID) the caller's children already go to a new pid namespace; it cannot nest another from here", "3.8"),
        new(RuleId.E12, RulePhase.CopyProcessLate, Errno.ENOSPC, "create_pid_namespace (kernel/pid_namespace.c)", "new level > MAX_PID_NS_LEVEL (32)",
            "pid namespaces nest at most 32 deep", "3.7"),
        new(RuleId.E13, RulePhase.CopyProcessLate, Errno.EINVAL, "create_pid_namespace (kernel/pid_namespace.c)", "!in_userns(parent_pid_ns->user_ns, user_ns)",
            "the pid namespace's owner is not an ancestor of the child's user namespace", "3.8"),
        new(RuleId.E14, RulePhase.CopyProcessLate, Errno.EPERM, "copy_thread -> do_arch_prctl_64 (arch/x86)", "CLONE_SETTLS && tls >= TASK_SIZE_MAX",
            "the TLS base must be a user-space address", "x86-64"),
        new(RuleId.E15, RulePhase.CopyProcessLate, Errno.EINVAL, "alloc_pid (kernel/pid.c)", "set_tid_size > ns->level + 1",
            "set_tid names more pids than there are pid namespaces for the child", "5.5"),
        new(RuleId.E16, RulePhase.CopyProcessLate, Errno.EINVAL, "alloc_pid (kernel/pid.c)", "tid < 1 || tid >= pid_max",
            "a set_tid pid is outside 1..pid_max-1", "5.5"),
        new(RuleId.E17, RulePhase.CopyProcessLate, Errno.EINVAL, "alloc_pid (kernel/pid.c)", "tid != 1 && !ns->child_reaper",
            "the first process of a new pid namespace must be pid 1", "5.5"),
        new(RuleId.E18, RulePhase.CopyProcessLate, Errno.EPERM, "alloc_pid (kernel/pid.c)", "!checkpoint_restore_ns_capable(ns->user_ns)",
            "choosing a pid needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over that pid namespace", "5.5; CHECKPOINT_RESTORE 5.9"),
        new(RuleId.E19, RulePhase.CopyProcessLate, Errno.EEXIST, "alloc_pid (kernel/pid.c)", "the requested pid is in use",
            "the pid asked for in set_tid is already in use in that namespace", "5.5"),
        new(RuleId.E20, RulePhase.CopyProcessLate, Errno.ENOMEM, "alloc_pid (kernel/pid.c)", "!(ns->pid_allocated & PIDNS_ADDING)",
            "the pid namespace's init has exited, so it accepts no new processes", "3.8"),
        new(RuleId.E21, RulePhase.CopyProcessLate, Errno.EAGAIN, "alloc_pid (kernel/pid.c)", "no free pid",
            "the pid namespace has no free pid", "2.6"),
        new(RuleId.E22a, RulePhase.CopyProcessLate, Errno.EMFILE, "copy_process -> __pidfd_prepare", "no free fd for the pidfd",
            "the caller has no free file descriptor for the pidfd (RLIMIT_NOFILE reached)", "5.2"),
        new(RuleId.E22, RulePhase.CopyProcessLate, Errno.EFAULT, "copy_process (pidfd)", "put_user(pidfd, args->pidfd) fails",
            "the pidfd cannot be stored: the pidfd pointer (parent_tid for legacy clone) is NULL or not writable", "5.2"),
        new(RuleId.E23, RulePhase.CopyProcessLate, Errno.EBADF, "cgroup_css_set_fork (kernel/cgroup/cgroup.c)", "!fdget_raw(cgroup)",
            "the cgroup fd is not an open file descriptor", "5.7"),
        new(RuleId.E24, RulePhase.CopyProcessLate, Errno.EBADF, "cgroup_css_set_fork (kernel/cgroup/cgroup.c)", "fd is not a cgroup2 directory",
            "the cgroup fd must be a directory of the unified (v2) hierarchy; v1 directories and other files do not qualify", "5.7"),
        new(RuleId.E25, RulePhase.CopyProcessLate, Errno.ENOENT, "cgroup_css_set_fork (kernel/cgroup/cgroup.c)", "the cgroup was removed",
            "the target cgroup has been removed", "5.7"),
        new(RuleId.E26, RulePhase.CopyProcessLate, Errno.EACCES, "cgroup_may_write / cgroup_procs_write_permission (kernel/cgroup/cgroup.c)", "no write permission on cgroup.procs",
            "the caller may not write cgroup.procs of the target or of the common ancestor", "5.7"),
        new(RuleId.E27, RulePhase.CopyProcessLate, Errno.EOPNOTSUPP, "cgroup_migrate_vet_dst (kernel/cgroup/cgroup.c)", "!cgroup_is_valid_domain(dst->dom_cgrp)",
            "the target is an invalid domain (a 'domain invalid' cgroup in a threaded subtree) and cannot hold processes", "5.7"),
        new(RuleId.E28, RulePhase.CopyProcessLate, Errno.EBUSY, "cgroup_migrate_vet_dst (kernel/cgroup/cgroup.c)", "dst->subtree_control && !can_be_thread_root",
            "the target has domain controllers enabled for its children, and a cgroup with children controllers cannot hold processes (no-internal-process rule)", "5.7"),
        new(RuleId.E29, RulePhase.CopyProcessLate, Errno.EOPNOTSUPP, "cgroup_attach_permissions (kernel/cgroup/cgroup.c)", "CLONE_THREAD && src->dom_cgrp != dst->dom_cgrp",
            "a new thread can only be placed in a cgroup of its process's own domain", "5.7"),
        new(RuleId.E30, RulePhase.CopyProcessLate, Errno.EAGAIN, "pids_can_fork (kernel/cgroup/pids.c)", "pids.max reached",
            "the pids controller's limit (pids.max) is reached", "4.3"),
        new(RuleId.E31, RulePhase.CopyProcessLate, Errno.EINTR, "copy_process", "fatal_signal_pending(current)",
            "a fatal signal arrived while the child was being created", "2.6"),
    ];

    private static readonly CloneRule?[] Table = BuildTable();

    private static CloneRule?[] BuildTable()
    {
        var t = new CloneRule?[Enum.GetValues<RuleId>().Length];
        foreach (var r in AllRules)
        {
            t[(int)r.Id] = r;
        }
        return t;
    }
}
