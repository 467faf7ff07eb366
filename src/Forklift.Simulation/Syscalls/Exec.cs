using Forklift.Abi;
using Forklift.Simulation.Programs;
using Forklift.Rules;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    /// <summary>
    /// <c>execve(path, argv, envp)</c> of a registered program (ENOENT otherwise), as begin_new_exec does it: the
    /// other threads die and the caller takes the process id (de_thread), a vfork parent is released and
    /// CLONE_CHILD_CLEARTID honoured (exec_mm_release), a new address space, handlers reset (ignored stay
    /// ignored), close-on-exec fds closed, the exit signal back to SIGCHLD, the time namespace for children
    /// entered, and the program started at the current virtual time.
    /// </summary>
    public SysResult Execve(SimTask caller, string path, IReadOnlyList<string>? argv = null)
    {
        Enter(caller);
        if (!Programs.TryGet(path, out var body))
        {
            return SysResult.Fail(Errno.ENOENT, $"no program registered at {path}");
        }
        DoExecve(caller, path, body, argv ?? [path]);
        Settle();
        return SysResult.Success(0);
    }

    private void DoExecve(SimTask t, string path, ProgramBody body, IReadOnlyList<string> argv)
    {
        DeThread(t);
        MmRelease(t);
        // exec_mmap: the old address space is dropped (other CLONE_VM users keep it).
        t.Mm.Users--;
        t.Mm = new AddressSpace();
        // unshare_sighand + flush_signal_handlers(me, 0).
        if (t.Sighand.Users > 1)
        {
            t.Sighand.Users--;
            t.Sighand = t.Sighand.Copy();
        }
        t.Sighand.ResetHandled();
        // unshare_files + do_close_on_exec.
        if (t.Files.Users > 1)
        {
            t.Files.Users--;
            t.Files = t.Files.Copy();
        }
        for (int fd = 0; fd < t.Files.Capacity; fd++)
        {
            if (t.Files.Get(fd) is not null && t.Files.IsCloexec(fd))
            {
                ReleaseFile(t.Files.Remove(fd)!);
            }
        }
        // de_thread: "we have changed execution domain".
        t.ExitSignal = Signals.SigChld;
        t.SelfExecId++;
        t.ForkNoExec = false;
        // exec_task_namespaces -> timens_on_fork: the time namespace for children becomes the task's own.
        if (t.Ns.Time != t.Ns.TimeForChildren)
        {
            var old = t.Ns;
            var p = new NsProxy
            {
                Mnt = old.Mnt, Uts = old.Uts, Ipc = old.Ipc, Cgroup = old.Cgroup, Net = old.Net, Time = old.TimeForChildren,
                TimeForChildren = old.TimeForChildren, PidForChildren = old.PidForChildren,
            };
            HoldNsProxy(p);
            PutNsProxy(old);
            t.Ns = p;
        }
        // cap_bprm_creds_from_file without file capabilities: root (uid 0 in its user namespace) gets every
        // capability, anyone else none.
        var c = t.Cred;
        ulong caps = c.UserNs.FromKuid(c.Euid) == 0 ? Capabilities.All : 0;
        if (caps != c.Caps)
        {
            t.Cred = new Creds(c.Uid, c.Euid, c.Suid, caps, c.UserNs, c.Account);
        }
        t.ProgramPath = path;
        t.Generation++;
        t.Program = new ProgramRun(this, t, body, argv);
        Schedule(t, Now);
        if (Tracing)
        {
            Emit($"{Label(t)}: execve {path}");
        }
    }

    // de_thread (fs/exec.c): every other thread is killed; a non-leader caller takes over the leader's pid, its
    // place in the parent's children list, and its process group and session, and the old leader is released.
    private void DeThread(SimTask t)
    {
        var g = t.Group;
        if (g.ThreadCount == 1)
        {
            return;
        }
        var others = new List<SimTask>();
        for (var o = g.FirstThread; o is not null; o = o.NextThread)
        {
            if (o != t)
            {
                others.Add(o);
            }
        }
        foreach (var o in others)
        {
            if (!o.Exiting)
            {
                DoExit(o, 9);
            }
        }
        var leader = g.Leader;
        if (leader == t)
        {
            return;
        }
        // exchange_tids + transfer_pid: the caller gets the process id; the old leader its tid.
        var leaderPid = leader.Pid;
        var ownPid = t.Pid;
        t.Pid = leaderPid;
        leaderPid.Task = t;
        leaderPid.TgidLeader = t;
        leader.Pid = ownPid;
        ownPid.Task = leader;
        DetachPgrpNoFree(leader, g.Pgrp);
        AttachPgrp(t, g.Pgrp);
        DetachSessionNoFree(leader, g.Session);
        AttachSession(t, g.Session);
        // list_replace_init(&leader->sibling, &tsk->sibling)
        var parent = leader.RealParent!;
        t.PrevSibling = leader.PrevSibling;
        t.NextSibling = leader.NextSibling;
        if (t.PrevSibling is null) { parent.FirstChild = t; } else { t.PrevSibling.NextSibling = t; }
        if (t.NextSibling is null) { parent.LastChild = t; } else { t.NextSibling.PrevSibling = t; }
        leader.PrevSibling = leader.NextSibling = null;
        g.Leader = t;
        t.StartTime = leader.StartTime;
        t.ParentExecId = leader.ParentExecId;
        leader.ExitSignal = -1;
        if (leader.Pid.Ns.ChildReaper == leader)
        {
            leader.Pid.Ns.ChildReaper = t;
        }
        if (t.Pid.Ns.ChildReaper == leader)
        {
            t.Pid.Ns.ChildReaper = t;
        }
        // release_task(leader), now an ordinary dead thread.
        leader.State = TaskState.Zombie;
        ReleaseTask(leader);
    }

    private static void DetachPgrpNoFree(SimTask leader, SimPid pgrp)
    {
        if (leader.PgrpPrev is null) { pgrp.PgrpHead = leader.PgrpNext; } else { leader.PgrpPrev.PgrpNext = leader.PgrpNext; }
        if (leader.PgrpNext is not null) { leader.PgrpNext.PgrpPrev = leader.PgrpPrev; }
        leader.PgrpNext = leader.PgrpPrev = null;
        pgrp.PgrpCount--;
    }

    private static void DetachSessionNoFree(SimTask leader, SimPid sid)
    {
        if (leader.SessionPrev is null) { sid.SessionHead = leader.SessionNext; } else { leader.SessionPrev.SessionNext = leader.SessionNext; }
        if (leader.SessionNext is not null) { leader.SessionNext.SessionPrev = leader.SessionPrev; }
        leader.SessionNext = leader.SessionPrev = null;
        sid.SessionCount--;
    }
}
