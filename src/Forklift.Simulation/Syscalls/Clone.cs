using System.Collections.Immutable;
using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    /// <summary><c>fork()</c>: <c>kernel_clone({.exit_signal = SIGCHLD})</c>.</summary>
    public SysResult Fork(SimTask caller) => Clone(caller, CloneCall.Fork(), out _);

    /// <summary><c>fork()</c>, returning the child task too.</summary>
    public SysResult Fork(SimTask caller, out SimTask? child) => Clone(caller, CloneCall.Fork(), out child);

    /// <summary><c>vfork()</c>: the caller sleeps until the child execs or exits.</summary>
    public SysResult Vfork(SimTask caller, out SimTask? child) => Clone(caller, CloneCall.Vfork(), out child);

    /// <summary>Legacy <c>clone(flags, newsp, parent_tid, child_tid, tls)</c>.</summary>
    public SysResult CloneLegacy(SimTask caller, LegacyCloneRegisters registers, out SimTask? child) =>
        Clone(caller, CloneCall.Legacy(registers), out child);

    /// <summary><c>clone3(args, sizeof args)</c> from homogenized args.</summary>
    public SysResult Clone3(SimTask caller, CloneArgs args, out SimTask? child) => Clone(caller, CloneCall.Clone3(args), out child);

    /// <summary>
    /// <c>clone3</c> from the raw <c>struct clone_args</c> bytes (the byte count is the size argument), decoded
    /// as copy_clone_args_from_user does. The set_tid array is read from the caller's memory at <c>set_tid</c>.
    /// </summary>
    public SysResult Clone3(SimTask caller, ReadOnlySpan<byte> structBytes, out SimTask? child)
    {
        child = null;
        var errno = Clone3Struct.Decode(structBytes, out var args);
        if (errno != Errno.None)
        {
            Enter(caller);
            return SysResult.Fail(errno, errno == Errno.E2BIG ? "clone_args larger than a page, or non-zero bytes past this kernel's struct" : "clone_args smaller than CLONE_ARGS_SIZE_VER0");
        }
        args = args with { SetTidValues = ReadSetTid(caller.Mm, args) };
        var call = CloneCall.Clone3(args, (ulong)structBytes.Length);
        return Clone(caller, call, out child);
    }

    private static ImmutableArray<int> ReadSetTid(AddressSpace mm, in CloneArgs args)
    {
        if (args.SetTid == 0 || args.SetTidSize is 0 or > CloneRules.MaxPidNsLevel)
        {
            return ImmutableArray<int>.Empty;
        }
        var b = ImmutableArray.CreateBuilder<int>((int)args.SetTidSize);
        for (ulong i = 0; i < args.SetTidSize; i++)
        {
            b.Add(mm.Read(args.SetTid + 4 * i));
        }
        return b.MoveToImmutable();
    }

    /// <summary>
    /// Any clone request (clone3, clone, fork, vfork, clone6): evaluated by <see cref="CloneRules.Evaluate"/>
    /// against the caller's derived <see cref="CallerContext"/>, then carried out per
    /// <see cref="CloneEffects.Of"/> as copy_process and kernel_clone do. Returns the child's pid as the caller's
    /// pid namespace sees it; with <c>CLONE_VFORK</c> the caller is left waiting (<see cref="TaskState.VforkWait"/>).
    /// </summary>
    public SysResult Clone(SimTask caller, in CloneCall call, out SimTask? child)
    {
        Enter(caller);
        var r = DoClone(caller, call, out child);
        Settle();
        return r;
    }

    private CallerContext? _memoContext;
    private CloneCall _memoCall;
    private CloneVerdict _memoVerdict;

    private SysResult DoClone(SimTask caller, in CloneCall call, out SimTask? child)
    {
        child = null;
        var flags = call.Args.Flags;
        int mode = PidNsMode(caller);
        CallerContext ctx;
        CloneVerdict verdict;
        CgroupTarget cgroupTarget = (flags & CloneFlags.IntoCgroup) != 0 ? CgroupTargetOf(caller, call.Args.Cgroup) : default;
        if (mode != 2)
        {
            ctx = ContextOf(caller, caller.Ns.PidForChildren, mode == 1);
            // Evaluate is pure in (call, context, cgroup); without set_tid (whose checks read the live pid sets)
            // and without a cgroup target, the same request from the same cached context has the same answer.
            bool memoizable = (flags & CloneFlags.IntoCgroup) == 0 && call.Args.SetTidSize == 0;
            if (memoizable && ReferenceEquals(ctx, _memoContext) && call.Equals(_memoCall))
            {
                verdict = _memoVerdict;
            }
            else
            {
                verdict = CloneRules.Evaluate(call, ctx, cgroupTarget);
                if (memoizable)
                {
                    _memoContext = ctx;
                    _memoCall = call;
                    _memoVerdict = verdict;
                }
            }
        }
        else
        {
            // pid_ns_for_children is neither the active namespace nor a fresh unshared one (setns, or an
            // unshared namespace whose init exists): the context is taken as if the caller lived there, and the
            // two rules that look at the difference (R-D6, R-E11) are placed at their positions in the order.
            ctx = ContextOf(caller, caller.Ns.PidForChildren, false);
            verdict = CloneRules.Evaluate(call, ctx, cgroupTarget);
            verdict = Overlay(verdict, call, ctx, cgroupTarget);
        }
        if (!verdict.Allowed)
        {
            if (Tracing)
            {
                Emit($"{Label(caller)}: clone refused by {verdict.Rule!.Name}: {verdict.Explain()}");
            }
            if (AfterAllocPid(verdict.Rule!.Id))
            {
                MoveCursorsPastFailedAlloc(caller.Ns.PidForChildren, call.Args, (flags & CloneFlags.NewPid) != 0);
            }
            return SysResult.Fail(verdict.Errno, $"{verdict.Rule!.Name}: {verdict.Explain()}");
        }
        if ((flags & CloneFlags.IntoCgroup) != 0 && (flags & CloneFlags.Thread) != 0)
        {
            return SysResult.NotModelled(ModelLimits.ThreadedCgroups);
        }
        var fx = CloneEffects.Of(call, ctx);
        child = CopyProcess(caller, call, fx);
        int nr = child.Pid.NrIn(caller.Pid.Ns);
        return SysResult.Success(nr);
    }

    // The refusals that come after alloc_pid took a number at every level (its PIDNS_ADDING check, the pidfd, the
    // cgroup and pids checks, a fatal signal): copy_process frees the numbers, but idr_alloc_cyclic has moved
    // each namespace's cursor past them, so the next process there gets a higher pid. (The differential test
    // against Linux found this: two refused clones into a namespace whose init had died moved the next pid by 2.)
    private static bool AfterAllocPid(RuleId id) => id is RuleId.E20 or RuleId.E22a or RuleId.E22 or RuleId.E23 or RuleId.E24
        or RuleId.E25 or RuleId.E26 or RuleId.E27 or RuleId.E28 or RuleId.E29 or RuleId.E30 or RuleId.E31;

    // alloc_pid's loop, deepest namespace first: levels named by set_tid use idr_alloc (no cursor), the others
    // idr_alloc_cyclic. With CLONE_NEWPID the deepest level is the new namespace, which the failure discards.
    private static void MoveCursorsPastFailedAlloc(PidNamespace forChildren, in CloneArgs a, bool newPid)
    {
        int named = a.SetTid == 0 ? 0 : (int)Math.Min(a.SetTidSize, CloneRules.MaxPidNsLevel);
        int level = newPid ? 1 : 0;
        for (var n = forChildren; n is not null; n = n.Parent, level++)
        {
            if (level >= named)
            {
                n.AllocCyclic();
            }
        }
    }

    private static CloneVerdict Overlay(CloneVerdict asIf, in CloneCall call, CallerContext ctx, in CgroupTarget cg)
    {
        var all = CloneRules.All;
        int Pos(CloneRule? r) => r is null ? int.MaxValue : IndexOf(all, r);
        int best = Pos(asIf.Rule);
        CloneRule? rule = asIf.Rule;
        var f = call.Args.Flags;
        if ((f & CloneFlags.Thread) != 0)
        {
            var d6 = CloneRules.Get(RuleId.D6);
            if (Pos(d6) < best)
            {
                best = Pos(d6);
                rule = d6;
            }
        }
        if ((f & CloneFlags.NewPid) != 0)
        {
            var e11 = CloneRules.Get(RuleId.E11);
            if (Pos(e11) < best)
            {
                best = Pos(e11);
                rule = e11;
            }
        }
        if (rule == asIf.Rule)
        {
            return asIf;
        }
        // Re-evaluate with a context that makes the chosen rule fire, so the verdict carries it.
        var forced = ctx with { PidNsForChildrenUnshared = true };
        var v = CloneRules.Evaluate(call, forced, cg);
        return v.Rule == rule ? v : asIf;
    }

    private static int IndexOf(IReadOnlyList<CloneRule> all, CloneRule r)
    {
        for (int i = 0; i < all.Count; i++)
        {
            if (all[i] == r)
            {
                return i;
            }
        }
        return int.MaxValue;
    }

    // cgroup_css_set_fork's view of the CLONE_INTO_CGROUP fd (fdget_raw, then the cgroup checks).
    private CgroupTarget CgroupTargetOf(SimTask caller, ulong fd)
    {
        var f = fd <= int.MaxValue ? caller.Files.Get((int)fd) : null;
        if (f is null)
        {
            return CgroupTarget.Of(CgroupTargetKind.NotOpen);
        }
        if (f.Kind != FileKind.CgroupDir || f.Cgroup is null)
        {
            return CgroupTarget.Of(CgroupTargetKind.NotCgroup);
        }
        var kind = f.Cgroup.Removed ? CgroupTargetKind.Removed : CgroupTargetKind.Domain;
        // cgroup_procs_write_permission: root (CAP_DAC_OVERRIDE in the initial user namespace) may always write.
        const int CapDacOverride = 1;
        bool writable = caller.Cred.Capable(RootUserNs, CapDacOverride) || caller.Cred.Euid == 0;
        return new CgroupTarget { Kind = kind, Writable = writable, SameDomainAsCaller = f.Cgroup == caller.Cgroup, Path = f.Cgroup.Path };
    }

    // copy_process + the tail of kernel_clone, for a request the rules allowed.
    private SimTask CopyProcess(SimTask current, in CloneCall call, in CloneEffects fx)
    {
        var a = call.Args;
        var f = a.Flags;
        bool thread = (f & CloneFlags.Thread) != 0;
        var p = new SimTask(++_serial) { StartTime = Now, ForkNoExec = true };

        // copy_creds: shared unless a new user namespace is created, in which the child holds every capability.
        if ((f & CloneFlags.NewUser) != 0)
        {
            var userNs = CreateUserNs(current.Cred.UserNs, current.Cred.Euid);
            p.Cred = NewCreds(current.Cred.Uid, current.Cred.Euid, current.Cred.Suid, Capabilities.All, userNs);
        }
        else
        {
            p.Cred = current.Cred;
        }
        p.Cred.Account.Tasks++;

        // copy_semundo: CLONE_SYSVSEM shares the caller's undo list (creating it if needed); otherwise none.
        if (fx.SysvSemUndo == Effect.Shared)
        {
            current.SemUndo ??= new SysvSemUndo();
            current.SemUndo.Users++;
            p.SemUndo = current.SemUndo;
        }

        // copy_files, copy_fs, copy_sighand, copy_mm.
        if (fx.FdTable == Effect.Shared)
        {
            current.Files.Users++;
            p.Files = current.Files;
        }
        else
        {
            p.Files = current.Files.Copy();
        }
        if (fx.FsInfo == Effect.Shared)
        {
            current.Fs.Users++;
            p.Fs = current.Fs;
        }
        else
        {
            p.Fs = current.Fs.Copy();
        }
        if (fx.SignalHandlers == Effect.Shared)
        {
            current.Sighand.Users++;
            p.Sighand = current.Sighand;
        }
        else
        {
            p.Sighand = current.Sighand.Copy();
            if (fx.SignalHandlers == Effect.Reset)
            {
                p.Sighand.ResetHandled();
            }
        }
        if (fx.AddressSpace == Effect.Shared)
        {
            current.Mm.Users++;
            p.Mm = current.Mm;
        }
        else
        {
            p.Mm = current.Mm.Copy();
        }

        // copy_namespaces (kernel/nsproxy.c): shared nsproxy unless a namespace is created, or the caller's
        // time namespace for children differs and the child gets its own address space (timens_on_fork).
        const CloneFlags NsFlags = CloneFlags.NewNs | CloneFlags.NewUts | CloneFlags.NewIpc | CloneFlags.NewPid
            | CloneFlags.NewCgroup | CloneFlags.NewNet | CloneFlags.NewTime;
        var old = current.Ns;
        if ((f & NsFlags) == 0 && ((f & CloneFlags.Vm) != 0 || old.TimeForChildren == old.Time))
        {
            old.Users++;
            p.Ns = old;
        }
        else
        {
            p.Ns = CreateNsProxy(old, f, p.Cred.UserNs, current.Cred.Euid, (f & CloneFlags.Vm) == 0);
        }

        // alloc_pid in pid_ns_for_children, with set_tid.
        ReadOnlySpan<int> setTid = a.SetTidValues.IsDefault ? default : a.SetTidValues.AsSpan();
        if ((ulong)setTid.Length > a.SetTidSize)
        {
            setTid = setTid[..(int)a.SetTidSize];
        }
        var pid = AllocPid(p.Ns.PidForChildren, setTid)
            ?? throw new InvalidOperationException("pid allocation failed after the rules allowed it");
        p.Pid = pid;
        pid.Task = p;

        // CLONE_PIDFD: a pidfd in the caller's table (O_RDWR|O_CLOEXEC), its number stored at args->pidfd.
        if (fx.Pidfd == Effect.Written)
        {
            var pf = new OpenFile(FileKind.Pidfd, "anon_inode:[pidfd]", thread ? SimConst.PidfdThread : 0) { Pid = pid };
            int fd = current.Files.Install(pf, cloexec: true, current.Group.RlimitNofile);
            WriteUser(current.Mm, a.Pidfd, fd);
        }

        // copy_thread: the stack and the thread pointer.
        p.StackPointer = a.Stack == 0 ? 0 : call.HasStruct ? a.Stack + a.StackSize : a.Stack;
        p.Tls = (f & CloneFlags.SetTls) != 0 ? a.Tls : current.Tls;
        p.ClearChildTid = (f & CloneFlags.ChildClearTid) != 0 ? a.ChildTid : 0;

        // dup_task_struct copies self_exec_id: a child (a thread above all) counts the caller's execs, so the
        // exit signal of a child made before a thread was created still reaches that thread (do_notify_parent
        // compares parent_exec_id with the parent thread's self_exec_id).
        p.SelfExecId = current.SelfExecId;

        // The parent: CLONE_PARENT and CLONE_THREAD make the child a sibling of the caller.
        if ((f & (CloneFlags.Parent | CloneFlags.Thread)) != 0)
        {
            p.RealParent = current.RealParent;
            p.ParentExecId = current.ParentExecId;
            p.ExitSignal = thread ? -1 : current.Group.Leader.ExitSignal;
        }
        else
        {
            p.RealParent = current;
            p.ParentExecId = current.SelfExecId;
            p.ExitSignal = a.ExitSignalNumber;
        }
        p.Parent = p.RealParent;

        // cgroup: the caller's, or the CLONE_INTO_CGROUP target.
        p.Cgroup = (f & CloneFlags.IntoCgroup) != 0 ? current.Files.Get((int)a.Cgroup)!.Cgroup! : current.Cgroup;
        p.Cgroup.Members++;

        // The thread group (copy_signal), and the links made under tasklist_lock.
        if (thread)
        {
            var g = current.Group;
            p.Group = g;
            LinkThread(g, p);
            g.Live++;
        }
        else
        {
            var cg = current.Group;
            var g = new ThreadGroup(p)
            {
                RlimitNproc = cg.RlimitNproc,
                RlimitNofile = cg.RlimitNofile,
                HasChildSubreaper = p.RealParent is { } rp && (rp.Group.HasChildSubreaper || rp.Group.IsChildSubreaper),
                Pgrp = cg.Pgrp,
                Session = cg.Session,
                Live = 1,
            };
            p.Group = g;
            LinkThread(g, p);
            pid.TgidLeader = p;
            AttachPgrp(p, g.Pgrp);
            AttachSession(p, g.Session);
            AddChild(p.RealParent!, p);
            ProcessCount++;
            // is_child_reaper: pid 1 of its namespace becomes the namespace's init (SIGNAL_UNKILLABLE).
            if (pid.Nr == 1)
            {
                pid.Ns.ChildReaper = p;
                g.Unkillable = true;
            }
        }
        TaskCount++;

        // CLONE_PARENT_SETTID: the child's tid as the caller sees it, in the caller's memory (kernel_clone).
        if (fx.ParentTid == Effect.Written)
        {
            WriteUser(current.Mm, a.ParentTid, pid.NrIn(current.Pid.Ns));
        }
        // CLONE_CHILD_SETTID: written by the child when it first runs (schedule_tail), its own view of its tid.
        if (fx.ChildSetTid == Effect.Written)
        {
            WriteUser(p.Mm, a.ChildTid, pid.Nr);
        }
        if (Tracing)
        {
            Emit($"{Label(current)}: created {(thread ? "thread" : "process")} {Label(p)}" + (pid.Level > 0 ? $" (pid {pid.Nr} at level {pid.Level})" : ""));
        }
        // CLONE_VFORK: the caller waits for the child's exec or exit (wait_for_vfork_done).
        if (fx.VforkWait)
        {
            p.VforkParent = current;
            current.State = TaskState.VforkWait;
        }
        return p;
    }

    // put_user of an int: the model writes only to mapped addresses (faults are ignored after the point of no
    // return, as the kernel ignores them for the tid writes).
    private static void WriteUser(AddressSpace mm, ulong address, int value)
    {
        if (UserPointer.Classify(address) == PointerState.Valid)
        {
            mm.Write(address, value);
        }
    }

    // create_new_namespaces: copies of the caller's nsproxy with the requested namespaces new, owned by the
    // child's user namespace and charged to the caller's euid.
    private NsProxy CreateNsProxy(NsProxy old, CloneFlags f, SimUserNs owner, uint kuid, bool enterTimeNow)
    {
        SimNamespace Pick(CloneFlags flag, SimNamespace cur, NamespaceType type) =>
            (f & flag) != 0 ? CreateNamespace(type, owner, kuid) : cur;
        var mnt = Pick(CloneFlags.NewNs, old.Mnt, NamespaceType.Mnt);
        var uts = Pick(CloneFlags.NewUts, old.Uts, NamespaceType.Uts);
        var ipc = Pick(CloneFlags.NewIpc, old.Ipc, NamespaceType.Ipc);
        var pidNs = (f & CloneFlags.NewPid) != 0
            ? (PidNamespace)CreateNamespace(NamespaceType.Pid, owner, kuid, old.PidForChildren)
            : old.PidForChildren;
        var cgroup = Pick(CloneFlags.NewCgroup, old.Cgroup, NamespaceType.Cgroup);
        var net = Pick(CloneFlags.NewNet, old.Net, NamespaceType.Net);
        var timeForChildren = Pick(CloneFlags.NewTime, old.TimeForChildren, NamespaceType.Time);
        // timens_on_fork: without CLONE_VM the child enters the time namespace for children at once; with it,
        // at its first execve.
        var time = enterTimeNow ? timeForChildren : old.Time;
        var p = new NsProxy
        {
            Mnt = mnt, Uts = uts, Ipc = ipc, Cgroup = cgroup, Net = net, Time = time,
            TimeForChildren = timeForChildren, PidForChildren = pidNs,
        };
        HoldNsProxy(p);
        return p;
    }
}
