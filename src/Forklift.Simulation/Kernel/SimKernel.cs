using System.Collections.Immutable;
using Forklift.Abi;
using Forklift.Simulation.Programs;
using Forklift.Rules;

namespace Forklift.Simulation;

/// <summary>Settings of a simulated machine. The default is the reference machine of CLONE_RULES.md.</summary>
public sealed record SimKernelOptions
{
    /// <summary>The kernel release whose clone rules apply.</summary>
    public KernelVersion Kernel { get; init; } = KernelVersion.Reference;
    /// <summary><c>/proc/sys/kernel/pid_max</c> of the initial pid namespace (inherited by new ones); at most 4194304.</summary>
    public int PidMax { get; init; } = 32768;
    /// <summary><c>/proc/sys/kernel/threads-max</c>.</summary>
    public int ThreadsMax { get; init; } = int.MaxValue;
    /// <summary>The real, effective and saved uid of the first task.</summary>
    public uint InitUid { get; init; }
    /// <summary>
    /// The first task stands for the init of a pid namespace below the machine's own (a container's init; the
    /// differential tests run scenarios that way on Linux) rather than for the global init: the kernel's
    /// <c>is_global_init</c> is false for it, so a child of it links its process group to the session
    /// (will_become_orphaned_pgrp). Its exit still stops the model (it has no parent to report to).
    /// </summary>
    public bool InitInChildNamespace { get; init; }
}

/// <summary>
/// The simulated machine: a virtual clock, the initial namespaces, the task table (through the pid namespaces),
/// the programs, and the system calls (one partial file per family under Syscalls/). Single-threaded and
/// deterministic: the same calls in the same order give the same pids, states and traces.
/// </summary>
public sealed partial class SimKernel
{
    private long _serial;
    private long _nextInode = 4026531834;
    private long _eventSeq;
    private readonly PriorityQueue<TimedEvent, (long, long)> _events = new();
    private readonly Queue<Deferred> _deferred = new();
    private bool _draining;
    private bool _anyNamespaceLimit;
    private readonly Dictionary<string, SimFile> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SimCgroup> _cgroups = new(StringComparer.Ordinal);
    private readonly Dictionary<(SimUserNs, uint), UserAccount> _accounts = new();

    /// <summary>Creates a machine with one task, the global init (pid 1), running no program.</summary>
    public SimKernel(SimKernelOptions? options = null)
    {
        Options = options ?? new SimKernelOptions();
        if (Options.PidMax is < 2 or > SimConst.PidMaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "pid_max must be within 2..4194304");
        }
        RootUserNs = new SimUserNs(null, 0, NextInode()) { Refs = 1 };
        RootPidNs = new PidNamespace(null, RootUserNs, NextInode(), Options.PidMax) { Refs = 1 };
        RootCgroup = new SimCgroup("/", null);
        _cgroups["/"] = RootCgroup;
        Programs = new Programs.ProgramRegistry();
        Programs.RegisterBuiltins();
        Init = CreateInit();
    }

    /// <summary>The settings.</summary>
    public SimKernelOptions Options { get; }
    /// <summary>The virtual clock (ticks; scenarios read them as milliseconds).</summary>
    public long Now { get; private set; }
    /// <summary>The initial user namespace.</summary>
    public SimUserNs RootUserNs { get; }
    /// <summary>The initial pid namespace.</summary>
    public PidNamespace RootPidNs { get; }
    /// <summary>The cgroup2 root.</summary>
    public SimCgroup RootCgroup { get; }
    /// <summary>The global init (pid 1 of the initial pid namespace).</summary>
    public SimTask Init { get; }
    /// <summary>The program registry (paths execve can run).</summary>
    public Programs.ProgramRegistry Programs { get; }
    /// <summary>Live tasks (threads included), <c>nr_threads</c>.</summary>
    public int TaskCount { get; private set; }
    /// <summary>Processes that exist (live or zombie).</summary>
    public int ProcessCount { get; private set; }

    /// <summary>Receives one line per kernel event (exit, signal, reparent, reap); null (the default) costs nothing.</summary>
    public Action<string>? Trace { get; set; }

    /// <summary>Raised when a call that blocked completes (a wait that found a child, a vfork parent released).</summary>
    public event Action<SimTask, string, SysResult, WaitInfo>? CallCompleted;

    internal long NextInode() => ++_nextInode;

    internal void Emit(string line) => Trace?.Invoke($"[t={Now}] {line}");

    internal bool Tracing => Trace is not null;

    /// <summary>A short label for a task in traces: its pid in the initial namespace.</summary>
    public static string Label(SimTask t) => t.Pid.NrAtLevel(0).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private SimTask CreateInit()
    {
        var t = new SimTask(++_serial);
        var time = NewNs(NamespaceType.Time, RootUserNs);
        var nsp = new NsProxy
        {
            Mnt = NewNs(NamespaceType.Mnt, RootUserNs), Uts = NewNs(NamespaceType.Uts, RootUserNs),
            Ipc = NewNs(NamespaceType.Ipc, RootUserNs), Cgroup = NewNs(NamespaceType.Cgroup, RootUserNs),
            Net = NewNs(NamespaceType.Net, RootUserNs), Time = time, TimeForChildren = time, PidForChildren = RootPidNs,
        };
        HoldNsProxy(nsp);
        uint uid = Options.InitUid;
        t.Cred = NewCreds(uid, uid, uid, uid == 0 ? Capabilities.All : 0, RootUserNs);
        t.Ns = nsp;
        t.Mm = new AddressSpace();
        t.Files = new FdTable();
        OpenPath("/dev/null", 0);
        var console = OpenPath("/dev/console", 0);
        for (int fd = 0; fd < 3; fd++)
        {
            t.Files.InstallAt(fd, console, false);
        }
        t.Fs = new FsInfo();
        t.Sighand = new SignalHandlers();
        t.Cgroup = RootCgroup;
        RootCgroup.Members++;
        var pid = AllocPid(RootPidNs, ReadOnlySpan<int>.Empty)!;
        t.Pid = pid;
        var g = new ThreadGroup(t);
        t.Group = g;
        t.ExitSignal = Signals.SigChld;
        LinkThread(g, t);
        g.Live = 1;
        pid.Task = t;
        pid.TgidLeader = t;
        g.Pgrp = pid;
        g.Session = pid;
        g.SessionLeader = true;
        AttachPgrp(t, pid);
        AttachSession(t, pid);
        RootPidNs.ChildReaper = t;
        g.Unkillable = true;
        t.Cred.Account.Tasks++;
        TaskCount++;
        ProcessCount++;
        return t;
    }

    private SimNamespace NewNs(NamespaceType type, SimUserNs owner) => new(type, owner, NextInode());

    // ---------------------------------------------------------------------------------------------------------
    // Lookup and pid views.

    /// <summary><c>find_task_by_pid_ns</c>: the task with thread id <paramref name="nr"/> in <paramref name="ns"/>.</summary>
    public SimTask? FindTask(PidNamespace ns, int nr) => ns.Find(nr)?.Task;

    /// <summary>Finds a task by its pid in the initial namespace.</summary>
    public SimTask? FindTask(int globalPid) => FindTask(RootPidNs, globalPid);

    /// <summary>The process id of <paramref name="t"/> as <paramref name="viewer"/>'s pid namespace sees it (0 if invisible).</summary>
    public static int PidIn(SimTask t, SimTask viewer) => t.Group.Leader.Pid.NrIn(viewer.Pid.Ns);

    /// <summary>The thread id of <paramref name="t"/> as <paramref name="viewer"/>'s pid namespace sees it (0 if invisible).</summary>
    public static int TidIn(SimTask t, SimTask viewer) => t.Pid.NrIn(viewer.Pid.Ns);

    /// <summary>Every process that exists, in the order of its pid in the initial namespace (allocates).</summary>
    public List<SimTask> Processes()
    {
        var list = new List<SimTask>();
        foreach (var p in RootPidNs.Pids())
        {
            if (p.TgidLeader is { } t)
            {
                list.Add(t);
            }
        }
        return list;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Files and cgroups of the model's file system.

    /// <summary>The file at <paramref name="path"/>, or null if nothing was ever opened there.</summary>
    public SimFile? FindFile(string path) => _files.GetValueOrDefault(path);

    /// <summary>Creates a cgroup2 directory (like <c>mkdir /sys/fs/cgroup/PATH</c>); the parent must exist.</summary>
    public SysResult MakeCgroup(string path)
    {
        path = NormalizeCgroup(path);
        if (_cgroups.TryGetValue(path, out var existing) && !existing.Removed)
        {
            return SysResult.Fail(Errno.EEXIST);
        }
        int slash = path.LastIndexOf('/');
        string parentPath = slash <= 0 ? "/" : path[..slash];
        if (!_cgroups.TryGetValue(parentPath, out var parent) || parent.Removed)
        {
            return SysResult.Fail(Errno.ENOENT);
        }
        _cgroups[path] = new SimCgroup(path, parent);
        parent.Children++;
        return SysResult.Success(0);
    }

    /// <summary>Removes an empty cgroup2 directory (<c>rmdir</c>: EBUSY with members or children).</summary>
    public SysResult RemoveCgroup(string path)
    {
        path = NormalizeCgroup(path);
        if (!_cgroups.TryGetValue(path, out var cg) || cg.Removed || cg == RootCgroup)
        {
            return SysResult.Fail(cg == RootCgroup ? Errno.EBUSY : Errno.ENOENT);
        }
        if (cg.Members > 0 || cg.Children > 0)
        {
            return SysResult.Fail(Errno.EBUSY);
        }
        cg.Removed = true;
        cg.Parent!.Children--;
        _cgroups.Remove(path);
        return SysResult.Success(0);
    }

    /// <summary>The cgroup at a path, or null.</summary>
    public SimCgroup? FindCgroup(string path) => _cgroups.GetValueOrDefault(NormalizeCgroup(path));

    private static string NormalizeCgroup(string path)
    {
        const string Root = "/sys/fs/cgroup";
        if (path.StartsWith(Root, StringComparison.Ordinal))
        {
            path = path[Root.Length..];
        }
        path = path.TrimEnd('/');
        return path.Length == 0 ? "/" : path[0] == '/' ? path : "/" + path;
    }

    internal OpenFile OpenPath(string path, int flags)
    {
        if (!_files.TryGetValue(path, out var f))
        {
            f = new SimFile(path);
            _files[path] = f;
        }
        return new OpenFile(FileKind.Regular, path, flags) { File = f };
    }

    // ---------------------------------------------------------------------------------------------------------
    // Credentials, accounts, namespaces and their counts.

    internal Creds NewCreds(uint uid, uint euid, uint suid, ulong caps, SimUserNs ns)
    {
        if (!_accounts.TryGetValue((ns, uid), out var acct))
        {
            acct = new UserAccount(uid, ns);
            _accounts[(ns, uid)] = acct;
        }
        return new Creds(uid, euid, suid, caps, ns, acct);
    }

    /// <summary>Sets <c>/proc/sys/user/max_TYPE_namespaces</c> in a user namespace.</summary>
    public void SetNamespaceLimit(SimUserNs ns, NamespaceType type, long max)
    {
        ns.MaxNamespaces[(int)type] = max;
        _anyNamespaceLimit = true;
    }

    // inc_ucount (kernel/ucount.c): checked and charged at the namespace and every ancestor, each level with the
    // uid that owns the level below.
    private bool UcountReached(SimUserNs ns, uint kuid, NamespaceType type)
    {
        if (!_anyNamespaceLimit)
        {
            return false;
        }
        for (var n = ns; n is not null; kuid = n.OwnerKuid, n = n.Parent)
        {
            int used = n.Charges is not null && n.Charges.TryGetValue(kuid, out var c) ? c[(int)type] : 0;
            if (used >= n.MaxNamespaces[(int)type])
            {
                return true;
            }
        }
        return false;
    }

    private static void Charge(SimUserNs ns, uint kuid, NamespaceType type, int delta)
    {
        for (var n = ns; n is not null; kuid = n.OwnerKuid, n = n.Parent)
        {
            n.Charges ??= new Dictionary<uint, int[]>();
            if (!n.Charges.TryGetValue(kuid, out var c))
            {
                c = new int[NamespaceTypes.Count];
                n.Charges[kuid] = c;
            }
            c[(int)type] += delta;
        }
    }

    /// <summary>Namespaces of a type charged to a uid in a user namespace (for checks).</summary>
    public static int NamespacesCharged(SimUserNs ns, uint kuid, NamespaceType type) =>
        ns.Charges is not null && ns.Charges.TryGetValue(kuid, out var c) ? c[(int)type] : 0;

    // create_new_namespaces' copy_* for one type: a new namespace owned by `owner`, charged to (owner, kuid).
    internal SimNamespace CreateNamespace(NamespaceType type, SimUserNs owner, uint kuid, PidNamespace? pidParent = null)
    {
        SimNamespace ns = type == NamespaceType.Pid
            ? new PidNamespace(pidParent!, owner, NextInode(), pidParent!.PidMax) { CreatorKuid = kuid }
            : new SimNamespace(type, owner, NextInode()) { CreatorKuid = kuid };
        if (pidParent is not null)
        {
            pidParent.Refs++;
        }
        Charge(owner, kuid, type, +1);
        return ns;
    }

    internal SimUserNs CreateUserNs(SimUserNs parent, uint ownerKuid)
    {
        var ns = new SimUserNs(parent, ownerKuid, NextInode()) { Refs = 1 };
        Charge(parent, ownerKuid, NamespaceType.User, +1);
        return ns;
    }

    internal void Hold(SimNamespace ns) => ns.Refs++;

    // put_*_ns: the last reference frees the namespace and returns its ucount.
    internal void Put(SimNamespace ns)
    {
        if (--ns.Refs > 0 || ns is SimUserNs)
        {
            return;
        }
        if (ns.Owner is { } owner)
        {
            Charge(owner, ns.CreatorKuid, ns.Type, -1);
        }
        if (ns is PidNamespace { Parent: { } parent })
        {
            Put(parent);
        }
    }

    internal void HoldNsProxy(NsProxy p)
    {
        Hold(p.Mnt); Hold(p.Uts); Hold(p.Ipc); Hold(p.Cgroup); Hold(p.Net); Hold(p.Time); Hold(p.TimeForChildren); Hold(p.PidForChildren);
    }

    internal void PutNsProxy(NsProxy p)
    {
        if (--p.Users > 0)
        {
            return;
        }
        Put(p.Mnt); Put(p.Uts); Put(p.Ipc); Put(p.Cgroup); Put(p.Net); Put(p.Time); Put(p.TimeForChildren); Put(p.PidForChildren);
    }

    // ---------------------------------------------------------------------------------------------------------
    // The caller context the clone rules are evaluated against, derived from the task.

    /// <summary>
    /// The <see cref="CallerContext"/> of a task, derived from its simulated state (credentials, namespaces,
    /// rlimits, pids in use, fd table), so the rules see exactly what the kernel would. Cached per task and
    /// rebuilt only when a field changes.
    /// </summary>
    public CallerContext ContextOf(SimTask t) => ContextOf(t, t.Ns.PidForChildren, PidNsMode(t) == 1);

    // 0: children go to the active pid namespace; 1: unshared, no init yet (the rules model it); 2: any other
    // (after setns, or an unshared namespace whose init exists): evaluated "as if" in that namespace.
    internal static int PidNsMode(SimTask t)
    {
        var forChildren = t.Ns.PidForChildren;
        var active = t.Pid.Ns;
        if (forChildren == active)
        {
            return 0;
        }
        return forChildren.Parent == active && forChildren.ChildReaper is null ? 1 : 2;
    }

    private CallerContext ContextOf(SimTask t, PidNamespace basis, bool unshared)
    {
        var cred = t.Cred;
        var g = t.Group;
        var active = unshared ? t.Pid.Ns : basis;
        var forChildren = t.Ns.PidForChildren;
        var userNs = cred.UserNs;
        int owned = 0;
        for (int level = active.Level; level >= 0 && active.AncestorAt(level).Owner is { } o && o.IsSameOrDescendantOf(userNs); level--)
        {
            owned++;
        }
        bool pidSpaceFull = false;
        for (var n = forChildren; n is not null; n = n.Parent)
        {
            pidSpaceFull |= n.IsFull;
        }
        ImmutableArray<long> limits = CallerContext.Root.NamespaceLimits;
        if (_anyNamespaceLimit)
        {
            var b = ImmutableArray.CreateBuilder<long>(NamespaceTypes.Count);
            for (int i = 0; i < NamespaceTypes.Count; i++)
            {
                b.Add(UcountReached(userNs, cred.Euid, (NamespaceType)i) ? 0 : long.MaxValue);
            }
            limits = b.MoveToImmutable();
        }
        var c = t.CachedContext;
        uint uid = userNs.FromKuid(cred.Euid);
        bool mapped = userNs.HasMapping(cred.Euid);
        bool unsharedTime = t.Ns.TimeForChildren != t.Ns.Time;
        bool chrooted = t.Fs.Root != "/";
        bool noFreeFd = t.Files.Count >= g.RlimitNofile;
        bool threadsAtMax = TaskCount >= Options.ThreadsMax;
        bool outside = !userNs.IsSameOrDescendantOf(active.Owner!);
        var inUse = active.PidsInUseChain;
        if (c is not null && c.Uid == uid && c.IsGlobalRoot == (cred.Uid == 0) && c.Capabilities == cred.Caps
            && c.UserNsLevel == userNs.Level && c.UidMapped == mapped && c.PidNsLevel == active.Level
            && c.PidNsLevelsOwned == owned && c.IsPidNsInit == g.Unkillable && c.PidNsForChildrenUnshared == unshared
            && c.PidNsForChildrenInitExited == !forChildren.AcceptsPids && c.TimeNsForChildrenUnshared == unsharedTime
            && c.Chrooted == chrooted && c.ChildSubreaper == g.IsChildSubreaper && c.RlimitNproc == g.RlimitNproc
            && (c.RlimitNproc == ulong.MaxValue || c.UserProcesses == cred.Account.Tasks)
            && c.NamespaceLimits == limits && c.PidMax == forChildren.PidMax && c.PidsInUse == inUse
            && c.NoFreeFd == noFreeFd && c.ThreadsAtMax == threadsAtMax && c.PidSpaceFull == pidSpaceFull
            && c.PidNsOwnerOutsideUserNs == outside && c.Kernel == Options.Kernel)
        {
            return c;
        }
        c = new CallerContext
        {
            Kernel = Options.Kernel,
            Uid = uid,
            IsGlobalRoot = cred.Uid == 0,
            Capabilities = cred.Caps,
            UserNsLevel = userNs.Level,
            UidMapped = mapped,
            PidNsLevel = active.Level,
            PidNsLevelsOwned = owned,
            IsPidNsInit = g.Unkillable,
            PidNsForChildrenUnshared = unshared,
            PidNsForChildrenInitExited = !forChildren.AcceptsPids,
            TimeNsForChildrenUnshared = unsharedTime,
            Chrooted = chrooted,
            ChildSubreaper = g.IsChildSubreaper,
            RlimitNproc = g.RlimitNproc,
            UserProcesses = g.RlimitNproc == ulong.MaxValue ? 1 : cred.Account.Tasks,
            NamespaceLimits = limits,
            PidMax = forChildren.PidMax,
            PidsInUse = inUse,
            NoFreeFd = noFreeFd,
            ThreadsAtMax = threadsAtMax,
            PidSpaceFull = pidSpaceFull,
            PidNsOwnerOutsideUserNs = outside,
        };
        t.CachedContext = c;
        return c;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Lists: children, threads, process groups, sessions.

    internal static void AddChild(SimTask parent, SimTask child)
    {
        child.PrevSibling = parent.LastChild;
        child.NextSibling = null;
        if (parent.LastChild is null)
        {
            parent.FirstChild = child;
        }
        else
        {
            parent.LastChild.NextSibling = child;
        }
        parent.LastChild = child;
    }

    internal static void RemoveChild(SimTask parent, SimTask child)
    {
        if (child.PrevSibling is null)
        {
            parent.FirstChild = child.NextSibling;
        }
        else
        {
            child.PrevSibling.NextSibling = child.NextSibling;
        }
        if (child.NextSibling is null)
        {
            parent.LastChild = child.PrevSibling;
        }
        else
        {
            child.NextSibling.PrevSibling = child.PrevSibling;
        }
        child.NextSibling = child.PrevSibling = null;
    }

    internal static void LinkThread(ThreadGroup g, SimTask t)
    {
        t.PrevThread = g.LastThread;
        t.NextThread = null;
        if (g.LastThread is null)
        {
            g.FirstThread = t;
        }
        else
        {
            g.LastThread.NextThread = t;
        }
        g.LastThread = t;
        g.ThreadCount++;
    }

    internal static void UnlinkThread(ThreadGroup g, SimTask t)
    {
        if (t.PrevThread is null)
        {
            g.FirstThread = t.NextThread;
        }
        else
        {
            t.PrevThread.NextThread = t.NextThread;
        }
        if (t.NextThread is null)
        {
            g.LastThread = t.PrevThread;
        }
        else
        {
            t.NextThread.PrevThread = t.PrevThread;
        }
        t.NextThread = t.PrevThread = null;
        g.ThreadCount--;
    }

    internal static void AttachPgrp(SimTask leader, SimPid pgrp)
    {
        leader.PgrpPrev = null;
        leader.PgrpNext = pgrp.PgrpHead;
        if (pgrp.PgrpHead is not null)
        {
            pgrp.PgrpHead.PgrpPrev = leader;
        }
        pgrp.PgrpHead = leader;
        pgrp.PgrpCount++;
    }

    internal void DetachPgrp(SimTask leader, SimPid pgrp)
    {
        if (leader.PgrpPrev is null)
        {
            pgrp.PgrpHead = leader.PgrpNext;
        }
        else
        {
            leader.PgrpPrev.PgrpNext = leader.PgrpNext;
        }
        if (leader.PgrpNext is not null)
        {
            leader.PgrpNext.PgrpPrev = leader.PgrpPrev;
        }
        leader.PgrpNext = leader.PgrpPrev = null;
        pgrp.PgrpCount--;
        MaybeFreePid(pgrp);
    }

    internal static void AttachSession(SimTask leader, SimPid sid)
    {
        leader.SessionPrev = null;
        leader.SessionNext = sid.SessionHead;
        if (sid.SessionHead is not null)
        {
            sid.SessionHead.SessionPrev = leader;
        }
        sid.SessionHead = leader;
        sid.SessionCount++;
    }

    internal void DetachSession(SimTask leader, SimPid sid)
    {
        if (leader.SessionPrev is null)
        {
            sid.SessionHead = leader.SessionNext;
        }
        else
        {
            leader.SessionPrev.SessionNext = leader.SessionNext;
        }
        if (leader.SessionNext is not null)
        {
            leader.SessionNext.SessionPrev = leader.SessionPrev;
        }
        leader.SessionNext = leader.SessionPrev = null;
        sid.SessionCount--;
        MaybeFreePid(sid);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Pids: alloc_pid and free_pid (kernel/pid.c).

    // alloc_pid: one number per level, from the deepest outwards; set_tid[i] (deepest first) picks the number
    // at level ns->level - i. The rules have already refused what the kernel refuses; null only if full.
    internal SimPid? AllocPid(PidNamespace ns, ReadOnlySpan<int> setTid)
    {
        int level = ns.Level;
        int deepNr = 0;
        int[]? upper = level > 0 ? new int[level] : null;
        for (var n = ns; n is not null; n = n.Parent)
        {
            int i = level - n.Level;
            int nr = i < setTid.Length ? (n.AllocExact(setTid[i]) ? setTid[i] : -1) : n.AllocCyclic();
            if (nr < 0)
            {
                return null; // nothing was taken yet: numbers are set below, once every level has one
            }
            if (n == ns)
            {
                deepNr = nr;
            }
            else
            {
                upper![n.Level] = nr;
            }
        }
        var pid = new SimPid(ns, deepNr, upper);
        for (var n = ns; n is not null; n = n.Parent)
        {
            n.Set(pid.NrAtLevel(n.Level), pid);
        }
        ns.Refs++;
        return pid;
    }

    // free_pid: once no task uses the pid in any role, its numbers are returned to every namespace. An init
    // waiting in zap_pid_ns_processes for its namespace to empty continues when only its own pids remain.
    internal void MaybeFreePid(SimPid pid)
    {
        if (pid.InUse || !pid.Allocated)
        {
            return;
        }
        pid.Allocated = false;
        for (var n = pid.Ns; n is not null; n = n.Parent)
        {
            n.Clear(pid.NrAtLevel(n.Level));
            if (n.ZapWaiter is not null && n.Allocated <= n.ZapInitPids)
            {
                Defer(DeferredKind.ZapDone, n.ZapWaiter, 0);
            }
        }
        Put(pid.Ns);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Deferred work and the event queue.

    internal enum DeferredKind
    {
        Signal,     // deliver pending signals / act on a group exit
        Wake,       // retry a blocked wait
        ZapDone,    // an init's namespace has emptied
        Exit,       // a thread dies of a group exit
    }

    internal readonly record struct Deferred(DeferredKind Kind, SimTask Task, int Arg);

    internal void Defer(DeferredKind kind, SimTask task, int arg) => _deferred.Enqueue(new Deferred(kind, task, arg));

    // Runs what the kernel would do right after the current call (signal delivery, wakeups), in FIFO order.
    internal void Settle()
    {
        if (_draining || _deferred.Count == 0)
        {
            return;
        }
        _draining = true;
        try
        {
            while (_deferred.TryDequeue(out var d))
            {
                RunDeferred(d);
            }
        }
        finally
        {
            _draining = false;
        }
    }

    private void RunDeferred(Deferred d)
    {
        switch (d.Kind)
        {
            case DeferredKind.Signal: DeliverPending(d.Task); break;
            case DeferredKind.Wake: RetryBlocked(d.Task); break;
            case DeferredKind.ZapDone: ZapDone(d.Task); break;
            case DeferredKind.Exit: if (!d.Task.Exiting) { DoExit(d.Task, d.Arg); } break;
        }
    }

    // Runs now the deferred work of the tasks in `ns` and below (what the SIGKILLs of zap_pid_ns_processes set
    // off), and what that work defers for them in turn; the other tasks' work keeps its place and order, before
    // the work deferred meanwhile for tasks outside.
    internal void RunDeferredIn(PidNamespace ns)
    {
        bool was = _draining;
        _draining = true;
        var kept = new List<Deferred>();
        try
        {
            while (_deferred.Count > 0)
            {
                var batch = _deferred.ToArray();
                _deferred.Clear();
                bool any = false;
                foreach (var d in batch)
                {
                    if (d.Task.Pid.Ns.IsSameOrDescendantOf(ns))
                    {
                        RunDeferred(d);
                        any = true;
                    }
                    else
                    {
                        kept.Add(d);
                    }
                }
                if (!any)
                {
                    break;
                }
            }
        }
        finally
        {
            var later = _deferred.ToArray();
            _deferred.Clear();
            foreach (var d in kept)
            {
                _deferred.Enqueue(d);
            }
            foreach (var d in later)
            {
                _deferred.Enqueue(d);
            }
            _draining = was;
        }
    }

    internal readonly record struct TimedEvent(SimTask Task, int Generation, bool Timer);

    internal void Schedule(SimTask t, long at, bool timer = false) =>
        _events.Enqueue(new TimedEvent(t, t.Generation, timer), (at, ++_eventSeq));

    /// <summary>Runs every program step due now, without advancing the clock.</summary>
    public void RunDue() => RunUntil(Now);

    /// <summary>Advances the virtual clock by <paramref name="ticks"/>, running every program step and timer due.</summary>
    public void Advance(long ticks) => RunUntil(Now + ticks);

    /// <summary>Runs until no event is left or <paramref name="limit"/> ticks have passed; returns the ticks advanced.</summary>
    public long RunUntilIdle(long limit = 1_000_000)
    {
        long start = Now;
        while (_events.TryPeek(out _, out var key) && key.Item1 <= start + limit)
        {
            RunUntil(key.Item1);
        }
        return Now - start;
    }

    /// <summary>True when a program step or timer is scheduled.</summary>
    public bool HasPendingEvents => _events.Count > 0;

    private void RunUntil(long until)
    {
        Settle();
        while (_events.TryPeek(out var e, out var key) && key.Item1 <= until)
        {
            _events.Dequeue();
            Now = Math.Max(Now, key.Item1);
            if (e.Generation != e.Task.Generation)
            {
                continue;
            }
            if (e.Timer)
            {
                TimerFired(e.Task);
            }
            else
            {
                ProgramRun.Step(this, e.Task);
            }
            Settle();
        }
        Now = Math.Max(Now, until);
    }

    internal void Completed(SimTask t, string call, SysResult r, WaitInfo w = default) => CallCompleted?.Invoke(t, call, r, w);

    /// <summary>Throws when a task cannot make a system call now (reaped, zombie, stopped, asleep, a vfork parent).</summary>
    internal static void Enter(SimTask t)
    {
        if (t.State != TaskState.Running || t.Exiting)
        {
            throw new SimulationException($"task {Label(t)} cannot make a system call: it is {Describe(t)}");
        }
        if (t.Block is not null)
        {
            throw new SimulationException($"task {Label(t)} cannot make a system call: it is blocked in {t.Block.Kind.ToString().ToLowerInvariant()}");
        }
    }

    /// <summary>
    /// The namespace a task's /proc/PID/ns/<paramref name="name"/> link names (namespaces(7): mnt, uts, ipc, net,
    /// cgroup, time, user, pid, pid_for_children, time_for_children), or null for another name.
    /// </summary>
    public static SimNamespace? NamespaceOf(SimTask t, string name) => name switch
    {
        "user" => t.Cred.UserNs,
        "pid" => t.Pid.Ns,
        "pid_for_children" => t.Ns.PidForChildren,
        "time_for_children" => t.Ns.TimeForChildren,
        _ when Forklift.Rules.NamespaceTypes.TryParse(name, out var type) => t.Ns.Get(type),
        _ => null,
    };

    /// <summary>A one-word state: running, sleeping, vfork, stopped, exiting, zombie, reaped.</summary>
    public static string Describe(SimTask t) => t.State switch
    {
        TaskState.Running when t.Block is not null => "sleeping",
        TaskState.Running => "running",
        TaskState.VforkWait => "vfork",
        TaskState.Stopped => "stopped",
        TaskState.Exiting => "exiting",
        TaskState.Zombie => "zombie",
        _ => "reaped",
    };
}

/// <summary>A simulation used wrongly (a call from a task that cannot run, an unknown name in a scenario).</summary>
public sealed class SimulationException(string message) : Exception(message);
