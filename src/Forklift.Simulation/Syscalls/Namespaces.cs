using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    private const CloneFlags UnshareValid = CloneFlags.Thread | CloneFlags.Fs | CloneFlags.NewNs | CloneFlags.Sighand
        | CloneFlags.Vm | CloneFlags.Files | CloneFlags.Sysvsem | CloneFlags.NewUts | CloneFlags.NewIpc | CloneFlags.NewNet
        | CloneFlags.NewUser | CloneFlags.NewPid | CloneFlags.NewCgroup | CloneFlags.NewTime;

    /// <summary>
    /// <c>unshare(flags)</c> (ksys_unshare, kernel/fork.c): implied flags added, check_unshare_flags, then the fs
    /// and fd tables, a user namespace, and the other namespaces (pid and time for children only).
    /// </summary>
    public SysResult Unshare(SimTask caller, CloneFlags flags)
    {
        Enter(caller);
        var r = DoUnshare(caller, flags);
        Settle();
        return r;
    }

    private SysResult DoUnshare(SimTask t, CloneFlags f)
    {
        if ((f & CloneFlags.NewUser) != 0)
        {
            f |= CloneFlags.Thread | CloneFlags.Fs;
        }
        if ((f & CloneFlags.Vm) != 0)
        {
            f |= CloneFlags.Sighand;
        }
        if ((f & CloneFlags.Sighand) != 0)
        {
            f |= CloneFlags.Thread;
        }
        if ((f & CloneFlags.NewNs) != 0)
        {
            f |= CloneFlags.Fs;
        }
        // check_unshare_flags.
        if ((f & ~UnshareValid) != 0)
        {
            return SysResult.Fail(Errno.EINVAL, "flag not accepted by unshare");
        }
        if ((f & (CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm)) != 0 && t.Group.ThreadCount > 1)
        {
            return SysResult.Fail(Errno.EINVAL, "the process has other threads");
        }
        if ((f & (CloneFlags.Sighand | CloneFlags.Vm)) != 0 && t.Sighand.Users > 1)
        {
            return SysResult.Fail(Errno.EINVAL, "the signal handlers are shared");
        }
        if ((f & CloneFlags.Vm) != 0 && t.Mm.Users > 1)
        {
            return SysResult.Fail(Errno.EINVAL, "the address space is shared");
        }
        if ((f & CloneFlags.NewIpc) != 0)
        {
            f |= CloneFlags.Sysvsem;
        }
        var cred = t.Cred;
        // unshare_userns -> create_user_ns.
        SimUserNs? newUserNs = null;
        if ((f & CloneFlags.NewUser) != 0)
        {
            if (cred.UserNs.Level > CloneRules.MaxUserNsParentLevel || UcountReached(cred.UserNs, cred.Euid, NamespaceType.User))
            {
                return SysResult.Fail(Errno.ENOSPC, "user namespace nesting or max_user_namespaces reached");
            }
            if (t.Fs.Root != "/")
            {
                return SysResult.Fail(Errno.EPERM, "a chrooted process may not create a user namespace");
            }
            if (!cred.UserNs.HasMapping(cred.Euid))
            {
                return SysResult.Fail(Errno.EPERM, "the caller's uid has no mapping in its user namespace");
            }
        }
        // unshare_nsproxy_namespaces: CAP_SYS_ADMIN in the (possibly new) user namespace.
        const CloneFlags NsFlags = CloneFlags.NewNs | CloneFlags.NewUts | CloneFlags.NewIpc | CloneFlags.NewNet
            | CloneFlags.NewPid | CloneFlags.NewCgroup | CloneFlags.NewTime;
        if ((f & NsFlags) != 0)
        {
            if ((f & CloneFlags.NewUser) == 0 && !Capabilities.Has(cred.Caps, CapSysAdmin))
            {
                return SysResult.Fail(Errno.EPERM, "creating a namespace needs CAP_SYS_ADMIN");
            }
            var userNsForCheck = cred.UserNs;
            ReadOnlySpan<NamespaceType> order = [NamespaceType.Mnt, NamespaceType.Uts, NamespaceType.Ipc, NamespaceType.Pid, NamespaceType.Cgroup, NamespaceType.Net, NamespaceType.Time];
            foreach (var type in order)
            {
                if ((f & NamespaceTypes.Flag(type)) == 0)
                {
                    continue;
                }
                if (type == NamespaceType.Pid)
                {
                    // copy_pid_ns: only from the active namespace.
                    if (t.Ns.PidForChildren != t.Pid.Ns)
                    {
                        return SysResult.Fail(Errno.EINVAL, "pid_ns_for_children already differs from the active pid namespace");
                    }
                    if (t.Pid.Ns.Level + 1 > CloneRules.MaxPidNsLevel)
                    {
                        return SysResult.Fail(Errno.ENOSPC, "pid namespaces nest at most 32 deep");
                    }
                }
                if (UcountReached(userNsForCheck, cred.Euid, type))
                {
                    return SysResult.Fail(Errno.ENOSPC, $"max_{NamespaceTypes.Name(type)}_namespaces reached");
                }
            }
        }
        // From here on nothing fails.
        if ((f & CloneFlags.NewUser) != 0)
        {
            newUserNs = CreateUserNs(cred.UserNs, cred.Euid);
            var old = t.Cred;
            t.Cred = NewCreds(old.Uid, old.Euid, old.Suid, Capabilities.All, newUserNs);
            old.Account.Tasks--;
            t.Cred.Account.Tasks++;
        }
        if ((f & CloneFlags.Fs) != 0 && t.Fs.Users > 1)
        {
            t.Fs.Users--;
            t.Fs = t.Fs.Copy();
        }
        if ((f & CloneFlags.Files) != 0 && t.Files.Users > 1)
        {
            t.Files.Users--;
            t.Files = t.Files.Copy();
        }
        if ((f & CloneFlags.Sysvsem) != 0)
        {
            // exit_sem: the undo list is detached (and applied if this was its last user).
            ExitSem(t);
        }
        if ((f & NsFlags) != 0)
        {
            var old = t.Ns;
            var owner = t.Cred.UserNs;
            uint kuid = cred.Euid;
            SimNamespace Pick(CloneFlags flag, SimNamespace cur, NamespaceType type) =>
                (f & flag) != 0 ? CreateNamespace(type, owner, kuid) : cur;
            var p = new NsProxy
            {
                Mnt = Pick(CloneFlags.NewNs, old.Mnt, NamespaceType.Mnt),
                Uts = Pick(CloneFlags.NewUts, old.Uts, NamespaceType.Uts),
                Ipc = Pick(CloneFlags.NewIpc, old.Ipc, NamespaceType.Ipc),
                PidForChildren = (f & CloneFlags.NewPid) != 0 ? (PidNamespace)CreateNamespace(NamespaceType.Pid, owner, kuid, old.PidForChildren) : old.PidForChildren,
                Cgroup = Pick(CloneFlags.NewCgroup, old.Cgroup, NamespaceType.Cgroup),
                Net = Pick(CloneFlags.NewNet, old.Net, NamespaceType.Net),
                TimeForChildren = Pick(CloneFlags.NewTime, old.TimeForChildren, NamespaceType.Time),
                Time = old.Time,
            };
            HoldNsProxy(p);
            PutNsProxy(old);
            t.Ns = p;
        }
        return SysResult.Success(0);
    }

    /// <summary>
    /// <c>setns(fd, nstype)</c> with a namespace file (<c>/proc/PID/ns/TYPE</c>); a pidfd (several namespaces at
    /// once) is not modelled. nstype 0 accepts any type.
    /// </summary>
    public SysResult Setns(SimTask caller, int fd, CloneFlags nstype)
    {
        Enter(caller);
        var f = caller.Files.Get(fd);
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (f.Kind == FileKind.Pidfd)
        {
            return SysResult.NotModelled(ModelLimits.SetnsPidfd);
        }
        if (f.Kind != FileKind.Namespace)
        {
            return SysResult.Fail(Errno.EINVAL, "not a namespace file");
        }
        var ns = f.Namespace!;
        if (nstype != 0 && nstype != NamespaceTypes.Flag(ns.Type))
        {
            return SysResult.Fail(Errno.EINVAL, "the file's namespace type differs from nstype");
        }
        var cred = caller.Cred;
        var owner = ns.Owner ?? RootUserNs;
        bool adminHere = Capabilities.Has(cred.Caps, CapSysAdmin);
        switch (ns.Type)
        {
            case NamespaceType.User:
            {
                // userns_install.
                var u = (SimUserNs)ns;
                if (u == cred.UserNs)
                {
                    return SysResult.Fail(Errno.EINVAL, "already in that user namespace");
                }
                if (caller.Mm.Users > 1 || caller.Group.ThreadCount > 1)
                {
                    return SysResult.Fail(Errno.EINVAL, "a multithreaded process may not change its user namespace");
                }
                if (caller.Fs.Users > 1)
                {
                    return SysResult.Fail(Errno.EINVAL, "the fs_struct is shared");
                }
                if (!cred.Capable(u, CapSysAdmin))
                {
                    return SysResult.Fail(Errno.EPERM);
                }
                var n = NewCreds(cred.Uid, cred.Euid, cred.Suid, Capabilities.All, u);
                cred.Account.Tasks--;
                n.Account.Tasks++;
                caller.Cred = n;
                return SysResult.Success(0);
            }
            case NamespaceType.Pid:
            {
                // pidns_install: CAP_SYS_ADMIN over the target and in the caller's own namespace; only the
                // active namespace or a descendant.
                var p = (PidNamespace)ns;
                if (!cred.Capable(owner, CapSysAdmin) || !adminHere)
                {
                    return SysResult.Fail(Errno.EPERM);
                }
                if (!p.IsSameOrDescendantOf(caller.Pid.Ns))
                {
                    return SysResult.Fail(Errno.EINVAL, "only the active pid namespace or a descendant may be entered");
                }
                ReplaceNs(caller, NamespaceType.Pid, p);
                return SysResult.Success(0);
            }
            case NamespaceType.Mnt:
                // mntns_install.
                if (!cred.Capable(owner, CapSysAdmin) || !Capabilities.Has(cred.Caps, CapSysChroot) || !adminHere)
                {
                    return SysResult.Fail(Errno.EPERM);
                }
                if (caller.Fs.Users > 1)
                {
                    return SysResult.Fail(Errno.EINVAL, "the fs_struct is shared");
                }
                ReplaceNs(caller, ns.Type, ns);
                return SysResult.Success(0);
            case NamespaceType.Time:
                if (!cred.Capable(owner, CapSysAdmin) || !adminHere)
                {
                    return SysResult.Fail(Errno.EPERM);
                }
                if (caller.Group.ThreadCount > 1 || caller.Mm.Users > 1)
                {
                    return SysResult.Fail(Errno.EUSERS, "timens_install: the caller is not single-threaded");
                }
                ReplaceNs(caller, ns.Type, ns);
                return SysResult.Success(0);
            default:
                if (!cred.Capable(owner, CapSysAdmin) || !adminHere)
                {
                    return SysResult.Fail(Errno.EPERM);
                }
                if (ns.Type == NamespaceType.Ipc)
                {
                    ExitSem(caller);
                }
                ReplaceNs(caller, ns.Type, ns);
                return SysResult.Success(0);
        }
    }

    private void ReplaceNs(SimTask t, NamespaceType type, SimNamespace ns)
    {
        var o = t.Ns;
        var p = new NsProxy
        {
            Mnt = type == NamespaceType.Mnt ? ns : o.Mnt,
            Uts = type == NamespaceType.Uts ? ns : o.Uts,
            Ipc = type == NamespaceType.Ipc ? ns : o.Ipc,
            Cgroup = type == NamespaceType.Cgroup ? ns : o.Cgroup,
            Net = type == NamespaceType.Net ? ns : o.Net,
            Time = type == NamespaceType.Time ? ns : o.Time,
            TimeForChildren = type == NamespaceType.Time ? ns : o.TimeForChildren,
            PidForChildren = type == NamespaceType.Pid ? (PidNamespace)ns : o.PidForChildren,
        };
        HoldNsProxy(p);
        PutNsProxy(o);
        t.Ns = p;
    }

    /// <summary>
    /// <c>pidfd_open(pid, flags)</c>: flags PIDFD_NONBLOCK and PIDFD_THREAD (6.9); a thread id needs PIDFD_THREAD
    /// (EINVAL otherwise); a zombie may be opened, a reaped process is ESRCH. The fd is close-on-exec.
    /// </summary>
    public SysResult PidfdOpen(SimTask caller, int pid, int flags = 0)
    {
        Enter(caller);
        if ((flags & ~(SimConst.ONonblock | SimConst.PidfdThread)) != 0 || pid <= 0)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        var p = caller.Pid.Ns.Find(pid);
        if (p is null)
        {
            return SysResult.Fail(Errno.ESRCH);
        }
        bool thread = (flags & SimConst.PidfdThread) != 0;
        // pidfd_prepare (kernel/pid.c, 6.18): a struct pid that outlives its task (kept as a process group or session
        // id) is ESRCH, "already reaped"; a live task that is not a thread-group leader is ENOENT without PIDFD_THREAD.
        // Both checked on the real kernel.
        if (p.Task is null && p.TgidLeader is null)
        {
            return SysResult.Fail(Errno.ESRCH, "the process has been reaped (the pid lives on only as a process group or session id)");
        }
        if (thread ? p.Task is null : p.TgidLeader is null)
        {
            return SysResult.Fail(thread ? Errno.ESRCH : Errno.ENOENT, thread ? "no task with that id" : "not a process id (a thread id needs PIDFD_THREAD)");
        }
        var file = new OpenFile(FileKind.Pidfd, "anon_inode:[pidfd]", flags) { Pid = p };
        int fd = caller.Files.Install(file, cloexec: true, caller.Group.RlimitNofile);
        return fd < 0 ? SysResult.Fail(Errno.EMFILE) : SysResult.Success(fd);
    }
}
