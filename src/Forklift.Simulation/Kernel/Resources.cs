using Forklift.Rules;

namespace Forklift.Simulation;

/// <summary>
/// An address space (<c>mm_struct</c>): a small memory of 32-bit cells keyed by address, enough to observe the
/// kernel's tid and pidfd writes. Shared by <c>CLONE_VM</c>, copied by fork, replaced by execve.
/// </summary>
public sealed class AddressSpace
{
    private Dictionary<ulong, int>? _cells;

    /// <summary><c>mm_users</c>: tasks using this address space.</summary>
    public int Users { get; internal set; } = 1;

    /// <summary>Reads the 32-bit cell at <paramref name="address"/> (0 if never written).</summary>
    public int Read(ulong address) => _cells is not null && _cells.TryGetValue(address, out int v) ? v : 0;

    /// <summary>True when the cell at <paramref name="address"/> was written.</summary>
    public bool IsWritten(ulong address) => _cells is not null && _cells.ContainsKey(address);

    /// <summary>Writes a 32-bit cell (the model's <c>put_user</c> of an int).</summary>
    public void Write(ulong address, int value) => (_cells ??= new Dictionary<ulong, int>())[address] = value;

    /// <summary>The written cells, by address (allocates; for display).</summary>
    public IReadOnlyList<KeyValuePair<ulong, int>> Cells =>
        _cells is null ? [] : _cells.OrderBy(kv => kv.Key).ToArray();

    // dup_mm: the child's copy (copy-on-write in the kernel; a copy of the cells here).
    internal AddressSpace Copy()
    {
        var mm = new AddressSpace();
        if (_cells is { Count: > 0 })
        {
            mm._cells = new Dictionary<ulong, int>(_cells);
        }
        return mm;
    }
}

/// <summary>What an open file description refers to.</summary>
public enum FileKind
{
    /// <summary>A plain file of the model's file system.</summary>
    Regular,
    /// <summary>A pidfd (from <c>pidfd_open</c> or <c>CLONE_PIDFD</c>).</summary>
    Pidfd,
    /// <summary>A namespace file (<c>/proc/PID/ns/TYPE</c>), usable with setns.</summary>
    Namespace,
    /// <summary>A cgroup2 directory (<c>/sys/fs/cgroup/...</c>), usable with <c>CLONE_INTO_CGROUP</c>.</summary>
    CgroupDir,
}

/// <summary>
/// An open file description (<c>struct file</c>): shared by every fd that refers to it, across fd tables copied
/// by fork and by dup.
/// </summary>
public sealed class OpenFile
{
    internal OpenFile(FileKind kind, string path, int flags)
    {
        Kind = kind;
        Path = path;
        Flags = flags;
    }

    /// <summary>The kind.</summary>
    public FileKind Kind { get; }
    /// <summary>The path it was opened as (pidfds: <c>anon_inode:[pidfd]</c>).</summary>
    public string Path { get; }
    /// <summary>The open flags (O_NONBLOCK, PIDFD_THREAD, ...).</summary>
    public int Flags { get; }
    /// <summary>References: fds in all tables that point here.</summary>
    public int Refs { get; internal set; }
    /// <summary>The file's contents (regular files).</summary>
    public SimFile? File { get; internal init; }
    /// <summary>The pid a pidfd refers to.</summary>
    public SimPid? Pid { get; internal init; }
    /// <summary>The namespace a namespace file refers to.</summary>
    public SimNamespace? Namespace { get; internal init; }
    /// <summary>The cgroup a cgroup directory refers to.</summary>
    public SimCgroup? Cgroup { get; internal init; }
}

/// <summary>A file of the model's file system: a path and the bytes written to it, as text.</summary>
public sealed class SimFile
{
    internal SimFile(string path) => Path = path;
    /// <summary>The path.</summary>
    public string Path { get; }
    /// <summary>Everything written to it, in order.</summary>
    public System.Text.StringBuilder Content { get; } = new();
}

/// <summary>
/// A file descriptor table (<c>files_struct</c>): fd numbers to open files, with close-on-exec bits. Shared by
/// <c>CLONE_FILES</c>; a fork copies the table, and the copy shares the open files.
/// </summary>
public sealed class FdTable
{
    private OpenFile?[] _fds;
    private bool[] _cloexec;

    internal FdTable(int capacity = 4)
    {
        _fds = new OpenFile?[capacity];
        _cloexec = new bool[capacity];
    }

    /// <summary>Tasks using this table.</summary>
    public int Users { get; internal set; } = 1;
    /// <summary>Open fds.</summary>
    public int Count { get; private set; }

    /// <summary>The open file at <paramref name="fd"/>, or null.</summary>
    public OpenFile? Get(int fd) => (uint)fd < (uint)_fds.Length ? _fds[fd] : null;

    /// <summary>Whether <paramref name="fd"/> is close-on-exec.</summary>
    public bool IsCloexec(int fd) => (uint)fd < (uint)_fds.Length && _cloexec[fd];

    /// <summary>The highest slot + 1 that may be open.</summary>
    public int Capacity => _fds.Length;

    internal void SetCloexec(int fd, bool on) => _cloexec[fd] = on;

    // __alloc_fd / alloc_fd: the lowest free number below the limit.
    internal int Install(OpenFile file, bool cloexec, int limit)
    {
        for (int fd = 0; fd < limit; fd++)
        {
            if (fd >= _fds.Length || _fds[fd] is null)
            {
                InstallAt(fd, file, cloexec);
                return fd;
            }
        }
        return -1;
    }

    internal void InstallAt(int fd, OpenFile file, bool cloexec)
    {
        if (fd >= _fds.Length)
        {
            int n = Math.Max(fd + 1, _fds.Length * 2);
            Array.Resize(ref _fds, n);
            Array.Resize(ref _cloexec, n);
        }
        if (_fds[fd] is null)
        {
            Count++;
        }
        _fds[fd] = file;
        _cloexec[fd] = cloexec;
        file.Refs++;
    }

    internal OpenFile? Remove(int fd)
    {
        var f = Get(fd);
        if (f is not null)
        {
            _fds[fd] = null;
            _cloexec[fd] = false;
            Count--;
            f.Refs--;
        }
        return f;
    }

    // dup_fd: a copy that shares every open file.
    internal FdTable Copy()
    {
        var t = new FdTable(_fds.Length);
        for (int i = 0; i < _fds.Length; i++)
        {
            if (_fds[i] is { } f)
            {
                t._fds[i] = f;
                t._cloexec[i] = _cloexec[i];
                f.Refs++;
            }
        }
        t.Count = Count;
        return t;
    }
}

/// <summary>Root, cwd and umask (<c>fs_struct</c>), shared by <c>CLONE_FS</c>.</summary>
public sealed class FsInfo
{
    /// <summary>Tasks using it.</summary>
    public int Users { get; internal set; } = 1;
    /// <summary>The root directory ("/" unless chrooted).</summary>
    public string Root { get; internal set; } = "/";
    /// <summary>The working directory.</summary>
    public string Cwd { get; internal set; } = "/";
    /// <summary>The umask.</summary>
    public int Umask { get; internal set; } = 0x12; // 022

    internal FsInfo Copy() => new() { Root = Root, Cwd = Cwd, Umask = Umask };
}

/// <summary>A signal's disposition.</summary>
public enum SignalAction : byte
{
    /// <summary><c>SIG_DFL</c>.</summary>
    Default,
    /// <summary><c>SIG_IGN</c>.</summary>
    Ignore,
    /// <summary>A handler (a program callback, or a recorded delivery for scripted tasks).</summary>
    Handle,
}

/// <summary>
/// The signal handler table (<c>sighand_struct</c>): one disposition per signal. Shared by <c>CLONE_SIGHAND</c>,
/// copied by fork, reset (handled to default, ignored stay ignored) by <c>CLONE_CLEAR_SIGHAND</c> and execve.
/// </summary>
public sealed class SignalHandlers
{
    private ulong _ignored, _handled;
    private Action<Programs.ProgramContext, int>?[]? _callbacks;

    /// <summary>Tasks using it.</summary>
    public int Users { get; internal set; } = 1;
    /// <summary><c>SA_NOCLDSTOP</c> on SIGCHLD: no SIGCHLD when a child stops or continues.</summary>
    public bool NoCldStop { get; internal set; }
    /// <summary><c>SA_NOCLDWAIT</c> on SIGCHLD: children are reaped on exit.</summary>
    public bool NoCldWait { get; internal set; }

    /// <summary>The disposition of <paramref name="sig"/>.</summary>
    public SignalAction Get(int sig) =>
        (_ignored >> (sig - 1) & 1) != 0 ? SignalAction.Ignore
        : (_handled >> (sig - 1) & 1) != 0 ? SignalAction.Handle : SignalAction.Default;

    internal Action<Programs.ProgramContext, int>? Callback(int sig) => _callbacks?[sig];

    internal void Set(int sig, SignalAction action, Action<Programs.ProgramContext, int>? callback = null)
    {
        ulong bit = 1UL << (sig - 1);
        _ignored &= ~bit;
        _handled &= ~bit;
        if (action == SignalAction.Ignore)
        {
            _ignored |= bit;
        }
        else if (action == SignalAction.Handle)
        {
            _handled |= bit;
        }
        if (callback is not null || _callbacks is not null)
        {
            (_callbacks ??= new Action<Programs.ProgramContext, int>?[65])[sig] = action == SignalAction.Handle ? callback : null;
        }
        if (sig == Abi.Signals.SigChld && action == SignalAction.Default)
        {
            NoCldStop = NoCldWait = false;
        }
    }

    internal SignalHandlers Copy() => new()
    {
        _ignored = _ignored, _handled = _handled, NoCldStop = NoCldStop, NoCldWait = NoCldWait,
        _callbacks = _callbacks is null ? null : (Action<Programs.ProgramContext, int>?[])_callbacks.Clone(),
    };

    // flush_signal_handlers(t, force_default = 0): handled signals back to SIG_DFL, ignored stay ignored.
    internal void ResetHandled()
    {
        _handled = 0;
        _callbacks = null;
        NoCldStop = NoCldWait = false;
    }
}

/// <summary>A System V semaphore undo list (<c>sem_undo_list</c>), shared by <c>CLONE_SYSVSEM</c>.</summary>
public sealed class SysvSemUndo
{
    /// <summary>Tasks using it.</summary>
    public int Users { get; internal set; } = 1;

    /// <summary>The adjustments (<c>semadj</c>) by IPC namespace, set id and semaphore number.</summary>
    internal Dictionary<(SimNamespace Ipc, int Id, int Num), int>? Adjust { get; set; }
}

/// <summary>A namespace of any type. Pid and user namespaces have their own subclasses.</summary>
public class SimNamespace
{
    internal SimNamespace(NamespaceType type, SimUserNs? owner, long inode)
    {
        Type = type;
        Owner = owner;
        Inode = inode;
    }

    /// <summary>The type.</summary>
    public NamespaceType Type { get; }
    /// <summary>The owning user namespace (null for the initial user namespace).</summary>
    public SimUserNs? Owner { get; }
    /// <summary>The namespace's inode number, as <c>/proc/PID/ns/TYPE</c> shows it (<c>TYPE:[INODE]</c>).</summary>
    public long Inode { get; }
    /// <summary>References held by nsproxies, credentials, open files and child namespaces.</summary>
    public int Refs { get; internal set; }
    /// <summary>The uid (in the owner's parent namespace, as a kernel uid) charged for creating it.</summary>
    internal uint CreatorKuid { get; init; }
    /// <summary>An IPC namespace's System V semaphore sets: the values, by set id (ids 0, 1, ... as a fresh
    /// namespace hands them out).</summary>
    internal List<int[]>? SemSets { get; set; }

    /// <inheritdoc/>
    public override string ToString() => $"{NamespaceTypes.Name(Type)}:[{Inode}]";
}

/// <summary>A user namespace: a level, a parent, an owner uid, a uid map, and per-user namespace counts.</summary>
public sealed class SimUserNs : SimNamespace
{
    internal SimUserNs(SimUserNs? parent, uint ownerKuid, long inode) : base(NamespaceType.User, parent, inode)
    {
        Parent = parent;
        Level = parent is null ? 0 : parent.Level + 1;
        OwnerKuid = ownerKuid;
        if (parent is null)
        {
            MapCount = uint.MaxValue; // the initial namespace maps every id to itself
        }
    }

    /// <summary>The parent user namespace (null for the initial one).</summary>
    public SimUserNs? Parent { get; }
    /// <summary>Depth (0 = initial).</summary>
    public int Level { get; }
    /// <summary>The creator's effective uid (a kernel uid).</summary>
    public uint OwnerKuid { get; }
    /// <summary>uid_map: first inside id.</summary>
    public uint MapInside { get; internal set; }
    /// <summary>uid_map: first outside (kernel) id.</summary>
    public uint MapOutside { get; internal set; }
    /// <summary>uid_map: number of ids (0 = not written).</summary>
    public uint MapCount { get; internal set; }

    /// <summary><c>/proc/sys/user/max_TYPE_namespaces</c> for this namespace, by <see cref="NamespaceType"/>.</summary>
    public long[] MaxNamespaces { get; } = [long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue];

    // ucounts: namespaces of each type charged per uid in this namespace.
    internal Dictionary<uint, int[]>? Charges;

    /// <summary>A kernel uid as seen inside (<c>from_kuid_munged</c>): the overflow uid when unmapped.</summary>
    public uint FromKuid(uint kuid)
    {
        if (Parent is null)
        {
            return kuid;
        }
        uint outer = Parent.FromKuidRaw(kuid, out bool ok);
        if (!ok || MapCount == 0 || outer < MapOutside || outer - MapOutside >= MapCount)
        {
            return SimConst.OverflowUid;
        }
        return MapInside + (outer - MapOutside);
    }

    private uint FromKuidRaw(uint kuid, out bool ok)
    {
        ok = true;
        if (Parent is null)
        {
            return kuid;
        }
        uint outer = Parent.FromKuidRaw(kuid, out ok);
        if (!ok || MapCount == 0 || outer < MapOutside || outer - MapOutside >= MapCount)
        {
            ok = false;
            return 0;
        }
        return MapInside + (outer - MapOutside);
    }

    /// <summary>Whether a kernel uid has a mapping here (<c>kuid_has_mapping</c>).</summary>
    public bool HasMapping(uint kuid)
    {
        FromKuidRaw(kuid, out bool ok);
        return ok;
    }

    /// <summary>True when this is <paramref name="ancestor"/> or one of its descendants (<c>in_userns</c>).</summary>
    public bool IsSameOrDescendantOf(SimUserNs ancestor)
    {
        for (var ns = this; ns is not null; ns = ns.Parent)
        {
            if (ns == ancestor)
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>
/// The namespaces a task uses besides its user namespace (<c>nsproxy</c>): shared by every task that did not ask
/// for a new one, including the pid and time namespaces its children will be created in.
/// </summary>
public sealed class NsProxy
{
    /// <summary>Tasks using it.</summary>
    public int Users { get; internal set; } = 1;
    /// <summary>Mount namespace.</summary>
    public required SimNamespace Mnt { get; init; }
    /// <summary>UTS namespace.</summary>
    public required SimNamespace Uts { get; init; }
    /// <summary>IPC namespace.</summary>
    public required SimNamespace Ipc { get; init; }
    /// <summary>Cgroup namespace.</summary>
    public required SimNamespace Cgroup { get; init; }
    /// <summary>Network namespace.</summary>
    public required SimNamespace Net { get; init; }
    /// <summary>The time namespace the task is in.</summary>
    public required SimNamespace Time { get; init; }
    /// <summary>The time namespace children are created in (differs after <c>unshare(CLONE_NEWTIME)</c>).</summary>
    public required SimNamespace TimeForChildren { get; init; }
    /// <summary>The pid namespace children are created in (<c>pid_ns_for_children</c>).</summary>
    public required PidNamespace PidForChildren { get; init; }

    internal SimNamespace Get(NamespaceType t) => t switch
    {
        NamespaceType.Mnt => Mnt,
        NamespaceType.Uts => Uts,
        NamespaceType.Ipc => Ipc,
        NamespaceType.Cgroup => Cgroup,
        NamespaceType.Net => Net,
        NamespaceType.Time => Time,
        NamespaceType.Pid => PidForChildren,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}

/// <summary>
/// A task's credentials (<c>struct cred</c>), immutable and shared until changed: kernel uids, capabilities in
/// the task's user namespace, and the per-user process count RLIMIT_NPROC is checked against.
/// </summary>
public sealed class Creds
{
    internal Creds(uint uid, uint euid, uint suid, ulong caps, SimUserNs userNs, UserAccount account)
    {
        Uid = uid;
        Euid = euid;
        Suid = suid;
        Caps = caps;
        UserNs = userNs;
        Account = account;
    }

    /// <summary>The real uid (a kernel uid).</summary>
    public uint Uid { get; }
    /// <summary>The effective uid (a kernel uid).</summary>
    public uint Euid { get; }
    /// <summary>The saved uid (a kernel uid).</summary>
    public uint Suid { get; }
    /// <summary>Effective capabilities, valid in <see cref="UserNs"/>.</summary>
    public ulong Caps { get; }
    /// <summary>The user namespace.</summary>
    public SimUserNs UserNs { get; }
    /// <summary>The per-user account (tasks of this real uid in this user namespace).</summary>
    public UserAccount Account { get; }

    /// <summary><c>ns_capable</c> / <c>cap_capable</c> (security/commoncap.c): whether these credentials hold
    /// <paramref name="cap"/> over user namespace <paramref name="target"/>.</summary>
    public bool Capable(SimUserNs target, int cap)
    {
        for (var ns = target; ; ns = ns.Parent!)
        {
            if (ns == UserNs)
            {
                return Capabilities.Has(Caps, cap);
            }
            if (ns.Level <= UserNs.Level)
            {
                return false;
            }
            // The owner of a child namespace of ours holds every capability in it.
            if (ns.Parent == UserNs && ns.OwnerKuid == Euid)
            {
                return true;
            }
        }
    }
}

/// <summary>Tasks a user has (the RLIMIT_NPROC count, <c>UCOUNT_RLIMIT_NPROC</c>).</summary>
public sealed class UserAccount
{
    internal UserAccount(uint kuid, SimUserNs ns)
    {
        Kuid = kuid;
        Ns = ns;
    }
    /// <summary>The kernel uid.</summary>
    public uint Kuid { get; }
    /// <summary>The user namespace the count is kept in.</summary>
    public SimUserNs Ns { get; }
    /// <summary>Tasks (threads included) this user has.</summary>
    public long Tasks { get; internal set; }
}

/// <summary>A cgroup2 directory: a path, a parent, members, and whether it was removed.</summary>
public sealed class SimCgroup
{
    internal SimCgroup(string path, SimCgroup? parent)
    {
        Path = path;
        Parent = parent;
    }
    /// <summary>The path below the cgroup2 root ("/" for the root).</summary>
    public string Path { get; }
    /// <summary>The parent (null for the root).</summary>
    public SimCgroup? Parent { get; }
    /// <summary>Live tasks in it.</summary>
    public int Members { get; internal set; }
    /// <summary>Child cgroups.</summary>
    public int Children { get; internal set; }
    /// <summary>Removed with rmdir; open fds still refer to it.</summary>
    public bool Removed { get; internal set; }
}
