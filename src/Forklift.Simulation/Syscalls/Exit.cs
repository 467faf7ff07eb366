using Forklift.Abi;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    /// <summary><c>exit(code)</c>: only the calling thread exits (SYSCALL_DEFINE1(exit) -> do_exit).</summary>
    public SysResult Exit(SimTask caller, int code)
    {
        Enter(caller);
        DoExit(caller, (code & 0xff) << 8);
        Settle();
        return SysResult.Success(0);
    }

    /// <summary><c>exit_group(code)</c>: every thread of the process exits (do_group_exit).</summary>
    public SysResult ExitGroup(SimTask caller, int code)
    {
        Enter(caller);
        DoGroupExit(caller, (code & 0xff) << 8);
        Settle();
        return SysResult.Success(0);
    }

    // do_group_exit: SIGNAL_GROUP_EXIT with the code, the other threads killed (zap_other_threads), then do_exit.
    internal void DoGroupExit(SimTask t, int status)
    {
        var g = t.Group;
        if (!g.GroupExit)
        {
            BeginGroupExit(g, status);
            KillOtherThreads(t, status);
        }
        DoExit(t, g.GroupExitCode);
    }

    // signal->flags = SIGNAL_GROUP_EXIT (do_group_exit, complete_signal, synchronize_group_exit): the assignment
    // drops the stop flags, so a stopped process that is being killed no longer counts as stopped (for
    // has_stopped_jobs, which decides the orphaned-group SIGHUP, and for WUNTRACED).
    private static void BeginGroupExit(ThreadGroup g, int code)
    {
        g.GroupExit = true;
        g.GroupExitCode = code;
        g.StopStopped = false;
        g.StopContinued = false;
        g.NotifyStop = 0;
    }

    private void KillOtherThreads(SimTask t, int status)
    {
        for (var o = t.Group.FirstThread; o is not null; o = o.NextThread)
        {
            if (o != t && !o.Exiting)
            {
                Defer(DeferredKind.Exit, o, status);
            }
        }
    }

    // do_exit (kernel/exit.c): release the resources, then exit_notify.
    internal void DoExit(SimTask t, int code)
    {
        if (t.Exiting)
        {
            return;
        }
        t.Exiting = true;
        t.Generation++;
        t.Program = null;
        if (t.Block is { } b)
        {
            if (b.Kind == BlockKind.Wait)
            {
                // Woken by the fatal signal inside do_wait, the task scans its children once more before it sees
                // the signal: a child that is reportable now is reaped (the result is never returned).
                t.Block = null;
                t.Group.Waiters--;
                WaitOnce(t, b.IdType, b.WaitPid, b.Options, b.Waitid, out _, out _);
            }
            t.Block = null;
        }
        var g = t.Group;
        bool groupDead = --g.Live == 0;
        t.ExitCode = code;
        // synchronize_group_exit (kernel/exit.c, 5.17+): the last thread to exit, with no group exit under way,
        // makes one with its own code, so a leader that exited first reports the last thread's status.
        if (groupDead && !g.GroupExit)
        {
            BeginGroupExit(g, code);
        }
        if (t.State is TaskState.VforkWait or TaskState.Stopped)
        {
            t.State = TaskState.Running;
        }
        // exit_mm -> exit_mm_release -> mm_release: CLONE_CHILD_CLEARTID and the vfork completion.
        MmRelease(t);
        t.Mm.Users--;
        // exit_sem, exit_files, exit_fs, exit_task_namespaces.
        ExitSem(t);
        if (--t.Files.Users == 0)
        {
            CloseAll(t.Files);
        }
        t.Fs.Users--;
        t.Sighand.Users--;
        PutNsProxy(t.Ns);
        t.Cgroup.Members--;
        if (Tracing)
        {
            Emit($"{Label(t)}: exit {DescribeStatus(code)}" + (groupDead ? "" : " (thread)"));
        }
        ExitNotify(t, groupDead);
    }

    internal static string DescribeStatus(int status) =>
        (status & 0x7f) == 0 ? $"code {(status >> 8) & 0xff}" : $"killed by {Signals.Name(status & 0x7f)}";

    // mm_release (kernel/fork.c), at exit and at exec: clear_child_tid is written (and futex-woken) only if the
    // address space has other users; the vfork parent is released.
    private void MmRelease(SimTask t)
    {
        if (t.ClearChildTid != 0)
        {
            if (t.Mm.Users > 1)
            {
                WriteUser(t.Mm, t.ClearChildTid, 0);
            }
            t.ClearChildTid = 0;
        }
        if (t.VforkParent is { } parent)
        {
            t.VforkParent = null;
            if (parent.State == TaskState.VforkWait)
            {
                // A thread released into a group stop that began while it waited stops on its way back to user
                // space (JOBCTL_STOP_PENDING, do_signal_stop): its call has returned, but nothing sees it until
                // the group is continued.
                parent.State = parent.Group.StopStopped ? TaskState.Stopped : TaskState.Running;
                if (Tracing)
                {
                    Emit($"{Label(parent)}: released from vfork by {Label(t)}");
                }
                // A parent that is being killed never returns from the call (it dies on its way out).
                if (!parent.Group.GroupExit)
                {
                    Completed(parent, "vfork", SysResult.Success(t.Pid.NrIn(parent.Pid.Ns)));
                }
                // Signals that arrived while it waited are delivered now.
                if ((parent.Group.Pending | parent.Pending) != 0)
                {
                    Defer(DeferredKind.Signal, parent, 0);
                }
                if (parent.Program is not null && parent.State == TaskState.Running)
                {
                    Schedule(parent, Now);
                }
            }
        }
    }

    // exit_notify (kernel/exit.c).
    private void ExitNotify(SimTask t, bool groupDead)
    {
        // forget_original_parent may have to wait for the namespace to empty (zap_pid_ns_processes).
        if (!ForgetOriginalParent(t))
        {
            return;
        }
        FinishExitNotify(t, groupDead);
    }

    private void FinishExitNotify(SimTask t, bool groupDead)
    {
        if (groupDead)
        {
            KillOrphanedPgrp(t.Group.Leader, null);
        }
        t.State = TaskState.Zombie;
        bool autoreap;
        if (t.IsLeader)
        {
            autoreap = ThreadGroupEmpty(t) && DoNotifyParent(t, t.ExitSignal);
        }
        else
        {
            autoreap = true;
        }
        // do_notify_pidfd: pidfd readers see the exit through PollPidfd, which reads the state set above.
        if (autoreap)
        {
            ReleaseTask(t);
        }
    }

    private static bool ThreadGroupEmpty(SimTask t) => t.Group.ThreadCount == 1;

    // do_notify_parent (kernel/signal.c): the exit signal to the parent (SIGCHLD if the parent exec'd since),
    // auto-reaping when the parent ignores SIGCHLD or set SA_NOCLDWAIT, and a wakeup of its waiters.
    private bool DoNotifyParent(SimTask tsk, int sig)
    {
        var parent = tsk.Parent!;
        bool autoreap = false;
        if (sig != Signals.SigChld && tsk.ParentExecId != parent.SelfExecId)
        {
            sig = Signals.SigChld;
        }
        var psig = parent.Sighand;
        if (sig == Signals.SigChld && (psig.Get(Signals.SigChld) == SignalAction.Ignore || psig.NoCldWait))
        {
            autoreap = true;
            if (psig.Get(Signals.SigChld) == SignalAction.Ignore)
            {
                sig = 0;
            }
        }
        if (sig is > 0 and <= Signals.Max)
        {
            SendSignal(tsk, parent, sig, force: false);
        }
        WakeParent(parent, tsk);
        return autoreap;
    }

    // __wake_up_parent(p, parent): the threads of the parent's process sleeping in a wait whose target matches p
    // retry (child_wait_callback -> eligible_pid: P_ALL takes every child, P_PID that process, P_PGID that
    // group); the others sleep on.
    private void WakeParent(SimTask parent, SimTask child)
    {
        if (parent.State == TaskState.Exiting && parent.Pid.Ns.ZapWaiter == parent)
        {
            Defer(DeferredKind.ZapDone, parent, 0);
        }
        var g = parent.Group;
        if (g.Waiters == 0)
        {
            return;
        }
        for (var t = g.FirstThread; t is not null; t = t.NextThread)
        {
            if (t.Block is { Kind: BlockKind.Wait } b && EligiblePid(b, child))
            {
                Defer(DeferredKind.Wake, t, 0);
            }
        }
    }

    private static bool EligiblePid(BlockedCall b, SimTask child) => b.IdType switch
    {
        WaitConst.PPid => b.WaitPid is { } pid && child.Group.Leader.Pid == pid,
        WaitConst.PPgid => b.WaitPid is { } pgrp && child.Group.Pgrp == pgrp,
        _ => true,
    };

    // forget_original_parent: the children of the exiting thread go to a live thread of its process, else the
    // nearest live subreaper in the same pid namespace, else the namespace's init; zombies among them are
    // notified to the new parent. Returns false when the exiting task is an init waiting for its namespace.
    private bool ForgetOriginalParent(SimTask father)
    {
        var reaper = FindChildReaper(father, out bool waiting);
        if (waiting)
        {
            return false;
        }
        if (father.FirstChild is null)
        {
            return true;
        }
        reaper = FindNewReaper(father, reaper);
        List<SimTask>? dead = null;
        for (var p = father.FirstChild; p is not null; p = p.NextSibling)
        {
            for (var t = p.Group.FirstThread; t is not null; t = t.NextThread)
            {
                t.RealParent = reaper;
                if (t.Parent == father)
                {
                    t.Parent = reaper;
                }
                if (t.PdeathSignal != 0)
                {
                    SendSignalToProcess(father, t, t.PdeathSignal);
                }
            }
            if (reaper.Group != father.Group)
            {
                // reparent_leader: the exit signal becomes SIGCHLD; a zombie is notified to the new parent.
                if (p.ExitSignal != -1)
                {
                    p.ExitSignal = Signals.SigChld;
                    if (p.State == TaskState.Zombie && ThreadGroupEmpty(p) && DoNotifyParent(p, p.ExitSignal))
                    {
                        (dead ??= new List<SimTask>()).Add(p);
                    }
                    KillOrphanedPgrp(p, father);
                }
            }
            if (Tracing)
            {
                Emit($"{Label(p)}: reparented from {Label(father)} to {Label(reaper)}");
            }
        }
        // list_splice_tail_init(&father->children, &reaper->children)
        var first = father.FirstChild;
        var last = father.LastChild!;
        father.FirstChild = father.LastChild = null;
        first.PrevSibling = reaper.LastChild;
        if (reaper.LastChild is null)
        {
            reaper.FirstChild = first;
        }
        else
        {
            reaper.LastChild.NextSibling = first;
        }
        reaper.LastChild = last;
        if (dead is not null)
        {
            foreach (var d in dead)
            {
                ReleaseTask(d);
            }
        }
        return true;
    }

    // find_child_reaper: if the exiting task is its namespace's reaper, another live thread takes over, or the
    // namespace is killed (zap_pid_ns_processes) and this task waits until it is empty.
    private SimTask FindChildReaper(SimTask father, out bool waiting)
    {
        waiting = false;
        var ns = father.Pid.Ns;
        var reaper = ns.ChildReaper;
        if (reaper != father)
        {
            return reaper ?? Init;
        }
        if (FindAliveThread(father) is { } alive)
        {
            ns.ChildReaper = alive;
            return alive;
        }
        if (ns == RootPidNs)
        {
            // The global init exiting panics the kernel ("Attempted to kill init!").
            throw new SimulationException("the global init exited: the kernel panics (\"Attempted to kill init!\")");
        }
        waiting = !ZapPidNs(father, ns);
        return father;
    }

    private static SimTask? FindAliveThread(SimTask p)
    {
        for (var t = p.Group.FirstThread; t is not null; t = t.NextThread)
        {
            if (!t.Exiting)
            {
                return t;
            }
        }
        return null;
    }

    // find_new_reaper.
    private static SimTask FindNewReaper(SimTask father, SimTask childReaper)
    {
        if (FindAliveThread(father) is { } thread)
        {
            return thread;
        }
        if (father.Group.HasChildSubreaper)
        {
            int level = father.Pid.Level;
            for (var r = father.RealParent; r is not null && r.Pid.Level == level; r = r.RealParent)
            {
                if (!r.Group.IsChildSubreaper)
                {
                    continue;
                }
                if (FindAliveThread(r) is { } t)
                {
                    return t;
                }
            }
        }
        return childReaper;
    }

    // zap_pid_ns_processes (kernel/pid_namespace.c): no new pids; SIGCHLD ignored so children autoreap;
    // SIGKILL to every process of the namespace (in pid order, numbers from 2); then the init reaps its children
    // (kernel_wait4(-1, __WALL)) until it has none, and waits until only its own pids remain (zombies whose
    // parents are outside the namespace must be reaped by them). True when done now.
    private bool ZapPidNs(SimTask init, PidNamespace ns)
    {
        ns.AcceptsPids = false;
        init.Sighand.Set(Signals.SigChld, SignalAction.Ignore);
        if (Tracing)
        {
            Emit($"{Label(init)}: init of pid namespace {ns} exits: killing the namespace");
        }
        foreach (var pid in ns.Pids())
        {
            if (pid.NrAtLevel(ns.Level) > 1 && pid.Task is { } task && !task.Exiting && !task.Group.GroupExit)
            {
                SendKill(task.Group.Leader);
            }
        }
        // The kills take effect now (SIGKILLs from the kernel, delivered before the init goes on); work queued
        // earlier for tasks outside the namespace happens concurrently on Linux and keeps its place here.
        RunDeferredIn(ns);
        ns.ZapWaiter = init;
        ns.ZapInitPids = init.IsLeader ? 1 : 2;
        init.State = TaskState.Exiting;
        return ZapProgress(init, ns);
    }

    private bool ZapProgress(SimTask init, PidNamespace ns)
    {
        while (true)
        {
            SimTask? zombie = null;
            for (var c = init.FirstChild; c is not null; c = c.NextSibling)
            {
                if (c.State == TaskState.Zombie && ThreadGroupEmpty(c))
                {
                    zombie = c;
                    break;
                }
            }
            if (zombie is null)
            {
                break;
            }
            if (Tracing)
            {
                Emit($"{Label(init)}: reaps {Label(zombie)} while its namespace dies");
            }
            ReapZombie(zombie);
        }
        if (init.FirstChild is not null || ns.Allocated > ns.ZapInitPids)
        {
            if (Tracing)
            {
                Emit($"{Label(init)}: waits for its namespace to empty ({ns.Allocated - ns.ZapInitPids} other pid(s) in use)");
            }
            return false;
        }
        ns.ZapWaiter = null;
        init.State = TaskState.Running;
        return true;
    }

    // A child of the dying init changed state, or a pid of its namespace was freed: it goes on if it can.
    private void ZapDone(SimTask init)
    {
        var ns = init.Pid.Ns;
        if (ns.ZapWaiter != init || init.State != TaskState.Exiting)
        {
            return;
        }
        if (ZapProgress(init, ns))
        {
            FinishExitNotify(init, init.Group.Live == 0);
        }
    }

    // release_task (kernel/exit.c): the task's pids are detached (and freed if unused), it leaves its parent's
    // children list; a zombie leader whose last thread this was is notified to its parent (delay_group_leader).
    private void ReleaseTask(SimTask p)
    {
        while (true)
        {
            p.Cred.Account.Tasks--;
            TaskCount--;
            var g = p.Group;
            var leader = g.Leader;
            p.State = TaskState.Reaped;
            p.Generation++;
            var pid = p.Pid;
            pid.Task = null;
            if (p == leader)
            {
                pid.TgidLeader = null;
                DetachPgrp(p, g.Pgrp);
                DetachSession(p, g.Session);
                if (p.RealParent is { } rp)
                {
                    RemoveChild(rp, p);
                }
                ProcessCount--;
            }
            UnlinkThread(g, p);
            MaybeFreePid(pid);
            if (Tracing && p == leader)
            {
                Emit($"{Label(p)}: released");
            }
            if (leader != p && ThreadGroupEmpty(leader) && leader.State == TaskState.Zombie)
            {
                if (DoNotifyParent(leader, leader.ExitSignal))
                {
                    p = leader;
                    continue;
                }
            }
            return;
        }
    }
}
