using Forklift.Abi;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    private const int Wait4Valid = WaitConst.WNohang | WaitConst.WUntraced | WaitConst.WContinued | WaitConst.WNothread | WaitConst.WClone | WaitConst.WAll;
    private const int WaitidValid = WaitConst.WNohang | WaitConst.WNowait | WaitConst.WExited | WaitConst.WStopped | WaitConst.WContinued | WaitConst.WNothread | WaitConst.WClone | WaitConst.WAll;

    /// <summary>
    /// <c>wait4(pid, &amp;status, options, NULL)</c>: pid &gt; 0 that child, 0 the caller's process group, -1 any
    /// child, &lt; -1 the group -pid. Returns the child's pid (0 with WNOHANG when none is ready), or blocks.
    /// </summary>
    public SysResult Wait4(SimTask caller, int pid, int options, out WaitInfo info)
    {
        Enter(caller);
        info = default;
        // SYSCALL_DEFINE4(wait4) -> kernel_wait4.
        if ((options & ~Wait4Valid) != 0)
        {
            return SysResult.Fail(Errno.EINVAL, "unknown wait4 option");
        }
        if (pid == int.MinValue)
        {
            return SysResult.Fail(Errno.ESRCH, "-INT_MIN is excluded");
        }
        int type;
        SimPid? target = null;
        var ns = caller.Pid.Ns;
        if (pid == -1)
        {
            type = WaitConst.PAll;
        }
        else if (pid < 0)
        {
            type = WaitConst.PPgid;
            target = ns.Find(-pid);
        }
        else if (pid == 0)
        {
            type = WaitConst.PPgid;
            target = caller.Group.Pgrp;
        }
        else
        {
            type = WaitConst.PPid;
            target = ns.Find(pid);
        }
        var r = DoWait(caller, type, target, options | WaitConst.WExited, waitid: false, nonblockPidfd: false, out info);
        Settle();
        return r;
    }

    /// <summary>
    /// <c>waitid(idtype, id, &amp;info, options, NULL)</c> with P_ALL, P_PID, P_PGID (id 0: the caller's group)
    /// or P_PIDFD. Returns 0; <paramref name="info"/> has pid 0 when WNOHANG found nothing.
    /// </summary>
    public SysResult Waitid(SimTask caller, int idType, int id, int options, out WaitInfo info)
    {
        Enter(caller);
        info = default;
        // kernel_waitid.
        if ((options & ~WaitidValid) != 0)
        {
            return SysResult.Fail(Errno.EINVAL, "unknown waitid option");
        }
        if ((options & (WaitConst.WExited | WaitConst.WStopped | WaitConst.WContinued)) == 0)
        {
            return SysResult.Fail(Errno.EINVAL, "waitid needs WEXITED, WSTOPPED or WCONTINUED");
        }
        SimPid? target = null;
        bool nonblock = false;
        var ns = caller.Pid.Ns;
        switch (idType)
        {
            case WaitConst.PAll:
                break;
            case WaitConst.PPid:
                if (id <= 0)
                {
                    return SysResult.Fail(Errno.EINVAL);
                }
                target = ns.Find(id);
                break;
            case WaitConst.PPgid:
                if (id < 0)
                {
                    return SysResult.Fail(Errno.EINVAL);
                }
                target = id == 0 ? caller.Group.Pgrp : ns.Find(id);
                break;
            case WaitConst.PPidfd:
                if (id < 0)
                {
                    return SysResult.Fail(Errno.EINVAL);
                }
                var f = caller.Files.Get(id);
                if (f is null || f.Kind != FileKind.Pidfd)
                {
                    return SysResult.Fail(Errno.EBADF, f is null ? null : "not a pidfd");
                }
                target = f.Pid;
                // kernel_waitid: a PIDFD_NONBLOCK pidfd implies WNOHANG, and "nothing yet" becomes EAGAIN
                // unless the caller asked for WNOHANG itself.
                nonblock = (f.Flags & SimConst.ONonblock) != 0 && (options & WaitConst.WNohang) == 0;
                if (nonblock)
                {
                    options |= WaitConst.WNohang;
                }
                idType = WaitConst.PPid;
                break;
            default:
                return SysResult.Fail(Errno.EINVAL, "unknown idtype");
        }
        var r = DoWait(caller, idType, target, options, waitid: true, nonblock, out info);
        Settle();
        return r;
    }

    // do_wait: every thread's children (unless __WNOTHREAD), then ECHILD, 0 for WNOHANG, or sleep.
    private SysResult DoWait(SimTask caller, int type, SimPid? target, int options, bool waitid, bool nonblockPidfd, out WaitInfo info)
    {
        var r = WaitOnce(caller, type, target, options, waitid, out info, out bool eligible);
        if (r.HasValue)
        {
            return r.Value;
        }
        if (!eligible)
        {
            return SysResult.Fail(Errno.ECHILD);
        }
        if ((options & WaitConst.WNohang) != 0)
        {
            // A pidfd opened with PIDFD_NONBLOCK turns "nothing yet" into EAGAIN unless WNOHANG was asked.
            return nonblockPidfd ? SysResult.Fail(Errno.EAGAIN) : SysResult.Success(0);
        }
        caller.Block = new BlockedCall { Kind = BlockKind.Wait, IdType = type, WaitPid = target, Options = options, Waitid = waitid };
        caller.Group.Waiters++;
        return SysResult.Block("no child ready");
    }

    // One pass of do_wait. Null when nothing is reportable; eligible says whether any child matched at all.
    private SysResult? WaitOnce(SimTask caller, int type, SimPid? target, int options, bool waitid, out WaitInfo info, out bool eligible)
    {
        info = default;
        eligible = false;
        if (type == WaitConst.PPid)
        {
            // do_wait_pid: the process with that pid, if it is a child of the caller (or of its process).
            var p = target?.TgidLeader;
            if (p is null || p.RealParent is null)
            {
                return null;
            }
            bool child = p.RealParent == caller || ((options & WaitConst.WNothread) == 0 && p.RealParent.Group == caller.Group);
            if (!child)
            {
                return null;
            }
            return WaitConsiderTask(caller, p, options, waitid, ref eligible, out info);
        }
        var t = caller;
        do
        {
            for (var p = t.FirstChild; p is not null; p = p.NextSibling)
            {
                if (type == WaitConst.PPgid && p.Group.Pgrp != target)
                {
                    continue;
                }
                var r = WaitConsiderTask(caller, p, options, waitid, ref eligible, out info);
                if (r.HasValue)
                {
                    return r;
                }
            }
            if ((options & WaitConst.WNothread) != 0)
            {
                break;
            }
            t = t.NextThread ?? t.Group.FirstThread!;
        }
        while (t != caller);
        return null;
    }

    // wait_consider_task (kernel/exit.c): eligible_child, then a zombie (unless a leader with live threads),
    // then a stopped child (WUNTRACED), then a continued one (WCONTINUED).
    private SysResult? WaitConsiderTask(SimTask caller, SimTask p, int options, bool waitid, ref bool eligible, out WaitInfo info)
    {
        info = default;
        if (p.State == TaskState.Reaped)
        {
            return null;
        }
        // eligible_child: __WALL takes every child; otherwise the exit signal decides (__WCLONE for non-SIGCHLD).
        if ((options & WaitConst.WAll) == 0 && ((p.ExitSignal != Signals.SigChld) ^ ((options & WaitConst.WClone) != 0)))
        {
            return null;
        }
        if (p.State == TaskState.Zombie)
        {
            if (ThreadGroupEmpty(p))
            {
                if ((options & WaitConst.WExited) == 0)
                {
                    eligible = true;
                    return null;
                }
                return WaitTaskZombie(caller, p, options, waitid, out info);
            }
            // A leader with live threads is not reaped yet (delay_group_leader), but it still counts as a
            // child to wait for ("likely(!ptrace) || ..." is always true without ptrace).
            eligible = true;
        }
        else
        {
            eligible = true;
        }
        var g = p.Group;
        // wait_task_stopped.
        if ((options & WaitConst.WUntraced) != 0 && g.StopStopped && g.GroupExitCode != 0)
        {
            int sig = g.GroupExitCode;
            if ((options & WaitConst.WNowait) == 0)
            {
                g.GroupExitCode = 0;
            }
            info = new WaitInfo
            {
                Pid = p.Pid.NrIn(caller.Pid.Ns), Status = (sig << 8) | 0x7f, Code = WaitConst.CldStopped, SiStatus = sig,
                Uid = (int)caller.Cred.UserNs.FromKuid(p.Cred.Uid),
            };
            return SysResult.Success(waitid ? 0 : info.Pid);
        }
        // wait_task_continued.
        if ((options & WaitConst.WContinued) != 0 && g.StopContinued)
        {
            if ((options & WaitConst.WNowait) == 0)
            {
                g.StopContinued = false;
            }
            info = new WaitInfo
            {
                Pid = p.Pid.NrIn(caller.Pid.Ns), Status = 0xffff, Code = WaitConst.CldContinued, SiStatus = 18,
                Uid = (int)caller.Cred.UserNs.FromKuid(p.Cred.Uid),
            };
            return SysResult.Success(waitid ? 0 : info.Pid);
        }
        return null;
    }

    // wait_task_zombie: report the status; unless WNOWAIT, reap (EXIT_DEAD and release_task).
    private SysResult WaitTaskZombie(SimTask caller, SimTask p, int options, bool waitid, out WaitInfo info)
    {
        int status = p.Group.GroupExit ? p.Group.GroupExitCode : p.ExitCode;
        int sig = status & 0x7f;
        info = new WaitInfo
        {
            Pid = p.Pid.NrIn(caller.Pid.Ns),
            Status = status,
            Code = sig == 0 ? WaitConst.CldExited : (status & 0x80) != 0 ? WaitConst.CldDumped : WaitConst.CldKilled,
            SiStatus = sig == 0 ? (status >> 8) & 0xff : sig,
            Uid = (int)caller.Cred.UserNs.FromKuid(p.Cred.Uid),
        };
        if ((options & WaitConst.WNowait) == 0)
        {
            if (Tracing)
            {
                Emit($"{Label(caller)}: reaps {Label(p)} ({DescribeStatus(status)})");
            }
            ReapZombie(p);
        }
        return SysResult.Success(waitid ? 0 : info.Pid);
    }

    private void ReapZombie(SimTask p)
    {
        p.State = TaskState.Reaped;
        ReleaseTask(p);
    }

    // A blocked task was woken: retry its call; if it completes, report it.
    private void RetryBlocked(SimTask t)
    {
        if (t.Block is not { Kind: BlockKind.Wait } b || t.State != TaskState.Running)
        {
            return;
        }
        var r = WaitOnce(t, b.IdType, b.WaitPid, b.Options, b.Waitid, out var info, out bool eligible);
        if (!r.HasValue && eligible)
        {
            return; // still nothing to report: keep sleeping
        }
        t.Block = null;
        t.Group.Waiters--;
        var result = r ?? SysResult.Fail(Errno.ECHILD);
        if (Tracing)
        {
            Emit($"{Label(t)}: {(b.Waitid ? "waitid" : "wait4")} returns {result}" + (info.Pid != 0 ? $" ({info.Describe()})" : ""));
        }
        Completed(t, b.Waitid ? "waitid" : "wait4", result, info);
        if (t.Program is { } run)
        {
            run.Resume(result, info);
            Schedule(t, Now);
        }
    }
}
