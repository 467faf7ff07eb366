using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Processes;

/// <summary>The usual causes of an errno at a step, in words a user can act on (bubblewrap and crun do the same).</summary>
internal static class SpawnHints
{
    public static string? ForExec(Errno errno, bool searched, string program) => errno switch
    {
        Errno.ENOENT when searched => $"'{program}' was not found in any PATH directory (PATH is the caller's, as execvp uses it).",
        Errno.ENOENT => "The file does not exist, or its #! interpreter or ELF loader is missing.",
        Errno.EACCES => "Permission denied: the file is not executable (chmod +x), is a directory or not a regular file, " +
                        "is on a noexec mount, or a directory on its path is not searchable.",
        Errno.ENOEXEC => "The kernel does not recognize the file's format: a script without #!? (execvp would hand it to /bin/sh; Forklift does not).",
        Errno.ETXTBSY => "The file is open for writing (still being written or copied?).",
        Errno.E2BIG => "The arguments and environment together exceed the kernel's limit (ARG_MAX, a quarter of the stack limit).",
        Errno.ELOOP => "Too many symbolic links (or a #! chain too deep).",
        Errno.ENAMETOOLONG => "The path is longer than PATH_MAX.",
        Errno.ENOTDIR => "A component of the path is not a directory.",
        Errno.EPERM => "Not permitted: a set-user-ID program under no_new_privs or a nosuid mount, or a security module refused it.",
        _ => null,
    };

    public static string? ForStep(int op, Errno errno) => (op, errno) switch
    {
        (SpawnOp.Chdir, Errno.ENOENT) => "The working directory does not exist.",
        (SpawnOp.Chdir, Errno.ENOTDIR) => "The working directory is not a directory.",
        (SpawnOp.Chdir, Errno.EACCES) => "The child's user may not search the working directory.",
        (SpawnOp.Open, Errno.ENOENT) => "The file, or its directory, does not exist.",
        (SpawnOp.Open, Errno.EACCES) => "Permission denied (files are opened by the child, as the user it runs as).",
        (SpawnOp.Open, Errno.EISDIR) => "The path is a directory.",
        (SpawnOp.Dup2, Errno.EBADF) or (SpawnOp.DupAbove, Errno.EBADF) => "The source fd is not open in the parent.",
        (SpawnOp.SetResUid, Errno.EPERM) => "Changing the uid needs CAP_SETUID.",
        (SpawnOp.SetResGid, Errno.EPERM) or (SpawnOp.SetGroups, Errno.EPERM) => "Changing groups needs CAP_SETGID (and setgroups is denied in a user namespace whose setgroups file says deny).",
        (SpawnOp.SetRlimit, Errno.EPERM) => "Raising a hard limit needs CAP_SYS_RESOURCE.",
        (SpawnOp.SetRlimit, Errno.EINVAL) => "The soft limit exceeds the hard one, or NOFILE exceeds fs.nr_open.",
        (SpawnOp.Setpgid, Errno.EPERM) => "The process group is in another session, or does not exist.",
        (SpawnOp.SetCtty, Errno.EPERM) => "The terminal is another session's controlling terminal (stealing it needs CAP_SYS_ADMIN).",
        (SpawnOp.SetCtty, Errno.ENOTTY) or (SpawnOp.Tcsetpgrp, Errno.ENOTTY) => "The fd is not a terminal, or not the child's controlling terminal.",
        (SpawnOp.Pdeathsig, _) => null,
        (SpawnOp.WriteFile, Errno.EPERM) => "The kernel refused the write: an id map naming ids other than your own needs CAP_SETUID/CAP_SETGID over the parent user namespace (the parent then writes it), a gid map needs setgroups denied first, and a map can be written once.",
        (SpawnOp.WriteFile, Errno.EACCES) => "Time namespace offsets can be set only before a process enters the namespace, with CAP_SYS_TIME in its user namespace; a cgroup file needs write access.",
        (SpawnOp.Setns, Errno.EPERM) => "Entering a namespace needs CAP_SYS_ADMIN in its owning user namespace (join the user namespace first, or run as root).",
        (SpawnOp.Setns, Errno.EINVAL) => "The fd is not a namespace of that type, or the kernel refuses this join (the same user namespace again, or a process that shares its fs or memory).",
        (SpawnOp.Unshare, Errno.EPERM) => "A new time namespace needs CAP_SYS_ADMIN: ask for a user namespace too, or run as root.",
        (SpawnOp.Mount, Errno.EPERM) => "Mounting needs CAP_SYS_ADMIN in the mount namespace's user namespace; a proc mount also needs a pid namespace owned by it (ask for --unshare pid) and a fully visible /proc (no masked paths), and the mount flags of locked mounts cannot be relaxed.",
        (SpawnOp.Mount, Errno.ENOENT) or (SpawnOp.MoveMount, Errno.ENOENT) => "The mount point does not exist in the new mount view.",
        (SpawnOp.Mount, Errno.EINVAL) => "The kernel refused the mount: a propagation change on a path that is not a mount point, or a bad option for this file system.",
        (SpawnOp.Mkdir, Errno.EROFS) or (SpawnOp.CreateFile, Errno.EROFS) => "The mount point cannot be created on the read-only view: choose an existing path, or one inside a tmpfs mounted earlier (such as /tmp).",
        (SpawnOp.OpenTree, Errno.ENOENT) => "The bind source does not exist.",
        (SpawnOp.OpenTree, Errno.EINVAL) => "The source has mounts below it that this user namespace may not separate from it (locked mounts): bind it recursively.",
        (SpawnOp.MountSetattr, Errno.EBUSY) => "The mount has files open for writing, so it cannot become read-only.",
        (SpawnOp.SetHostname, Errno.EPERM) or (SpawnOp.SetDomainName, Errno.EPERM) => "Setting the hostname needs a new UTS namespace (and CAP_SYS_ADMIN in it).",
        (SpawnOp.LoopbackUp, Errno.EPERM) => "Configuring the loopback device needs CAP_NET_ADMIN in the network namespace's user namespace.",
        (SpawnOp.CapBsetDrop, Errno.EPERM) => "Cutting the bounding set needs CAP_SETPCAP.",
        (SpawnOp.Capset, Errno.EPERM) or (SpawnOp.Ambient, Errno.EPERM) => "A kept capability is not in the permitted set (or no longer in the bounding set): the program cannot be given it.",
        (SpawnOp.Init, Errno.ENOENT) => "forklift-init is missing next to the native library: rebuild (the build puts it there) or publish it with the application.",
        (SpawnOp.JoinCgroup, _) => ForCgroup(errno),
        _ => null,
    };

    /// <summary>The child could not enter a cgroup (writing "0" to its cgroup.procs).</summary>
    public static string? ForCgroup(Errno errno) => errno switch
    {
        Errno.ENOENT => "The group does not exist (any more): it was removed, or its ControlGroup disposed, before the child started.",
        Errno.EACCES or Errno.EPERM => "The child may not move itself into that group: its uid does not own the group's cgroup.procs (or the common ancestor's), or a cgroup namespace hides it.",
        Errno.EBUSY => "The group has domain controllers enabled for its children (cgroup.subtree_control), so it cannot hold processes (cgroup v2's no-internal-processes rule).",
        Errno.EOPNOTSUPP => "The group is a 'domain invalid' cgroup: make it threaded or a domain first.",
        Errno.ENOSPC => "The group's cpuset has no CPUs or memory nodes (cpuset.cpus, cpuset.mems are empty).",
        Errno.EROFS => "The cgroup hierarchy is mounted read-only.",
        _ => null,
    };

    public static string? ForClone(Errno errno) => errno switch
    {
        Errno.EPERM => "A seccomp profile may block clone3 (some container engines do): allow the fallback with WithCloneEntry(CloneEntryPolicy.Clone3WithFallbackOnEperm). " +
                       "With new namespaces: creating them needs CAP_SYS_ADMIN unless a user namespace comes too, and some systems forbid unprivileged user namespaces (kernel.unprivileged_userns_clone=0, kernel.apparmor_restrict_unprivileged_userns=1).",
        Errno.EAGAIN => "A process limit was hit: RLIMIT_NPROC, the pids cgroup controller, or kernel.pid_max / threads-max.",
        Errno.ENOMEM => "The kernel could not allocate the new task.",
        Errno.ENOSPC => "A namespace count limit (user.max_*_namespaces; 0 for user namespaces disables them) or the pid namespace's limit was hit.",
        Errno.EUSERS => "Too many nested user namespaces.",
        _ => null,
    };

    public static string? ForSetup(Errno errno) => errno switch
    {
        Errno.EMFILE => "This process has too many open files (RLIMIT_NOFILE).",
        Errno.ENFILE => "The system has too many open files (fs.file-max).",
        Errno.ENOMEM => "Out of memory.",
        _ => null,
    };
}
