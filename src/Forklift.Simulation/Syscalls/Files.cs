using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    /// <summary>
    /// <c>open(path, flags)</c>: <c>/proc/PID/ns/TYPE</c> (PID in the caller's namespace, or <c>self</c>; TYPE also
    /// <c>pid_for_children</c>, <c>time_for_children</c>) opens a namespace file; <c>/sys/fs/cgroup/...</c> a cgroup
    /// directory (ENOENT if absent); any other path a regular file (ENOENT unless it exists or O_CREAT is given;
    /// /dev/null and /dev/console exist from the start).
    /// </summary>
    public SysResult Open(SimTask caller, string path, int flags = 0)
    {
        Enter(caller);
        OpenFile file;
        if (path.StartsWith("/proc/", StringComparison.Ordinal))
        {
            var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 4 || parts[2] != "ns")
            {
                return SysResult.NotModelled(ModelLimits.Procfs);
            }
            SimTask? target = parts[1] == "self" ? caller
                : int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int n) ? caller.Pid.Ns.Find(n)?.Task : null;
            if (target is null || target.State is TaskState.Reaped)
            {
                return SysResult.Fail(Errno.ENOENT);
            }
            SimNamespace? ns = parts[3] switch
            {
                "user" => target.Cred.UserNs,
                "pid" => target.Pid.Ns,
                "pid_for_children" => target.Ns.PidForChildren,
                "time_for_children" => target.Ns.TimeForChildren,
                _ => NamespaceTypes.TryParse(parts[3], out var type) && type != NamespaceType.Pid ? target.Ns.Get(type) : null,
            };
            if (ns is null || target.State == TaskState.Zombie)
            {
                return SysResult.Fail(Errno.ENOENT);
            }
            Hold(ns);
            file = new OpenFile(FileKind.Namespace, path, flags) { Namespace = ns };
        }
        else if (path.StartsWith("/sys/fs/cgroup", StringComparison.Ordinal))
        {
            var cg = FindCgroup(path);
            if (cg is null)
            {
                return SysResult.Fail(Errno.ENOENT);
            }
            file = new OpenFile(FileKind.CgroupDir, path, flags) { Cgroup = cg };
        }
        else
        {
            // Without O_CREAT only a file that exists can be opened (do_filp_open: ENOENT).
            if ((flags & SimConst.OCreat) == 0 && FindFile(path) is null)
            {
                return SysResult.Fail(Errno.ENOENT);
            }
            file = OpenPath(path, flags);
        }
        int fd = caller.Files.Install(file, (flags & SimConst.OCloexec) != 0, caller.Group.RlimitNofile);
        return fd < 0 ? SysResult.Fail(Errno.EMFILE) : SysResult.Success(fd);
    }

    /// <summary><c>close(fd)</c>.</summary>
    public SysResult Close(SimTask caller, int fd)
    {
        Enter(caller);
        var f = caller.Files.Remove(fd);
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        ReleaseFile(f);
        return SysResult.Success(0);
    }

    // close_files: the last user of a table closes every fd.
    private void CloseAll(FdTable table)
    {
        for (int fd = 0; fd < table.Capacity; fd++)
        {
            if (table.Remove(fd) is { } f)
            {
                ReleaseFile(f);
            }
        }
    }

    // The last reference to an open file drops what it holds (a namespace file's namespace reference).
    private void ReleaseFile(OpenFile f)
    {
        if (f.Refs == 0 && f.Kind == FileKind.Namespace)
        {
            Put(f.Namespace!);
        }
    }

    /// <summary><c>dup(fd)</c>: the lowest free fd, without close-on-exec.</summary>
    public SysResult Dup(SimTask caller, int fd)
    {
        Enter(caller);
        var f = caller.Files.Get(fd);
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        int n = caller.Files.Install(f, false, caller.Group.RlimitNofile);
        return n < 0 ? SysResult.Fail(Errno.EMFILE) : SysResult.Success(n);
    }

    /// <summary><c>dup3(oldfd, newfd, flags)</c> (flags: O_CLOEXEC); <paramref name="dup2"/> gives dup2's rules.</summary>
    public SysResult Dup3(SimTask caller, int oldfd, int newfd, int flags, bool dup2 = false)
    {
        Enter(caller);
        if (!dup2 && (flags & ~SimConst.OCloexec) != 0)
        {
            return SysResult.Fail(Errno.EINVAL);
        }
        var f = caller.Files.Get(oldfd);
        if (oldfd == newfd)
        {
            if (dup2)
            {
                return f is null ? SysResult.Fail(Errno.EBADF) : SysResult.Success(newfd);
            }
            return SysResult.Fail(Errno.EINVAL);
        }
        if (newfd < 0 || newfd >= caller.Group.RlimitNofile)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (caller.Files.Remove(newfd) is { } old)
        {
            ReleaseFile(old);
        }
        caller.Files.InstallAt(newfd, f, (flags & SimConst.OCloexec) != 0);
        return SysResult.Success(newfd);
    }

    /// <summary><c>fcntl(fd, F_GETFD)</c> and <c>fcntl(fd, F_SETFD, FD_CLOEXEC)</c>.</summary>
    public SysResult Fcntl(SimTask caller, int fd, int cmd, int arg = 0)
    {
        Enter(caller);
        if (caller.Files.Get(fd) is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        switch (cmd)
        {
            case SimConst.FGetfd:
                return SysResult.Success(caller.Files.IsCloexec(fd) ? SimConst.FdCloexec : 0);
            case SimConst.FSetfd:
                caller.Files.SetCloexec(fd, (arg & SimConst.FdCloexec) != 0);
                return SysResult.Success(0);
            default:
                return SysResult.NotModelled(ModelLimits.Fcntl);
        }
    }

    /// <summary><c>write(fd, text)</c>: appended to a regular file; EINVAL for pidfds and namespace files.</summary>
    public SysResult Write(SimTask caller, int fd, string text)
    {
        Enter(caller);
        var f = caller.Files.Get(fd);
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (f.File is null)
        {
            return SysResult.Fail(Errno.EINVAL, "the file does not support write");
        }
        f.File.Content.Append(text);
        return SysResult.Success(System.Text.Encoding.UTF8.GetByteCount(text));
    }

    /// <summary>
    /// <c>poll</c> on a pidfd (pidfd_poll): 1 (POLLIN) once the process has exited (the thread group is empty
    /// or its task gone; for a PIDFD_THREAD pidfd, the thread), else 0.
    /// </summary>
    public SysResult PollPidfd(SimTask caller, int fd)
    {
        Enter(caller);
        var f = caller.Files.Get(fd);
        if (f is null)
        {
            return SysResult.Fail(Errno.EBADF);
        }
        if (f.Kind != FileKind.Pidfd)
        {
            return SysResult.Fail(Errno.EINVAL, "not a pidfd");
        }
        var pid = f.Pid!;
        bool exited;
        if ((f.Flags & SimConst.PidfdThread) != 0)
        {
            exited = pid.Task is not { } t || t.State is TaskState.Zombie or TaskState.Reaped;
        }
        else
        {
            exited = pid.TgidLeader is not { } l || (l.State is TaskState.Zombie && l.Group.ThreadCount == 1);
        }
        return SysResult.Success(exited ? 1 : 0);
    }
}
