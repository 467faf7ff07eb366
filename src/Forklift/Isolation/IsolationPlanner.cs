using System.Globalization;
using System.Text;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Spawning;

namespace Forklift.Isolation;

/// <summary>
/// Turns a command's <see cref="Isolation"/> into plan steps, clone flags and parent work. Pure, like
/// <see cref="SpawnPlanBuilder"/>, which calls it phase by phase. Where each part runs and why:
/// <list type="bullet">
/// <item>Joins first (setns, user first): entering a user namespace grants the rights the others need.</item>
/// <item>Id maps next, before anything that creates files or checks ids (an unmapped fsuid cannot create files).
/// Written by the child itself when they need no privilege in the parent namespace (the fast path stays open),
/// otherwise by the parent while the child waits on the sync pipe.</item>
/// <item>The time namespace is unshared by the child, not created by the clone: the kernel accepts offsets only
/// before a process has entered the namespace, and unshare(CLONE_NEWTIME) enters it only for children and at exec.</item>
/// <item>Mounts: propagation, then every bind source opened as a detached tree (open_tree) before anything is
/// covered, then the read-only root, then the operations in order, then a chdir so the working directory is
/// looked up again in the new view.</item>
/// <item>Hostname, loopback; then, with a pid namespace, the init (FL_OP_INIT): every step after it runs in the
/// program's process.</item>
/// <item>Capabilities: the bounding set is cut before credentials change (CAP_SETPCAP is needed), the kept set
/// installed after (a uid change clears the effective set; PR_SET_KEEPCAPS keeps the permitted one).</item>
/// </list>
/// </summary>
internal static class IsolationPlanner
{
    // mount(2) flags (include/uapi/linux/mount.h)
    private const long MsNoSuid = 0x2, MsNoDev = 0x4, MsNoExec = 0x8, MsRec = 0x4000, MsPrivate = 0x40000, MsSlave = 0x80000, MsShared = 0x100000;
    private const long MountAttrRdonly = 0x1;
    private const long OpenTreeClone = 0x1, AtRecursive = 0x8000;

    /// <summary>The most namespace-setup slots a plan may use (FL_MAX_SLOTS).</summary>
    private const int MaxSlots = SpawnOp.MaxSlots;

    /// <summary>The clone flags that create the new namespaces (without NEWTIME: see the class remarks).</summary>
    public static CloneFlags CloneFlagsOf(Isolation iso) =>
        NamespaceKinds.ToCloneFlags(iso.NewNamespaces & ~Namespaces.Time);

    /// <summary>
    /// True when the command must take the full path (no CLONE_VM): setns into a time namespace refuses a process
    /// that shares its memory with another (timens_install: current_is_single_threaded), and the maps need the
    /// parent (<see cref="ParentWritesMaps"/>).
    /// </summary>
    public static bool NeedsFullPath(Isolation iso, uint euid, uint egid) =>
        iso.JoinsKind(Namespaces.Time) || ParentWritesMaps(iso, euid, egid);

    /// <summary>True when the id maps need the parent's privilege (see <see cref="UserNamespaceMapping.ChildCanWrite"/>).</summary>
    public static bool ParentWritesMaps(Isolation iso, uint euid, uint egid) =>
        iso.UserMapping is { } m && (iso.NewNamespaces & Namespaces.User) != 0 && !m.ChildCanWrite(euid, egid);

    /// <summary>
    /// Refuses conflicting or malformed requests before anything is created, naming the option.
    /// </summary>
    /// <exception cref="CommandException">The isolation cannot be done as asked.</exception>
    public static void Validate(Command c)
    {
        var iso = c.Isolation;
        if (iso.IsEmpty)
            return;
        var n = iso.NewNamespaces;
        if ((n & ~Namespaces.All) != 0)
            throw new CommandException("Isolation.NewNamespaces", $"unknown namespace bits 0x{(int)n:x}");
        Namespaces joined = 0;
        foreach (var j in iso.Joins)
        {
            if ((joined & j.Kinds) != 0)
                throw new CommandException("Isolation.Joins", $"joins the {NamespaceKinds.Format(joined & j.Kinds)} namespace twice");
            joined |= j.Kinds;
        }
        if ((joined & n) != 0)
            throw new CommandException("Isolation.Joins", $"both creates and joins a {NamespaceKinds.Format(joined & n)} namespace");
        if ((NamespaceKinds.FromCloneFlags(c.CloneFlags) & (n | joined)) != 0)
            throw new CommandException("CloneFlags", $"names namespace flags ({NamespaceKinds.Format(NamespaceKinds.FromCloneFlags(c.CloneFlags) & (n | joined))}) that the isolation already handles: say them once, in the isolation");
        if (iso.UserMapping is { } map)
        {
            if ((n & Namespaces.User) == 0)
                throw new CommandException("Isolation.UserMapping", "id maps need a new user namespace (Namespaces.User)");
            if (map.Problem() is { } problem)
                throw new CommandException("Isolation.UserMapping", problem);
        }
        if (iso.ProgramIsPid1 && (n & Namespaces.Pid) == 0)
            throw new CommandException("Isolation.ProgramIsPid1", "the program can be pid 1 only of a new pid namespace (Namespaces.Pid)");
        if ((iso.ReadOnlyRoot || !iso.Mounts.IsEmpty || iso.Propagation != MountPropagation.Private) && (n & Namespaces.Mount) == 0)
            throw new CommandException("Isolation.Mounts", "mount operations, a read-only root and a propagation change need a new mount namespace (Namespaces.Mount); they would change the caller's");
        if ((iso.Hostname is not null || iso.DomainName is not null) && (n & Namespaces.Uts) == 0)
            throw new CommandException("Isolation.Hostname", "a hostname or domain name needs a new UTS namespace (Namespaces.Uts); it would change the caller's");
        CheckName(iso.Hostname, "Isolation.Hostname");
        CheckName(iso.DomainName, "Isolation.DomainName");
        if (iso.TimeOffsets is not null && (n & Namespaces.Time) == 0)
            throw new CommandException("Isolation.TimeOffsets", "clock offsets need a new time namespace (Namespaces.Time)");
        if (!iso.SetTid.IsEmpty)
        {
            if ((n & Namespaces.Pid) != 0 && iso.SetTid[0] != 1)
                throw new CommandException("Isolation.SetTid", $"with a new pid namespace the first set_tid entry is the pid in it and must be 1, not {iso.SetTid[0]}");
            foreach (int tid in iso.SetTid)
                if (tid < 1)
                    throw new CommandException("Isolation.SetTid", $"{tid} is not a pid (pids start at 1)");
            if (c.CloneEntry == CloneEntryPolicy.LegacyClone)
                throw new CommandException("Isolation.SetTid", "set_tid exists only in clone3; the command asks for the legacy clone");
        }
        int slots = 0;
        foreach (var op in iso.Mounts)
        {
            if (!op.Target.StartsWith('/'))
                throw new CommandException("Isolation.Mounts", $"'{op}': paths inside the mount namespace must be absolute");
            if (op.Target.Contains('\0') || (op is MountOperation.Bind b && (b.Source.Contains('\0') || b.Source.Length == 0)))
                throw new CommandException("Isolation.Mounts", $"'{op}': a path contains NUL or is empty");
            slots += op switch
            {
                MountOperation.Bind => 1,
                MountOperation.Devices => MountOperation.Devices.Nodes.Count,
                _ => 0,
            };
        }
        if (iso.ReadOnlyRoot)
        {
            // On the read-only view a mount point can be created only inside a tmpfs mounted earlier: refuse the
            // others now, rather than fail in the child with EROFS
            var tmpfs = new List<string>();
            foreach (var op in iso.Mounts)
            {
                string target = op.Target.TrimEnd('/');
                bool underTmpfs = tmpfs.Exists(t => target.StartsWith(t + "/", StringComparison.Ordinal) || target == t);
                if (!underTmpfs && op is not MountOperation.RemountReadOnly && !Path.Exists(target.Length == 0 ? "/" : target))
                    throw new CommandException("Isolation.Mounts", $"'{op}': {target} does not exist, and the read-only view of / cannot get a new mount point; choose an existing path, or one inside a tmpfs mounted before it (such as /tmp)");
                if (op is MountOperation.Tmpfs or MountOperation.Devices)
                    tmpfs.Add(target);
            }
        }
        if (slots > MaxSlots)
            throw new CommandException("Isolation.Mounts", $"{slots} bind mounts (device nodes included); a plan holds at most {MaxSlots}");
        foreach (var j in iso.Joins)
        {
            if (j.Path is { } p && (p.Contains('\0') || !Path.IsPathRooted(p)))
                throw new CommandException("Isolation.Joins", $"'{p}': a namespace path must be absolute and free of NUL");
        }
    }

    private static void CheckName(string? name, string option)
    {
        if (name is null)
            return;
        int bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes == 0 || bytes > 64 || name.Contains('\0'))
            throw new CommandException(option, $"'{name}' must be 1 to 64 bytes without NUL (__NEW_UTS_LEN)");
    }

    /// <summary>Joins: setns for each, user first. <paramref name="joinFds"/> holds the parent's fd of each join.</summary>
    public static void AddJoins(ref StepList steps, Isolation iso, IReadOnlyList<int> joinFds)
    {
        // the kernel's order: a user namespace first (it grants CAP_SYS_ADMIN over the others)
        foreach (var kind in NamespaceKinds.JoinOrder)
        {
            for (int i = 0; i < iso.Joins.Length; i++)
            {
                var j = iso.Joins[i];
                if ((j.Kinds & kind) == 0)
                    continue;
                // a pidfd joins all its kinds in one call, at the position of its first (lowest-order) kind
                if (j.IsProcess && FirstKind(j.Kinds) != kind)
                    continue;
                long nstype = (long)(ulong)NamespaceKinds.ToCloneFlags(j.IsProcess ? j.Kinds : kind);
                steps.Add(PlanStep.Of(SpawnOp.Setns, a: joinFds[i], b: nstype, obj: j.ToString()));
            }
        }
    }

    private static Namespaces FirstKind(Namespaces kinds)
    {
        foreach (var kind in NamespaceKinds.JoinOrder)
            if ((kinds & kind) != 0)
                return kind;
        return Namespaces.None;
    }

    /// <summary>Id maps written by the child itself (setgroups first: an unprivileged gid map requires "deny").</summary>
    public static void AddChildMaps(ref StepList steps, Isolation iso, uint euid, uint egid)
    {
        if (iso.UserMapping is not { } m || (iso.NewNamespaces & Namespaces.User) == 0 || ParentWritesMaps(iso, euid, egid))
            return;
        if (!m.GidMap.IsEmpty || m.Setgroups == SetgroupsPolicy.Deny)
            steps.Add(PlanStep.WriteFile("/proc/self/setgroups", "deny"));
        if (!m.UidMap.IsEmpty)
            steps.Add(PlanStep.WriteFile("/proc/self/uid_map", UserNamespaceMapping.MapText(m.UidMap)));
        if (!m.GidMap.IsEmpty)
            steps.Add(PlanStep.WriteFile("/proc/self/gid_map", UserNamespaceMapping.MapText(m.GidMap)));
    }

    /// <summary>The time namespace: unshare it for the program, then the offsets (before anyone enters it).</summary>
    public static void AddTime(ref StepList steps, Isolation iso)
    {
        if ((iso.NewNamespaces & Namespaces.Time) == 0)
            return;
        steps.Add(PlanStep.Of(SpawnOp.Unshare, a: (long)CloneFlags.NewTime));
        if (iso.TimeOffsets is { } t)
            steps.Add(PlanStep.WriteFile("/proc/self/timens_offsets", t.FileText()));
    }

    /// <summary>The mount namespace's steps; see the class remarks for the order.</summary>
    /// <param name="steps">The plan's steps.</param>
    /// <param name="iso">The isolation.</param>
    /// <param name="isDirectory">Tells whether a bind source is a directory (a file source needs a file as mount point).</param>
    public static void AddMounts(ref StepList steps, Isolation iso, Func<string, bool> isDirectory)
    {
        if ((iso.NewNamespaces & Namespaces.Mount) == 0)
            return;
        long propagation = iso.Propagation switch
        {
            MountPropagation.Private => MsPrivate,
            MountPropagation.Slave => MsSlave,
            MountPropagation.Shared => MsShared,
            _ => 0,
        };
        if (propagation != 0)
            steps.Add(Mount("", "/", "", "", MsRec | propagation));

        // Every source first, as a detached copy: later operations may cover it
        int slot = 0;
        var slotOf = new Dictionary<(MountOperation, int), int>(ReferenceEqualityComparer2.Instance);
        foreach (var op in iso.Mounts)
        {
            switch (op)
            {
                case MountOperation.Bind b:
                    slotOf[(op, 0)] = slot;
                    steps.Add(PlanStep.Of(SpawnOp.OpenTree, a: OpenTreeClone | AtRecursive, c: slot++, str: b.Source));
                    break;
                case MountOperation.Devices:
                    for (int i = 0; i < MountOperation.Devices.Nodes.Count; i++)
                    {
                        slotOf[(op, i)] = slot;
                        steps.Add(PlanStep.Of(SpawnOp.OpenTree, a: OpenTreeClone, c: slot++, str: "/dev/" + MountOperation.Devices.Nodes[i]));
                    }
                    break;
            }
        }

        if (iso.ReadOnlyRoot)
            steps.Add(PlanStep.Of(SpawnOp.MountSetattr, a: SpawnOp.AtFdCwd, b: MountAttrRdonly, c: AtRecursive, str: "/"));

        foreach (var op in iso.Mounts)
        {
            switch (op)
            {
                case MountOperation.Bind b:
                    int s = slotOf[(op, 0)];
                    if (b.ReadOnly)
                        steps.Add(PlanStep.Of(SpawnOp.MountSetattr, a: SpawnOp.Slot(s), b: MountAttrRdonly, c: AtRecursive, str: b.Destination));
                    if (isDirectory(b.Source))
                        MakeDirectories(ref steps, b.Destination);
                    else
                    {
                        MakeDirectories(ref steps, ParentOf(b.Destination));
                        steps.Add(PlanStep.Of(SpawnOp.CreateFile, a: 0x1a4 /* 0644 */, str: b.Destination));
                    }
                    steps.Add(PlanStep.Of(SpawnOp.MoveMount, a: SpawnOp.Slot(s), str: b.Destination));
                    break;
                case MountOperation.Tmpfs t:
                    MakeDirectories(ref steps, t.Destination);
                    steps.Add(Mount("tmpfs", t.Destination, "tmpfs", t.Data, MsNoSuid | MsNoDev));
                    break;
                case MountOperation.Proc p:
                    MakeDirectories(ref steps, p.Destination);
                    steps.Add(Mount("proc", p.Destination, "proc", "", MsNoSuid | MsNoDev | MsNoExec));
                    break;
                case MountOperation.Devices d:
                    AddDevices(ref steps, d, i => slotOf[(op, i)]);
                    break;
                case MountOperation.RemountReadOnly r:
                    steps.Add(PlanStep.Of(SpawnOp.MountSetattr, a: SpawnOp.AtFdCwd, b: MountAttrRdonly, c: r.Recursive ? AtRecursive : 0, str: r.Path));
                    break;
                case MountOperation.MakeDirectory m:
                    MakeDirectories(ref steps, m.Path, m.Mode);
                    break;
            }
        }

        if (iso.RemountProc && (iso.NewNamespaces & Namespaces.Pid) != 0 && !iso.Mounts.Any(m => m is MountOperation.Proc))
            steps.Add(Mount("proc", "/proc", "proc", "", MsNoSuid | MsNoDev | MsNoExec));
    }

    /// <summary>A minimal /dev: tmpfs, the host's nodes bound onto empty files, devpts, shm and the usual links.</summary>
    private static void AddDevices(ref StepList steps, MountOperation.Devices d, Func<int, int> slotOf)
    {
        string dev = d.Destination.TrimEnd('/');
        MakeDirectories(ref steps, dev);
        steps.Add(Mount("tmpfs", dev, "tmpfs", "mode=755,size=1m", MsNoSuid | MsNoExec));
        for (int i = 0; i < MountOperation.Devices.Nodes.Count; i++)
        {
            string node = dev + "/" + MountOperation.Devices.Nodes[i];
            steps.Add(PlanStep.Of(SpawnOp.CreateFile, a: 0x1b6 /* 0666 */, str: node));
            steps.Add(PlanStep.Of(SpawnOp.MoveMount, a: SpawnOp.Slot(slotOf(i)), str: node));
        }
        // a new devpts instance: its own ptmx, no gid= option (gid 5 may be unmapped in a user namespace)
        steps.Add(PlanStep.Of(SpawnOp.Mkdir, a: 0x1ed, b: 1, str: dev + "/pts"));
        steps.Add(Mount("devpts", dev + "/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620", MsNoSuid | MsNoExec));
        steps.Add(Symlink("pts/ptmx", dev + "/ptmx"));
        steps.Add(PlanStep.Of(SpawnOp.Mkdir, a: 0x3ff /* 01777 */, b: 1, str: dev + "/shm"));
        steps.Add(Mount("tmpfs", dev + "/shm", "tmpfs", "mode=1777", MsNoSuid | MsNoDev));
        steps.Add(Symlink("/proc/self/fd", dev + "/fd"));
        steps.Add(Symlink("/proc/self/fd/0", dev + "/stdin"));
        steps.Add(Symlink("/proc/self/fd/1", dev + "/stdout"));
        steps.Add(Symlink("/proc/self/fd/2", dev + "/stderr"));
    }

    /// <summary>Hostname, domain name, loopback.</summary>
    public static void AddHost(ref StepList steps, Isolation iso)
    {
        if (iso.Hostname is { } host)
            steps.Add(PlanStep.Of(SpawnOp.SetHostname, a: Encoding.UTF8.GetByteCount(host), str: host));
        if (iso.DomainName is { } domain)
            steps.Add(PlanStep.Of(SpawnOp.SetDomainName, a: Encoding.UTF8.GetByteCount(domain), str: domain));
        if ((iso.NewNamespaces & Namespaces.Net) != 0 && iso.LoopbackUp)
            steps.Add(PlanStep.Of(SpawnOp.LoopbackUp));
    }

    /// <summary>Capability steps before the credentials: cut the bounding set; keep the permitted set across a uid change.</summary>
    public static void AddCapabilityBounding(ref StepList steps, Command c, int lastCap)
    {
        if (c.Isolation.Capabilities is not { } policy)
            return;
        ulong drop = Supported(lastCap) & ~policy.Keep;
        if (drop != 0)
            steps.Add(PlanStep.Of(SpawnOp.CapBsetDrop, a: unchecked((long)drop)));
        if (c.UserId is not null && policy.Keep != 0)
            steps.Add(PlanStep.Of(SpawnOp.KeepCaps, a: 1));
    }

    /// <summary>Capability steps after the credentials: the kept set in every set, and ambient.</summary>
    public static void AddCapabilities(ref StepList steps, Command c, int lastCap)
    {
        if (c.Isolation.Capabilities is not { } policy)
            return;
        long keep = unchecked((long)(policy.Keep & Supported(lastCap)));
        steps.Add(PlanStep.Of(SpawnOp.Capset, a: keep, b: keep, c: keep));
        steps.Add(PlanStep.Of(SpawnOp.Ambient, a: keep));
    }

    /// <summary>Every capability the kernel knows: 0..<paramref name="lastCap"/>.</summary>
    private static ulong Supported(int lastCap) => lastCap >= 63 ? ulong.MaxValue : (1UL << (lastCap + 1)) - 1;

    /// <summary>The init step (the path of forklift-init next to the native library).</summary>
    public static PlanStep Init(string initPath, int initFd) => PlanStep.Of(SpawnOp.Init, a: initFd, str: initPath);

    private static PlanStep Mount(string source, string target, string fstype, string data, long flags) =>
        new(SpawnOp.Mount, flags, 0, 0, target, default, null) { Data = source + "\0" + fstype + "\0" + data };

    private static PlanStep Symlink(string target, string link) =>
        new(SpawnOp.Symlink, 0, 1, 0, link, default, null) { Data = target };

    /// <summary>mkdir for each component of <paramref name="path"/> from the root (existing ones are fine).</summary>
    private static void MakeDirectories(ref StepList steps, string path, int mode = 0x1ed)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var sb = new StringBuilder();
        foreach (var part in parts)
        {
            sb.Append('/').Append(part);
            steps.Add(PlanStep.Of(SpawnOp.Mkdir, a: mode, b: 1, str: sb.ToString()));
        }
    }

    private static string ParentOf(string path)
    {
        int i = path.TrimEnd('/').LastIndexOf('/');
        return i <= 0 ? "/" : path[..i];
    }

    /// <summary>Keys operations by identity (two equal records at two places are two operations).</summary>
    private sealed class ReferenceEqualityComparer2 : IEqualityComparer<(MountOperation, int)>
    {
        public static readonly ReferenceEqualityComparer2 Instance = new();

        public bool Equals((MountOperation, int) x, (MountOperation, int) y) => ReferenceEquals(x.Item1, y.Item1) && x.Item2 == y.Item2;

        public int GetHashCode((MountOperation, int) obj) =>
            HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj.Item1), obj.Item2);
    }

    /// <summary>
    /// The parent's part of the maps (full path): setgroups, uid_map, gid_map of the waiting child, each in one
    /// write(2) as the kernel requires (kernel/user_namespace.c map_write: offset 0, one call).
    /// </summary>
    public static void WriteMapsFromParent(UserNamespaceMapping m, int pid)
    {
        string dir = "/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/";
        if (m.Setgroups == SetgroupsPolicy.Deny)
            ProcFiles.Write(dir + "setgroups", "deny", "setgroups");
        if (!m.UidMap.IsEmpty)
            ProcFiles.Write(dir + "uid_map", UserNamespaceMapping.MapText(m.UidMap), "uid_map");
        if (!m.GidMap.IsEmpty)
            ProcFiles.Write(dir + "gid_map", UserNamespaceMapping.MapText(m.GidMap), "gid_map");
    }
}
