using Forklift.Abi;
using Forklift.Simulation.Programs;
using Forklift.Rules;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    private const int SigKill = 9, SigStop = 19, SigCont = 18, SigTstp = 20, SigTtin = 21, SigTtou = 22, SigHup = 1;
    private const int CapKill = 5;

    // sig_kernel_stop / sig_kernel_ignore / sig_kernel_coredump / sig_kernel_only (include/linux/signal.h).
    internal static readonly ulong StopMask = Bit(SigStop) | Bit(SigTstp) | Bit(SigTtin) | Bit(SigTtou);
    private static readonly ulong IgnoreMask = Bit(SigCont) | Bit(Signals.SigChld) | Bit(28) | Bit(23); // CONT CHLD WINCH URG
    private static readonly ulong CoredumpMask = Bit(3) | Bit(4) | Bit(5) | Bit(6) | Bit(7) | Bit(8) | Bit(11) | Bit(24) | Bit(25) | Bit(31);

    private static ulong Bit(int sig) => 1UL << (sig - 1);

    /// <summary>The default action of a signal: "term", "core", "stop", "cont" or "ign".</summary>
    public static string DefaultAction(int sig) =>
        sig == SigCont ? "cont" : (StopMask & Bit(sig)) != 0 ? "stop" : (IgnoreMask & Bit(sig)) != 0 ? "ign"
        : (CoredumpMask & Bit(sig)) != 0 ? "core" : "term";

    /// <summary><c>kill(pid, sig)</c> (kill_something_info): pid &gt; 0 a process (or thread id), 0 the caller's
    /// process group, -1 every process the caller may signal but its init and itself, &lt; -1 the group -pid.</summary>
    public SysResult Kill(SimTask caller, int pid, int sig)
    {
        Enter(caller);
        var r = DoKill(caller, pid, sig);
        Settle();
        return r;
    }

    private SysResult DoKill(SimTask caller, int pid, int sig)
    {
        var ns = caller.Pid.Ns;
        if (pid > 0)
        {
            var p = ns.Find(pid)?.Task;
            return p is null ? SysResult.Fail(Errno.ESRCH) : GroupSendSigInfo(caller, p, sig);
        }
        if (pid == int.MinValue)
        {
            return SysResult.Fail(Errno.ESRCH, "-INT_MIN is excluded");
        }
        if (pid != -1)
        {
            var pgrp = pid == 0 ? caller.Group.Pgrp : ns.Find(-pid);
            return pgrp is null ? SysResult.Fail(Errno.ESRCH) : KillPgrp(caller, pgrp, sig);
        }
        // kill(-1): every process visible with a pid > 1, except the caller's own.
        int count = 0;
        SysResult ret = SysResult.Success(0);
        foreach (var p in ns.Pids())
        {
            if (p.TgidLeader is { } t && p.NrIn(ns) > 1 && t.Group != caller.Group)
            {
                var e = GroupSendSigInfo(caller, t, sig);
                count++;
                if (e.Errno != Errno.EPERM)
                {
                    ret = e;
                }
            }
        }
        return count > 0 ? ret : SysResult.Fail(Errno.ESRCH);
    }

    // __kill_pgrp_info: success if any member was signalled, else the last error.
    private SysResult KillPgrp(SimTask caller, SimPid pgrp, int sig)
    {
        if (pgrp.PgrpHead is null)
        {
            return SysResult.Fail(Errno.ESRCH);
        }
        bool success = false;
        SysResult last = SysResult.Fail(Errno.ESRCH);
        var members = new List<SimTask>(pgrp.PgrpCount);
        for (var m = pgrp.PgrpHead; m is not null; m = m.PgrpNext)
        {
            members.Add(m);
        }
        foreach (var m in members)
        {
            last = GroupSendSigInfo(caller, m, sig);
            success |= last.Ok;
        }
        return success ? SysResult.Success(0) : last;
    }

    /// <summary><c>tgkill(tgid, tid, sig)</c> (do_tkill): the thread <paramref name="tid"/> of process <paramref name="tgid"/>.</summary>
    public SysResult Tgkill(SimTask caller, int tgid, int tid, int sig)
    {
        Enter(caller);
        if (tid <= 0 || tgid <= 0)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        var ns = caller.Pid.Ns;
        var p = ns.Find(tid)?.Task;
        if (p is null || p.Group.Leader.Pid.NrIn(ns) != tgid)
        {
            return SysResult.Fail(Errno.ESRCH);
        }
        var r = GroupSendSigInfo(caller, p, sig, threadDirected: true);
        Settle();
        return r;
    }

    /// <summary>
    /// <c>pidfd_send_signal(pidfd, sig, NULL, flags)</c>: flags 0 (the pidfd's own scope), PIDFD_SIGNAL_THREAD,
    /// _THREAD_GROUP or _PROCESS_GROUP. A non-NULL siginfo is not modelled.
    /// </summary>
    public SysResult PidfdSendSignal(SimTask caller, int pidfd, int sig, uint flags = 0, bool withInfo = false)
    {
        Enter(caller);
        const uint All = SimConst.PidfdSignalThread | SimConst.PidfdSignalThreadGroup | SimConst.PidfdSignalProcessGroup;
        if ((flags & ~All) != 0 || System.Numerics.BitOperations.PopCount(flags) > 1)
        {
            return SysResult.Fail(Errno.EINVAL, "unknown flags, or more than one scope");
        }
        var f = caller.Files.Get(pidfd);
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (f.Kind != FileKind.Pidfd)
        {
            return SysResult.Fail(Errno.EBADF, "not a pidfd");
        }
        var pid = f.Pid!;
        // access_pidfd_pidns: the target must be in the caller's pid namespace or a descendant.
        if (!pid.Ns.IsSameOrDescendantOf(caller.Pid.Ns))
        {
            return SysResult.Fail(Errno.EINVAL, "the pidfd's process is outside the caller's pid namespace");
        }
        if (withInfo)
        {
            return SysResult.NotModelled(ModelLimits.SigInfo);
        }
        SysResult r;
        if (flags == SimConst.PidfdSignalProcessGroup)
        {
            r = KillPgrp(caller, pid, sig);
        }
        else
        {
            // kill_pid_info_type: the task behind the pid (a zombie still counts; a reaped one is ESRCH). The
            // thread scope (PIDFD_SIGNAL_THREAD, or flags 0 on a PIDFD_THREAD pidfd) queues on the thread alone.
            var p = pid.Task;
            bool thread = flags == SimConst.PidfdSignalThread || (flags == 0 && (f.Flags & SimConst.PidfdThread) != 0);
            r = p is null ? SysResult.Fail(Errno.ESRCH) : GroupSendSigInfo(caller, p, sig, threadDirected: thread);
        }
        Settle();
        return r;
    }

    // group_send_sig_info -> check_kill_permission -> do_send_sig_info.
    private SysResult GroupSendSigInfo(SimTask caller, SimTask p, int sig, bool threadDirected = false)
    {
        if (sig < 0 || sig > Signals.Max)
        {
            return SysResult.Fail(Errno.EINVAL, "not a valid signal");
        }
        if (caller.Group != p.Group && !KillOkByCred(caller.Cred, p.Cred))
        {
            // SIGCONT within the same session is always allowed.
            if (!(sig == SigCont && p.Group.Session == caller.Group.Session))
            {
                return SysResult.Fail(Errno.EPERM, "the caller's uids match none of the target's, and it lacks CAP_KILL over the target's user namespace");
            }
        }
        if (sig == 0)
        {
            return SysResult.Success(0);
        }
        // A sender not visible in the target's pid namespace (an ancestor) forces SIGKILL/SIGSTOP on an init.
        bool force = caller.Group.Leader.Pid.NrIn(p.Pid.Ns) == 0;
        SendSignal(caller, p, sig, force, threadDirected);
        return SysResult.Success(0);
    }

    // kill_ok_by_cred (kernel/signal.c).
    private static bool KillOkByCred(Creds c, Creds t) =>
        c.Euid == t.Suid || c.Euid == t.Uid || c.Uid == t.Suid || c.Uid == t.Uid || c.Capable(t.UserNs, CapKill);

    // A signal from a task that is not the caller of a kill (SEND_SIG_NOINFO): forced when the sender is not
    // visible in the target's pid namespace.
    internal void SendSignalToProcess(SimTask sender, SimTask target, int sig)
    {
        bool force = sender.Group.Leader.Pid.NrIn(target.Pid.Ns) == 0;
        SendSignal(sender, target, sig, force);
    }

    // SIGKILL from the kernel (zap_pid_ns_processes).
    private void SendKill(SimTask target) => SendSignal(null, target, SigKill, force: true);

    // __send_signal_locked: prepare_signal, the pending set (the thread's own for a thread-directed signal, else the
    // process's shared one), complete_signal.
    internal void SendSignal(SimTask? sender, SimTask target, int sig, bool force, bool threadDirected = false)
    {
        var g = target.Group;
        // prepare_signal: a dying or dead process takes nothing.
        if (g.GroupExit || g.Live == 0)
        {
            return;
        }
        // prepare_signal flushes the opposite kind from the shared queue and from every thread's own.
        if ((StopMask & Bit(sig)) != 0)
        {
            FlushPending(g, Bit(SigCont));
        }
        else if (sig == SigCont)
        {
            FlushPending(g, StopMask);
            if (g.StopStopped)
            {
                // The group continues at once, whatever SIGCONT's disposition; the parent hears of it when the
                // process next runs (SIGNAL_CLD_CONTINUED).
                g.StopStopped = false;
                g.StopContinued = true;
                g.GroupExitCode = 0;
                g.NotifyStop = WaitConst.CldContinued;
                for (var t = g.FirstThread; t is not null; t = t.NextThread)
                {
                    if (t.State == TaskState.Stopped)
                    {
                        t.State = TaskState.Running;
                        if (t.Block is { Kind: BlockKind.Wait })
                        {
                            Defer(DeferredKind.Wake, t, 0);
                        }
                        if (t.Program is not null && t.Block is null)
                        {
                            Schedule(t, Now);
                        }
                    }
                }
                if (Tracing)
                {
                    Emit($"{Label(target)}: continued by SIGCONT");
                }
                Defer(DeferredKind.Signal, g.Leader, 0);
            }
        }
        if (threadDirected && target.Exiting)
        {
            // Queued on the thread alone, which will never dequeue it (complete_signal: wants_signal is false for
            // PF_EXITING, and a thread-directed signal looks no further); only prepare_signal's group-wide stop and
            // continue effects above happened.
            return;
        }
        if (SigIgnored(target, sig, force))
        {
            return;
        }
        // What was pending before this signal: in the shared queue, and for the target thread (task_sigpending).
        ulong sharedBefore = g.Pending, targetBefore = g.Pending | target.Pending;
        if (threadDirected)
        {
            target.Pending |= Bit(sig);
        }
        else
        {
            g.Pending |= Bit(sig);
        }
        if (Tracing)
        {
            Emit($"{Label(target)}: {Signals.Name(sig)}" + (sender is null ? " from the kernel" : $" from {Label(sender)}"));
        }
        // complete_signal: a fatal signal (default action terminate, not handled) kills the group at once, if
        // a thread wants it: wants_signal refuses a stopped task for anything but SIGKILL, so a stopped process
        // keeps the signal pending and dies of it only once continued.
        var action = target.Sighand.Get(sig);
        bool fatal = action == SignalAction.Default && ((StopMask | IgnoreMask) & Bit(sig)) == 0;
        // complete_signal asks the target thread first; for a thread-directed signal it looks no further
        // (PIDTYPE_PID), else it wakes the first thread that wants the signal, which then takes the shared queue
        // (a handler interrupts its call, not another thread's).
        var taker = Wants(target, sender, targetBefore) ? target
            : threadDirected ? null : FirstWanting(g, sender, sharedBefore);
        bool wanted = taker is not null;
        if (!threadDirected && taker is not null)
        {
            g.SharedTaker = taker;
        }
        if (fatal && (CoredumpMask & Bit(sig)) == 0 && (sig == SigKill || wanted))
        {
            BeginGroupExit(g, sig);
            FlushPending(g, ulong.MaxValue);
            for (var t = g.FirstThread; t is not null; t = t.NextThread)
            {
                if (!t.Exiting)
                {
                    Defer(DeferredKind.Exit, t, sig);
                }
            }
            return;
        }
        Defer(DeferredKind.Signal, g.Leader, 0);
    }

    // wants_signal (kernel/signal.c) for a fatal signal other than SIGKILL: a thread takes it unless it is exiting,
    // stopped, or asleep with a signal already pending (task_sigpending, and not running: only the sender runs).
    // A sleeping task with a pending signal has been woken by it already, and dies of the fatal one anyway; not
    // so a vfork parent (TASK_KILLABLE, woken only by SIGKILL), which keeps the signal until the vfork completes.
    private static SimTask? FirstWanting(ThreadGroup g, SimTask? sender, ulong pendingBefore)
    {
        for (var t = g.FirstThread; t is not null; t = t.NextThread)
        {
            if (Wants(t, sender, pendingBefore | t.Pending))
            {
                return t;
            }
        }
        return null;
    }

    // wants_signal for one thread; pendingBefore is what it had pending before this signal (task_sigpending).
    private static bool Wants(SimTask t, SimTask? sender, ulong pendingBefore) =>
        !t.Group.StopStopped && !t.Exiting && (t.State != TaskState.VforkWait || pendingBefore == 0 || t == sender);

    // flush_sigqueue_mask on the shared queue and on every thread's own.
    private static void FlushPending(ThreadGroup g, ulong mask)
    {
        g.Pending &= ~mask;
        for (var t = g.FirstThread; t is not null; t = t.NextThread)
        {
            t.Pending &= ~mask;
        }
    }

    /// <summary>What a process has pending: the shared queue and every thread's own (the union /proc shows).</summary>
    public static ulong PendingOf(ThreadGroup g)
    {
        ulong p = g.Pending;
        for (var t = g.FirstThread; t is not null; t = t.NextThread)
        {
            p |= t.Pending;
        }
        return p;
    }

    // sig_ignored / sig_task_ignored: an ignored disposition, or a default one that ignores; an init ignores
    // every default-action signal except SIGKILL/SIGSTOP sent from an ancestor namespace (force).
    private static bool SigIgnored(SimTask t, int sig, bool force)
    {
        var action = t.Sighand.Get(sig);
        if (t.Group.Unkillable && action == SignalAction.Default && !(force && (sig == SigKill || sig == SigStop)))
        {
            return true;
        }
        return action == SignalAction.Ignore || (action == SignalAction.Default && (IgnoreMask & Bit(sig)) != 0);
    }

    // get_signal for a process: signals are dequeued lowest first, a thread's own before the shared ones
    // (dequeue_signal); a stop signal stops the group; a core-dumping signal ends it (no core is written in the
    // model); a handler is called. The shared queue is served by the thread complete_signal woke for it (the
    // signal's target thread when it wants it: the leader for kill(pid), the parent thread for SIGCHLD), else by
    // the first live thread; a thread's own queue by that thread only; a vfork parent (TASK_KILLABLE) takes
    // nothing until it is released.
    private void DeliverPending(SimTask task)
    {
        var g = task.Group;
        if (g.GroupExit || g.Live == 0)
        {
            return;
        }
        // A woken thread that cannot run yet (in vfork) keeps the shared queue waiting: no other thread was woken.
        var first = g.SharedTaker is { Exiting: false, Alive: true } taker && taker.Group == g
            ? taker
            : FindAliveThread(g.Leader) ?? g.Leader;
        for (var t = g.FirstThread; t is not null && !g.StopStopped && !g.GroupExit; t = t.NextThread)
        {
            if (t.Exiting || t.State != TaskState.Running || (t != first && t.Pending == 0))
            {
                continue;
            }
            if (g.NotifyStop != 0)
            {
                int why = g.NotifyStop;
                g.NotifyStop = 0;
                NotifyParentCldStop(g.Leader, why);
            }
            DeliverTo(t, shared: t == first);
        }
    }

    private void DeliverTo(SimTask t, bool shared)
    {
        var g = t.Group;
        while (!g.StopStopped && !g.GroupExit)
        {
            int sig;
            if (t.Pending != 0)
            {
                sig = System.Numerics.BitOperations.TrailingZeroCount(t.Pending) + 1;
                t.Pending &= ~Bit(sig);
            }
            else if (shared && g.Pending != 0)
            {
                sig = System.Numerics.BitOperations.TrailingZeroCount(g.Pending) + 1;
                g.Pending &= ~Bit(sig);
            }
            else
            {
                return;
            }
            var action = t.Sighand.Get(sig);
            if (action == SignalAction.Ignore)
            {
                continue;
            }
            if (action == SignalAction.Handle)
            {
                (g.Delivered ??= new List<int>()).Add(sig);
                if (Tracing)
                {
                    Emit($"{Label(t)}: handles {Signals.Name(sig)}");
                }
                InterruptBlocked(t);
                if (t.Program is not null && t.Sighand.Callback(sig) is { } cb)
                {
                    cb(t.Program.Context, sig);
                }
                continue;
            }
            if ((IgnoreMask & Bit(sig)) != 0)
            {
                continue;
            }
            if ((StopMask & Bit(sig)) != 0)
            {
                // The terminal stop signals are discarded in an orphaned process group.
                if (sig != SigStop && IsPgrpOrphaned(g.Pgrp, null, GlobalInit))
                {
                    continue;
                }
                DoSignalStop(t, sig);
                return;
            }
            DoGroupExit(t, sig);
            return;
        }
    }

    // A handled signal interrupts a wait or a sleep (EINTR; SA_RESTART is not modelled). A woken do_wait scans
    // the children again before it looks at signals: a child to report (or none left, ECHILD) wins over EINTR.
    private void InterruptBlocked(SimTask t)
    {
        if (t.Block is not { } b)
        {
            return;
        }
        if (b.Kind == BlockKind.Wait)
        {
            var found = WaitOnce(t, b.IdType, b.WaitPid, b.Options, b.Waitid, out var info, out bool eligible);
            if (found.HasValue || !eligible)
            {
                t.Block = null;
                t.Group.Waiters--;
                var done = found ?? SysResult.Fail(Errno.ECHILD);
                Completed(t, b.Waitid ? "waitid" : "wait4", done, info);
                t.Program?.Resume(done, info);
                if (t.Program is not null)
                {
                    Schedule(t, Now);
                }
                return;
            }
        }
        if (b.Kind == BlockKind.Wait)
        {
            t.Group.Waiters--;
        }
        t.Block = null;
        t.Generation++;
        var r = SysResult.Fail(Errno.EINTR);
        Completed(t, b.Kind == BlockKind.Wait ? (b.Waitid ? "waitid" : "wait4") : b.Kind == BlockKind.Sleep ? "nanosleep" : "pause", r);
        t.Program?.Resume(r, default);
        if (t.Program is not null)
        {
            Schedule(t, Now);
        }
    }

    // do_signal_stop: the whole group stops; the parent is told (CLD_STOPPED).
    private void DoSignalStop(SimTask t, int sig)
    {
        var g = t.Group;
        g.StopStopped = true;
        g.StopContinued = false;
        g.GroupExitCode = sig;
        for (var th = g.FirstThread; th is not null; th = th.NextThread)
        {
            if (th.State == TaskState.Running && !th.Exiting)
            {
                th.State = TaskState.Stopped;
            }
        }
        if (Tracing)
        {
            Emit($"{Label(t)}: stopped by {Signals.Name(sig)}");
        }
        NotifyParentCldStop(g.Leader, WaitConst.CldStopped);
    }

    // do_notify_parent_cldstop: SIGCHLD to the real parent unless it set SA_NOCLDSTOP; its waiters wake.
    private void NotifyParentCldStop(SimTask leader, int why)
    {
        var parent = leader.RealParent;
        if (parent is null)
        {
            return;
        }
        if (Tracing)
        {
            Emit($"{Label(parent)}: told {(why == WaitConst.CldStopped ? "CLD_STOPPED" : "CLD_CONTINUED")} for {Label(leader)}");
        }
        if (!parent.Sighand.NoCldStop)
        {
            SendSignal(leader, parent, Signals.SigChld, force: false);
        }
        WakeParent(parent, leader);
    }

    // will_become_orphaned_pgrp (kernel/exit.c): no member has a parent in another group of the same session.
    // is_global_init's task: the model's init, unless it stands for a namespace's init (SimKernelOptions).
    private SimTask? GlobalInit => Options.InitInChildNamespace ? null : Init;

    private static bool IsPgrpOrphaned(SimPid pgrp, SimTask? ignored, SimTask? globalInit)
    {
        for (var p = pgrp.PgrpHead; p is not null; p = p.PgrpNext)
        {
            if (p == ignored || (p.State is TaskState.Zombie or TaskState.Reaped && p.Group.ThreadCount <= 1))
            {
                continue;
            }
            var rp = p.RealParent;
            if (rp is null || rp.Group == globalInit?.Group)
            {
                continue;
            }
            if (rp.Group.Pgrp != pgrp && rp.Group.Session == p.Group.Session)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// <c>rt_sigaction(sig, {handler})</c> for the three dispositions (a handler of a scripted task records the
    /// delivery); <paramref name="noCldStop"/>/<paramref name="noCldWait"/> are SA_NOCLDSTOP/SA_NOCLDWAIT.
    /// </summary>
    public SysResult Sigaction(SimTask caller, int sig, SignalAction action, bool noCldStop = false, bool noCldWait = false,
        Action<ProgramContext, int>? handler = null)
    {
        Enter(caller);
        // do_sigaction: SIGKILL and SIGSTOP cannot be changed at all.
        if (sig < 1 || sig > Signals.Max || sig == SigKill || sig == SigStop)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        var sh = caller.Sighand;
        sh.Set(sig, action, handler);
        if (sig == Signals.SigChld)
        {
            sh.NoCldStop = noCldStop;
            sh.NoCldWait = noCldWait;
        }
        // POSIX 3.3.1.3: a pending signal whose new action ignores it is discarded.
        if (action == SignalAction.Ignore || (action == SignalAction.Default && (IgnoreMask & Bit(sig)) != 0))
        {
            FlushPending(caller.Group, Bit(sig));
        }
        return SysResult.Success(0);
    }

    // kill_orphaned_pgrp (kernel/exit.c): a process group that becomes orphaned with stopped members gets
    // SIGHUP then SIGCONT.
    private void KillOrphanedPgrp(SimTask tsk, SimTask? parent)
    {
        var pgrp = tsk.Group.Pgrp;
        SimTask? ignored = tsk;
        if (parent is null)
        {
            parent = tsk.RealParent;
        }
        else
        {
            ignored = null;
        }
        if (parent is null || parent.Group.Pgrp == pgrp || parent.Group.Session != tsk.Group.Session)
        {
            return;
        }
        if (!IsPgrpOrphaned(pgrp, ignored, GlobalInit) || !HasStoppedJobs(pgrp))
        {
            return;
        }
        var members = new List<SimTask>();
        for (var m = pgrp.PgrpHead; m is not null; m = m.PgrpNext)
        {
            members.Add(m);
        }
        foreach (var m in members)
        {
            SendSignal(null, m, SigHup, force: true);
        }
        foreach (var m in members)
        {
            SendSignal(null, m, SigCont, force: true);
        }
    }

    private static bool HasStoppedJobs(SimPid pgrp)
    {
        for (var p = pgrp.PgrpHead; p is not null; p = p.PgrpNext)
        {
            if (p.Group.StopStopped)
            {
                return true;
            }
        }
        return false;
    }

}
