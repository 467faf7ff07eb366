using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    private const int CapSetuid = 7, CapSysChroot = 18, CapSysAdmin = 21, CapSysResource = 24;

    /// <summary><c>getpid()</c>: the process id in the caller's pid namespace.</summary>
    public SysResult Getpid(SimTask caller) { Enter(caller); return SysResult.Success(caller.Group.Leader.Pid.NrIn(caller.Pid.Ns)); }

    /// <summary><c>gettid()</c>: the thread id in the caller's pid namespace.</summary>
    public SysResult Gettid(SimTask caller) { Enter(caller); return SysResult.Success(caller.Pid.Nr); }

    /// <summary><c>getppid()</c>: the real parent's process id in the caller's namespace; 0 when it is outside.</summary>
    public SysResult Getppid(SimTask caller)
    {
        Enter(caller);
        var rp = caller.RealParent;
        return SysResult.Success(rp is null ? 0 : rp.Group.Leader.Pid.NrIn(caller.Pid.Ns));
    }

    /// <summary><c>getpgid(pid)</c> (0: the caller).</summary>
    public SysResult Getpgid(SimTask caller, int pid)
    {
        Enter(caller);
        var p = pid == 0 ? caller : caller.Pid.Ns.Find(pid)?.Task;
        return p is null ? SysResult.Fail(Errno.ESRCH) : SysResult.Success(p.Group.Pgrp.NrIn(caller.Pid.Ns));
    }

    /// <summary><c>getsid(pid)</c> (0: the caller).</summary>
    public SysResult Getsid(SimTask caller, int pid)
    {
        Enter(caller);
        var p = pid == 0 ? caller : caller.Pid.Ns.Find(pid)?.Task;
        return p is null ? SysResult.Fail(Errno.ESRCH) : SysResult.Success(p.Group.Session.NrIn(caller.Pid.Ns));
    }

    /// <summary><c>setsid()</c> (ksys_setsid): EPERM for a process-group leader's id in use.</summary>
    public SysResult Setsid(SimTask caller)
    {
        Enter(caller);
        var g = caller.Group;
        var leader = g.Leader;
        var sid = leader.Pid;
        // Fail if the caller is a session leader already, or a process group with its id exists.
        if (g.SessionLeader || sid.PgrpHead is not null)
        {
            return SysResult.Fail(Errno.EPERM, "the process id is already a process group or session id");
        }
        g.SessionLeader = true;
        DetachPgrp(leader, g.Pgrp);
        DetachSession(leader, g.Session);
        g.Pgrp = sid;
        g.Session = sid;
        AttachPgrp(leader, sid);
        AttachSession(leader, sid);
        return SysResult.Success(sid.NrIn(caller.Pid.Ns));
    }

    /// <summary><c>setpgid(pid, pgid)</c> (SYSCALL_DEFINE2(setpgid) in kernel/sys.c).</summary>
    public SysResult Setpgid(SimTask caller, int pid, int pgid)
    {
        Enter(caller);
        var ns = caller.Pid.Ns;
        var groupLeader = caller.Group.Leader;
        if (pid == 0)
        {
            pid = groupLeader.Pid.NrIn(ns);
        }
        if (pgid == 0)
        {
            pgid = pid;
        }
        if (pgid < 0)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        var p = ns.Find(pid)?.Task;
        if (p is null)
        {
            return SysResult.Fail(Errno.ESRCH);
        }
        if (!p.IsLeader)
        {
            return SysResult.Fail(Errno.EINVAL, "not a thread-group leader");
        }
        if (p.RealParent is { } rp && rp.Group == caller.Group)
        {
            if (p.Group.Session != caller.Group.Session)
            {
                return SysResult.Fail(Errno.EPERM, "the child is in another session");
            }
            if (!p.ForkNoExec)
            {
                return SysResult.Fail(Errno.EACCES, "the child has called execve");
            }
        }
        else if (p != groupLeader)
        {
            return SysResult.Fail(Errno.ESRCH, "neither the caller nor one of its children");
        }
        if (p.Group.SessionLeader)
        {
            return SysResult.Fail(Errno.EPERM, "a session leader cannot change its process group");
        }
        var pgrp = p.Pid;
        if (pgid != pid)
        {
            pgrp = ns.Find(pgid)!;
            if (pgrp?.PgrpHead is not { } g || g.Group.Session != caller.Group.Session)
            {
                return SysResult.Fail(Errno.EPERM, "no process group with that id in the caller's session");
            }
        }
        if (p.Group.Pgrp != pgrp)
        {
            // change_pid(p, PIDTYPE_PGID, pgrp): off the old group's list, then onto the new one (the list links
            // are the task's own, so the order matters).
            var old = p.Group.Pgrp;
            DetachPgrp(p, old);
            p.Group.Pgrp = pgrp;
            AttachPgrp(p, pgrp);
        }
        return SysResult.Success(0);
    }

    /// <summary>
    /// <c>prctl(option, arg2)</c> for PR_SET/GET_CHILD_SUBREAPER and PR_SET/GET_PDEATHSIG; other options EINVAL.
    /// </summary>
    public SysResult Prctl(SimTask caller, int option, long arg2 = 0)
    {
        Enter(caller);
        switch (option)
        {
            case SimConst.PrSetPdeathsig:
                if (arg2 < 0 || arg2 > Signals.Max)
                {
                    return SysResult.Fail(Errno.EINVAL);
                }
                caller.PdeathSignal = (int)arg2;
                return SysResult.Success(0);
            case SimConst.PrGetPdeathsig:
                return SysResult.Success(caller.PdeathSignal);
            case SimConst.PrSetChildSubreaper:
                caller.Group.IsChildSubreaper = arg2 != 0;
                if (arg2 != 0)
                {
                    // walk_process_tree(me, propagate_has_child_subreaper).
                    PropagateHasChildSubreaper(caller.Group.Leader);
                }
                return SysResult.Success(0);
            case SimConst.PrGetChildSubreaper:
                return SysResult.Success(caller.Group.IsChildSubreaper ? 1 : 0);
            default:
                return SysResult.Fail(Errno.EINVAL, "prctl option not modelled as supported");
        }
    }

    private static void PropagateHasChildSubreaper(SimTask root)
    {
        var stack = new Stack<SimTask>();
        for (var t = root.Group.FirstThread; t is not null; t = t.NextThread)
        {
            stack.Push(t);
        }
        while (stack.TryPop(out var t))
        {
            for (var c = t.FirstChild; c is not null; c = c.NextSibling)
            {
                if (c.Group.HasChildSubreaper)
                {
                    continue;
                }
                c.Group.HasChildSubreaper = true;
                for (var th = c.Group.FirstThread; th is not null; th = th.NextThread)
                {
                    stack.Push(th);
                }
            }
        }
    }

    /// <summary><c>setrlimit</c> for RLIMIT_NPROC (6) and RLIMIT_NOFILE (7); ulong.MaxValue is RLIM_INFINITY.</summary>
    public SysResult Setrlimit(SimTask caller, int resource, ulong value)
    {
        Enter(caller);
        switch (resource)
        {
            case 6:
                caller.Group.RlimitNproc = value;
                return SysResult.Success(0);
            case 7:
                if (value > 1048576)
                {
                    return SysResult.Fail(Errno.EPERM, "above fs.nr_open");
                }
                caller.Group.RlimitNofile = (int)value;
                return SysResult.Success(0);
            default:
                return SysResult.NotModelled(ModelLimits.Rlimits);
        }
    }

    /// <summary>
    /// <c>setuid(uid)</c> (uid as the caller's user namespace sees it): with CAP_SETUID every uid changes,
    /// otherwise only the effective one to the real or saved uid; capabilities are dropped when no uid stays 0.
    /// </summary>
    public SysResult Setuid(SimTask caller, uint uid)
    {
        Enter(caller);
        var c = caller.Cred;
        var ns = c.UserNs;
        if (!TryMakeKuid(ns, uid, out uint kuid))
        {
            return SysResult.Fail(Errno.EINVAL, "the uid has no mapping in the caller's user namespace");
        }
        Creds n;
        if (Capabilities.Has(c.Caps, CapSetuid))
        {
            n = NewCreds(kuid, kuid, kuid, c.Caps, ns);
        }
        else if (kuid == c.Uid || kuid == c.Suid)
        {
            n = new Creds(c.Uid, kuid, c.Suid, c.Caps, ns, c.Account);
        }
        else
        {
            return SysResult.Fail(Errno.EPERM);
        }
        // cap_emulate_setxuid: leaving root (no uid 0 left) clears the capabilities.
        bool wasRoot = ns.FromKuid(c.Uid) == 0 || ns.FromKuid(c.Euid) == 0 || ns.FromKuid(c.Suid) == 0;
        bool isRoot = ns.FromKuid(n.Uid) == 0 || ns.FromKuid(n.Euid) == 0 || ns.FromKuid(n.Suid) == 0;
        if (wasRoot && !isRoot)
        {
            n = new Creds(n.Uid, n.Euid, n.Suid, 0, ns, n.Account);
        }
        if (n.Account != c.Account)
        {
            c.Account.Tasks--;
            n.Account.Tasks++;
        }
        caller.Cred = n;
        return SysResult.Success(0);
    }

    private static bool TryMakeKuid(SimUserNs ns, uint uid, out uint kuid)
    {
        kuid = uid;
        for (var n = ns; n.Parent is not null; n = n.Parent)
        {
            if (n.MapCount == 0 || kuid < n.MapInside || kuid - n.MapInside >= n.MapCount)
            {
                return false;
            }
            kuid = n.MapOutside + (kuid - n.MapInside);
        }
        return true;
    }

    /// <summary><c>chroot(path)</c>: needs CAP_SYS_CHROOT in the caller's user namespace.</summary>
    public SysResult Chroot(SimTask caller, string path)
    {
        Enter(caller);
        if (!Capabilities.Has(caller.Cred.Caps, CapSysChroot))
        {
            return SysResult.Fail(Errno.EPERM);
        }
        caller.Fs.Root = path;
        return SysResult.Success(0);
    }

    /// <summary><c>chdir(path)</c>: the model's file system has no directories, so any absolute path is accepted.</summary>
    public SysResult Chdir(SimTask caller, string path)
    {
        Enter(caller);
        if (path.Length == 0)
        {
            return SysResult.Fail(Errno.ENOENT);
        }
        caller.Fs.Cwd = path.StartsWith('/') ? path : caller.Fs.Cwd.TrimEnd('/') + "/" + path;
        return SysResult.Success(0);
    }

    /// <summary><c>umask(mask)</c>: sets <c>mask &amp; 0777</c> and returns the previous mask.</summary>
    public SysResult Umask(SimTask caller, int mask)
    {
        Enter(caller);
        int old = caller.Fs.Umask;
        caller.Fs.Umask = mask & 0x1ff;
        return SysResult.Success(old);
    }

    /// <summary>
    /// Writes a one-extent <c>uid_map</c> for <paramref name="target"/>'s user namespace (the model's stand-in
    /// for writing <c>/proc/PID/uid_map</c>): once only (EPERM after), by a writer with CAP_SETUID over the
    /// parent namespace, or by the namespace's owner mapping its own euid alone. <paramref name="outside"/> is a
    /// uid of the parent namespace.
    /// </summary>
    public SysResult WriteUidMap(SimTask writer, SimTask target, uint inside, uint outside, uint count)
    {
        Enter(writer);
        var ns = target.Cred.UserNs;
        if (ns.Parent is null || ns.MapCount != 0)
        {
            return SysResult.Fail(Errno.EPERM, "the map was written already");
        }
        if (count == 0)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        bool privileged = writer.Cred.Capable(ns.Parent, CapSetuid);
        bool ownOnly = count == 1 && writer.Cred.Euid == ns.OwnerKuid && TryMakeKuid(ns.Parent, outside, out uint k) && k == writer.Cred.Euid;
        if (!privileged && !ownOnly)
        {
            return SysResult.Fail(Errno.EPERM, "needs CAP_SETUID over the parent namespace, or a map of the writer's own uid");
        }
        ns.MapInside = inside;
        ns.MapOutside = outside;
        ns.MapCount = count;
        return SysResult.Success(0);
    }
}
