using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Forklift.Abi;
using Forklift.Rules;
using Microsoft.Win32.SafeHandles;

namespace Forklift.Isolation;

/// <summary>
/// A control group: one uniquely named group made in every cgroup hierarchy its limits need
/// (<see cref="Create(CgroupLimits, CgroupOptions?)"/>), or existing groups to place children in
/// (<see cref="Open(IEnumerable{string})"/>). Start children in it with <c>Command.WithCgroup</c>: a v2 group is
/// entered atomically at creation (<c>CLONE_INTO_CGROUP</c>), v1 groups by the child itself before anything else.
/// It reads the group's statistics, kills everything in it with one call, and, when this object made the group,
/// removes it on <see cref="Dispose"/> (killing what is left first). <see cref="Routes"/> says which hierarchy
/// serves each limit and statistic. Thread-safe.
/// </summary>
/// <remarks>
/// On a hybrid host (cgroup2 mounted beside v1 hierarchies) one group is several directories, one per hierarchy:
/// for example <c>/sys/fs/cgroup/unified/forklift/fl-...</c> (tracking and kill), <c>/sys/fs/cgroup/memory/forklift/fl-...</c>
/// (the memory limit) and <c>/sys/fs/cgroup/pids/forklift/fl-...</c> (the pids limit). Children enter all of them.
/// <para>
/// What placement costs: <c>CLONE_INTO_CGROUP</c> nothing measurable. A write to <c>cgroup.procs</c> (each v1
/// directory) takes the kernel's cgroup_threadgroup_rwsem for writing, a per-CPU rwsem whose writer waits for an
/// RCU grace period unless another writer came just before: measured here 0.4 ms median per spawn on a quiet
/// machine and several ms under load, 23 us when writes follow each other closely. The <c>favordynmods</c> mount
/// option (Documentation/admin-guide/cgroup-v2.rst) removes that wait at the cost of slower forks and exits.
/// </para>
/// </remarks>
public sealed class ControlGroup : IDisposable
{
    private const int SigKill = 9;
    private static long s_counter;

    private readonly ICgroupFiles _files;
    private readonly ImmutableArray<Member> _members;
    private readonly ImmutableArray<string> _createdParents;
    private readonly TimeSpan _killTimeout;
    private readonly Lock _lock = new();
    private readonly SafeFileHandle? _unifiedHandle;
    private CgroupTarget? _unifiedTarget;
    private bool _disposed;

    private ControlGroup(ICgroupFiles files, ImmutableArray<Member> members, ImmutableArray<string> createdParents,
        SafeFileHandle? unifiedHandle, bool owned, CgroupLimits limits, TimeSpan killTimeout, CgroupLayout layout)
    {
        _files = files;
        _members = members;
        _createdParents = createdParents;
        _unifiedHandle = unifiedHandle;
        _killTimeout = killTimeout;
        Owned = owned;
        Limits = limits;
        Layout = layout;
        Routes = ComputeRoutes(members, limits);
        Directories = [.. members.Select(m => m.Directory)];
        V1ProcsFiles = [.. members.Where(m => m.Hierarchy.Version == CgroupVersion.V1).Select(m => (m.Hierarchy, Path.Join(m.Directory, "cgroup.procs")))];
    }

    /// <summary>True when this object made the group (and removes it on <see cref="Dispose"/>); false for <see cref="Open(IEnumerable{string})"/>.</summary>
    public bool Owned { get; }

    /// <summary>The limits written (<see cref="CgroupLimits.None"/> for an opened group).</summary>
    public CgroupLimits Limits { get; }

    /// <summary>The layout the group was made against.</summary>
    public CgroupLayout Layout { get; }

    /// <summary>The group's directory in every hierarchy, the unified one first.</summary>
    public ImmutableArray<string> Directories { get; }

    /// <summary>The group's directory in the unified hierarchy (the <c>CLONE_INTO_CGROUP</c> target), or null.</summary>
    public string? UnifiedDirectory => Unified?.Directory;

    /// <summary>
    /// An fd of <see cref="UnifiedDirectory"/> (O_RDONLY|O_DIRECTORY|O_CLOEXEC), the <c>cgroup</c> field of
    /// <c>clone3</c> with <c>CLONE_INTO_CGROUP</c>; null without a unified group. Owned by this object (closed by <see cref="Dispose"/>).
    /// </summary>
    public SafeFileHandle? UnifiedDirectoryHandle => _unifiedHandle;

    /// <summary>
    /// The <c>cgroup.procs</c> file of each v1 directory, with the hierarchy: a child enters them by writing "0"
    /// (itself) into each, which <c>Command.WithCgroup</c> makes the first steps of its plan.
    /// </summary>
    public ImmutableArray<(CgroupHierarchy Hierarchy, string ProcsFile)> V1ProcsFiles { get; }

    /// <summary>Which hierarchy serves each limit, statistic, the kill and placement, through which files.</summary>
    public ImmutableArray<CgroupRoute> Routes { get; }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed
    {
        get
        {
            lock (_lock)
                return _disposed;
        }
    }

    private Member? Unified => _members.FirstOrDefault(m => m.Hierarchy.Version == CgroupVersion.V2);

    /// <summary>
    /// Makes a new group with <paramref name="limits"/> in every hierarchy they (and <paramref name="options"/>)
    /// need, under <see cref="CgroupOptions.Parent"/>, against the process's layout (<see cref="CgroupLayout.Current"/>).
    /// Everything is checked before anything is made; when a step fails, what was made is removed again.
    /// </summary>
    /// <exception cref="CgroupLimitsException">A limit or option is unusable; nothing was made.</exception>
    /// <exception cref="CgroupException">A controller is unavailable, or a kernel step failed (nothing is left behind).</exception>
    public static ControlGroup Create(CgroupLimits limits, CgroupOptions? options = null) =>
        Create(limits, options ?? new CgroupOptions(), CgroupLayout.Current, LinuxCgroupFiles.Instance);

    /// <summary>
    /// Existing groups to place children in, one directory per hierarchy (a v2 directory, v1 directories, or both):
    /// nothing is made, limits are whatever the groups have, and <see cref="Dispose"/> leaves them in place.
    /// </summary>
    /// <exception cref="CgroupException">A path is not a cgroup directory, or two are in the same hierarchy.</exception>
    public static ControlGroup Open(params IEnumerable<string> directories) =>
        Open(directories, CgroupLayout.Current, LinuxCgroupFiles.Instance, new CgroupOptions().KillTimeout);

    internal static ControlGroup Create(CgroupLimits limits, CgroupOptions options, CgroupLayout layout, ICgroupFiles files)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(options);
        limits.Validate();
        options.Validate();
        var needs = Resolve(limits, options, layout);
        string below = ParentBelowRoot(options.Parent, layout);

        var undo = new Undo(files);
        var members = ImmutableArray.CreateBuilder<Member>();
        var createdParents = ImmutableArray.CreateBuilder<string>();
        SafeFileHandle? handle = null;
        string name = NewName();
        try
        {
            foreach (var (hierarchy, controllers) in needs)
            {
                string parent = below.Length == 0 ? hierarchy.MountPoint : Path.Join(hierarchy.MountPoint, below);
                string directory = MakeGroup(files, hierarchy, parent, controllers, ref name, undo, createdParents, options.Parent is not null);
                // A v1 group has every controller of its hierarchy (cpu,cpuacct may share one); v2 those enabled for it.
                var member = new Member(hierarchy, directory, hierarchy.Version == CgroupVersion.V1 ? hierarchy.Controllers : controllers);
                members.Add(member);
                WriteLimits(files, member, limits);
            }
            if (members.FirstOrDefault(m => m.Hierarchy.Version == CgroupVersion.V2) is { } unified)
            {
                int rc = files.OpenDirectory(unified.Directory, out handle);
                if (rc < 0)
                    throw new CgroupException("OpenGroup", (Errno)(-rc), unified.Directory, "the CLONE_INTO_CGROUP target could not be opened");
            }
        }
        catch
        {
            handle?.Dispose();
            undo.Run();
            throw;
        }
        return new ControlGroup(files, members.ToImmutable(), createdParents.ToImmutable(), handle, owned: true, limits, options.KillTimeout, layout);
    }

    internal static ControlGroup Open(IEnumerable<string> directories, CgroupLayout layout, ICgroupFiles files, TimeSpan killTimeout)
    {
        ArgumentNullException.ThrowIfNull(directories);
        var members = new List<Member>();
        foreach (var given in directories)
        {
            ArgumentNullException.ThrowIfNull(given, nameof(directories));
            string directory = Path.GetFullPath(given).TrimEnd('/');
            var hierarchy = layout.HierarchyOf(directory)
                ?? throw new CgroupException("OpenGroup", Errno.None, directory,
                    $"not inside a mounted cgroup hierarchy (mounted: {string.Join(", ", layout.All.Select(h => h.MountPoint))})");
            if (!files.Exists(Path.Join(directory, "cgroup.procs")))
                throw new CgroupException("OpenGroup", Errno.ENOENT, directory, "no such cgroup (its cgroup.procs is missing)");
            if (members.Any(m => ReferenceEquals(m.Hierarchy, hierarchy)))
                throw new CgroupException("OpenGroup", Errno.None, directory,
                    $"another directory given is in the same hierarchy ({hierarchy}); a process is in exactly one group per hierarchy");
            var controllers = hierarchy.Version == CgroupVersion.V1
                ? hierarchy.Controllers
                : [.. (files.Read(Path.Join(directory, "cgroup.controllers"), out var text) == 0 ? text! : "")
                    .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
            members.Add(new Member(hierarchy, directory, controllers));
        }
        if (members.Count == 0)
            throw new ArgumentException("at least one cgroup directory is needed", nameof(directories));
        members.Sort((a, b) => a.Hierarchy.Version == b.Hierarchy.Version ? 0 : a.Hierarchy.Version == CgroupVersion.V2 ? -1 : 1);
        SafeFileHandle? handle = null;
        if (members[0].Hierarchy.Version == CgroupVersion.V2)
        {
            int rc = files.OpenDirectory(members[0].Directory, out handle);
            if (rc < 0)
                throw new CgroupException("OpenGroup", (Errno)(-rc), members[0].Directory, "the CLONE_INTO_CGROUP target could not be opened");
        }
        return new ControlGroup(files, [.. members], [], handle, owned: false, CgroupLimits.None, killTimeout, layout);
    }

    // ---- what the limits need ----

    /// <summary>Each hierarchy to make the group in, with the controllers it serves for it; the unified one first.</summary>
    private static List<(CgroupHierarchy Hierarchy, ImmutableArray<string> Controllers)> Resolve(CgroupLimits limits, CgroupOptions options, CgroupLayout layout)
    {
        var needs = new Dictionary<CgroupHierarchy, SortedSet<string>>(ReferenceEqualityComparer.Instance);
        bool unified = options.UseUnifiedHierarchy && layout.Unified is not null;
        if (unified)
            needs[layout.Unified!] = new SortedSet<string>(StringComparer.Ordinal);

        if (limits.MemoryMax is not null || limits.MemoryAndSwapMax is not null)
            Need("memory", $"{(limits.MemoryAndSwapMax is null ? "MemoryMax" : "MemoryMax and MemoryAndSwapMax")} need it");
        if (limits.PidsMax is not null)
            Need("pids", "PidsMax needs it");
        if (limits.CpuFraction is not null || limits.CpuWeight is not null)
            Need("cpu", $"{(limits.CpuFraction is null ? "CpuWeight" : "CpuFraction")} needs it");
        if ((options.Accounting & CgroupAccounting.Memory) != 0)
            Need("memory", "Accounting.Memory needs it");
        if ((options.Accounting & CgroupAccounting.Pids) != 0)
            Need("pids", "Accounting.Pids needs it");
        // CPU time: v2 counts it in every group without a controller (cgroup.c cgroup_base_stat, cpu.stat); v1 needs cpuacct.
        if ((options.Accounting & CgroupAccounting.Cpu) != 0 && !needs.Keys.Any(h => h.Version == CgroupVersion.V2))
        {
            if (layout.HierarchyFor("cpuacct") is { } cpuacct)
                Add(cpuacct, "cpuacct");
            else if (layout.Unified is not null)
                needs.TryAdd(layout.Unified, new SortedSet<string>(StringComparer.Ordinal));
        }
        // Killing without cgroup.kill: a v1 freezer keeps the group from forking while it is swept.
        if (!needs.Keys.Any(h => h.Version == CgroupVersion.V2) && layout.HierarchyFor("freezer") is { Version: CgroupVersion.V1 } freezer)
            Add(freezer, "freezer");

        if (needs.Count == 0)
        {
            throw new CgroupException("ResolveController", Errno.None, null, layout.Unified is null
                ? "no limit and no accounting asked for, and no cgroup2 hierarchy is mounted: the group would exist in no hierarchy (set a limit or Accounting)"
                : "no limit and no accounting asked for, and UseUnifiedHierarchy is false: the group would exist in no hierarchy");
        }
        foreach (var h in needs.Keys)
        {
            if (h.ReadOnly)
                throw new CgroupException("CreateGroup", Errno.EROFS, h.MountPoint,
                    $"{h} is mounted read-only (as container engines often mount /sys/fs/cgroup): remount it read-write, or run where the hierarchy is delegated to you");
        }
        return [.. needs.OrderBy(kv => kv.Key.Version == CgroupVersion.V2 ? 0 : 1).ThenBy(kv => kv.Key.MountPoint, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value.ToImmutableArray()))];

        void Need(string controller, string why)
        {
            var h = layout.HierarchyFor(controller)
                ?? throw new CgroupException($"ResolveController({controller})", Errno.None, null, $"{why}, but {layout.Unavailable(controller)}");
            Add(h, controller);
        }

        void Add(CgroupHierarchy h, string controller)
        {
            if (!needs.TryGetValue(h, out var set))
                needs[h] = set = new SortedSet<string>(StringComparer.Ordinal);
            set.Add(controller);
        }
    }

    /// <summary>The parent's path below each hierarchy's root: "forklift", a relative path as given, or a mounted directory's path in its hierarchy.</summary>
    private static string ParentBelowRoot(string? parent, CgroupLayout layout)
    {
        if (parent is null)
            return CgroupOptions.DefaultParent;
        if (!parent.StartsWith('/'))
            return parent.Trim('/');
        string full = Path.GetFullPath(parent).TrimEnd('/');
        var h = layout.HierarchyOf(full)
            ?? throw new CgroupLimitsException("Parent",
                $"'{parent}' is not inside a mounted cgroup hierarchy (mounted: {string.Join(", ", layout.All.Select(x => x.MountPoint))}); give a directory inside one, or a path relative to their roots");
        return full.Length <= h.MountPoint.TrimEnd('/').Length ? "" : full[(h.MountPoint.TrimEnd('/').Length + 1)..];
    }

    private static string NewName() => string.Create(CultureInfo.InvariantCulture,
        $"fl-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");

    // ---- making it ----

    /// <summary>Makes the parent directories that are missing, enables the v2 controllers down to the parent, and makes the group.</summary>
    private static string MakeGroup(ICgroupFiles files, CgroupHierarchy h, string parent, ImmutableArray<string> controllers,
        ref string name, Undo undo, ImmutableArray<string>.Builder createdParents, bool userParent)
    {
        for (int attempt = 0; ; attempt++)
        {
            // Every component below the mount point, top down; EEXIST is the usual answer.
            string mount = h.MountPoint.TrimEnd('/');
            string rest = parent.Length > mount.Length ? parent[(mount.Length + 1)..] : "";
            string current = mount;
            var levels = new List<string> { mount };
            foreach (var part in rest.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                current = current + "/" + part;
                levels.Add(current);
                int made = files.MakeDirectory(current);
                if (made == 0)
                {
                    undo.Directory(current);
                    // The default parent is shared and stays; a parent made for the user's path goes with the group.
                    if (userParent)
                        createdParents.Add(current);
                }
                else if (made != -(int)Errno.EEXIST)
                {
                    throw new CgroupException("CreateParent", (Errno)(-made), current, MkdirAdvice((Errno)(-made), h, current));
                }
            }

            // v2: a controller works in a group only when every ancestor enables it for its children
            // (cgroup.subtree_control, Documentation/admin-guide/cgroup-v2.rst "Enabling and Disabling").
            if (h.Version == CgroupVersion.V2)
            {
                foreach (var level in levels)
                    EnableControllers(files, h, level, controllers, undo);
            }

            string directory = parent + "/" + name;
            int rc = files.MakeDirectory(directory);
            if (rc == 0)
            {
                undo.Directory(directory);
                return directory;
            }
            var errno = (Errno)(-rc);
            // EEXIST: the random part collided (another name); ENOENT: another group's removal took the parent away
            // between our mkdir of it and this one (make it again).
            if (attempt < 3 && errno is Errno.EEXIST or Errno.ENOENT)
            {
                if (errno == Errno.EEXIST)
                    name = NewName();
                continue;
            }
            throw new CgroupException("CreateGroup", errno, directory, MkdirAdvice(errno, h, directory));
        }
    }

    private static void EnableControllers(ICgroupFiles files, CgroupHierarchy h, string level, ImmutableArray<string> controllers, Undo undo)
    {
        if (controllers.IsEmpty)
            return;
        string file = Path.Join(level, "cgroup.subtree_control");
        int rc = files.Read(file, out var text);
        if (rc < 0)
            throw new CgroupException("ReadSubtreeControl", (Errno)(-rc), file, null);
        var enabled = text!.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        foreach (var c in controllers)
        {
            if (enabled.Contains(c))
                continue;
            rc = files.Write(file, "+" + c);
            if (rc < 0)
            {
                var errno = (Errno)(-rc);
                throw new CgroupException($"EnableController({c})", errno, file, errno switch
                {
                    Errno.EBUSY => $"{level} has processes of its own, and cgroup v2 lets no group that enables a domain controller for its children hold processes (the no-internal-processes rule): move them into a leaf group, or choose another Parent",
                    Errno.ENOENT => $"the {c} controller is not in {level}/cgroup.controllers: its parent does not enable it, or it is bound to a cgroup v1 hierarchy",
                    Errno.EACCES or Errno.EPERM => $"not allowed to change {file}: run as root, or use a subtree delegated to you",
                    Errno.EROFS => $"{h} is mounted read-only",
                    _ => null,
                });
            }
            undo.Enabled(file, c);
        }
    }

    private static string? MkdirAdvice(Errno errno, CgroupHierarchy h, string directory) => errno switch
    {
        Errno.EROFS => $"{h} is mounted read-only (as container engines often mount /sys/fs/cgroup): remount it read-write or ask for a delegated subtree",
        Errno.EACCES or Errno.EPERM => $"not allowed to create groups in {Path.GetDirectoryName(directory)}: run as root, or give a Parent delegated to you (owned by your user)",
        Errno.ENOSPC or Errno.EAGAIN => "too many groups: the parent's cgroup.max.descendants or cgroup.max.depth is reached",
        Errno.ENOENT => "the parent directory disappeared while the group was being made",
        _ => null,
    };

    /// <summary>Writes the limits this member's hierarchy serves, in the order the kernel needs.</summary>
    private static void WriteLimits(ICgroupFiles files, Member m, CgroupLimits limits)
    {
        bool v2 = m.Hierarchy.Version == CgroupVersion.V2;
        string N(long v) => v.ToString(CultureInfo.InvariantCulture);
        string U(ulong v) => v.ToString(CultureInfo.InvariantCulture);
        if (m.Controllers.Contains("memory") && limits.MemoryMax is { } memory)
        {
            if (v2)
            {
                Write("memory.max", U(memory), "memory");
                if (limits.MemoryAndSwapMax is { } both)
                    Write("memory.swap.max", U(both - memory), "memory");
            }
            else
            {
                // memsw must never be below the memory limit (mem_cgroup_resize_max, mm/memcontrol-v1.c): set memory first.
                Write("memory.limit_in_bytes", U(memory), "memory");
                if (limits.MemoryAndSwapMax is { } both)
                    Write("memory.memsw.limit_in_bytes", U(both), "memory");
            }
        }
        if (m.Controllers.Contains("pids") && limits.PidsMax is { } pids)
            Write("pids.max", N(pids), "pids");
        if (m.Controllers.Contains("cpu"))
        {
            if (limits.CpuFraction is not null)
            {
                if (v2)
                {
                    Write("cpu.max", $"{N(limits.QuotaMicroseconds)} {N(limits.PeriodMicroseconds)}", "cpu");
                }
                else
                {
                    Write("cpu.cfs_period_us", N(limits.PeriodMicroseconds), "cpu");
                    Write("cpu.cfs_quota_us", N(limits.QuotaMicroseconds), "cpu");
                }
            }
            if (limits.CpuWeight is { } weight)
                Write(v2 ? "cpu.weight" : "cpu.shares", v2 ? N(weight) : N(CgroupLimits.SharesFromWeight(weight)), "cpu");
        }

        void Write(string file, string value, string controller)
        {
            string path = Path.Join(m.Directory, file);
            int rc = files.Write(path, value);
            if (rc >= 0)
                return;
            var errno = (Errno)(-rc);
            throw new CgroupException($"WriteLimit({file})", errno, path, LimitAdvice(file, errno, m, controller, value));
        }
    }

    private static string? LimitAdvice(string file, Errno errno, Member m, string controller, string value)
    {
        bool swap = file is "memory.swap.max" or "memory.memsw.limit_in_bytes";
        return (errno, swap) switch
        {
            (Errno.ENOENT, true) => "the kernel does not account swap for cgroups (cgroup v1: boot with swapaccount=1; both: CONFIG_MEMCG_SWAP): leave out the memory+swap limit",
            (Errno.ENOENT, false) when m.Hierarchy.Version == CgroupVersion.V2 =>
                $"the {controller} controller is not enabled for this group: {Path.GetDirectoryName(m.Directory)}/cgroup.subtree_control must list it",
            (Errno.ENOENT, false) => $"the {controller} hierarchy does not provide {file} on this kernel",
            (Errno.EINVAL, true) => "memory plus swap cannot be below the memory limit",
            (Errno.EINVAL, false) when controller == "cpu" =>
                $"the kernel refused '{value}': a group's CPU quota cannot exceed its parent's (sched-bwc.rst, hierarchical bandwidth), and quota and period must be 1 ms .. 1 s (period)",
            (Errno.EBUSY, false) when controller == "memory" => "the group already uses more memory than the new limit and could not reclaim it",
            (Errno.EACCES or Errno.EPERM, _) => "not allowed to write the group's files: run as root, or use a subtree delegated to you",
            (Errno.EROFS, _) => $"{m.Hierarchy} is mounted read-only",
            _ => null,
        };
    }

    /// <summary>What creation made, undone in reverse order when a later step fails.</summary>
    private sealed class Undo(ICgroupFiles files)
    {
        private readonly List<(string Path, string? Controller)> _done = [];

        public void Directory(string path) => _done.Add((path, null));

        public void Enabled(string subtreeControl, string controller) => _done.Add((subtreeControl, controller));

        public void Run()
        {
            for (int i = _done.Count - 1; i >= 0; i--)
            {
                var (path, controller) = _done[i];
                // Best effort: a parent another group has started using meanwhile stays (EBUSY), as it should.
                if (controller is null)
                    files.RemoveDirectory(path);
                else
                    files.Write(path, "-" + controller);
            }
        }
    }

    // ---- routes ----

    private static ImmutableArray<CgroupRoute> ComputeRoutes(ImmutableArray<Member> members, CgroupLimits limits)
    {
        var routes = ImmutableArray.CreateBuilder<CgroupRoute>();
        var unified = members.FirstOrDefault(m => m.Hierarchy.Version == CgroupVersion.V2);
        foreach (var m in members)
        {
            bool v2 = m.Hierarchy.Version == CgroupVersion.V2;
            if (m.Controllers.Contains("memory"))
            {
                if (limits.MemoryMax is not null)
                    routes.Add(new(CgroupFeature.MemoryLimit, m.Hierarchy, m.Directory, v2 ? "memory.max" : "memory.limit_in_bytes"));
                if (limits.MemoryAndSwapMax is not null)
                    routes.Add(new(CgroupFeature.SwapLimit, m.Hierarchy, m.Directory, v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes"));
                routes.Add(new(CgroupFeature.MemoryStatistics, m.Hierarchy, m.Directory,
                    v2 ? "memory.current, memory.peak, memory.events" : "memory.usage_in_bytes, memory.max_usage_in_bytes, memory.failcnt, memory.memsw.failcnt, memory.oom_control"));
            }
            if (m.Controllers.Contains("pids"))
            {
                if (limits.PidsMax is not null)
                    routes.Add(new(CgroupFeature.PidsLimit, m.Hierarchy, m.Directory, "pids.max"));
                routes.Add(new(CgroupFeature.PidsStatistics, m.Hierarchy, m.Directory, "pids.current, pids.peak, pids.events"));
            }
            if (m.Controllers.Contains("cpu"))
            {
                if (limits.CpuFraction is not null)
                    routes.Add(new(CgroupFeature.CpuLimit, m.Hierarchy, m.Directory, v2 ? "cpu.max" : "cpu.cfs_quota_us, cpu.cfs_period_us"));
                if (limits.CpuWeight is not null)
                    routes.Add(new(CgroupFeature.CpuWeight, m.Hierarchy, m.Directory, v2 ? "cpu.weight" : "cpu.shares"));
            }
        }
        if (unified is not null)
            routes.Add(new(CgroupFeature.CpuStatistics, unified.Hierarchy, unified.Directory, "cpu.stat"));
        else if (members.FirstOrDefault(m => m.Controllers.Contains("cpuacct")) is { } cpuacct)
            routes.Add(new(CgroupFeature.CpuStatistics, cpuacct.Hierarchy, cpuacct.Directory, "cpuacct.usage, cpuacct.usage_user, cpuacct.usage_sys"));

        if (unified is not null)
            routes.Add(new(CgroupFeature.Kill, unified.Hierarchy, unified.Directory, "cgroup.kill"));
        else if (members.FirstOrDefault(m => m.Controllers.Contains("freezer")) is { } freezer)
            routes.Add(new(CgroupFeature.Kill, freezer.Hierarchy, freezer.Directory, "freezer.state FROZEN, SIGKILL through a pidfd to each process in cgroup.procs, THAWED, until empty"));
        else if (!members.IsEmpty)
            routes.Add(new(CgroupFeature.Kill, members[0].Hierarchy, members[0].Directory, "SIGKILL through a pidfd to each process in cgroup.procs, until empty (no freezer: a fork meanwhile is caught by the next pass)"));

        foreach (var m in members)
        {
            routes.Add(new(CgroupFeature.Placement, m.Hierarchy, m.Directory, m.Hierarchy.Version == CgroupVersion.V2
                ? "CLONE_INTO_CGROUP (after a legacy clone: the child writes 0 to cgroup.procs first)"
                : "the child writes 0 to cgroup.procs before any other step"));
        }
        return routes.ToImmutable();
    }

    // ---- using it ----

    /// <summary>The clone model's view of the unified directory, read once (for the pre-check of <c>CLONE_INTO_CGROUP</c>).</summary>
    internal CgroupTarget UnifiedTarget
    {
        get
        {
            lock (_lock)
                return _unifiedTarget ??= CgroupInspector.Inspect(Unified!.Directory, out _);
        }
    }

    /// <summary>Every process in the group and its subgroups, in every hierarchy (pids as this process sees them), sorted.</summary>
    public IReadOnlyList<int> ProcessIds()
    {
        ThrowIfDisposed();
        var pids = new SortedSet<int>();
        foreach (var m in _members)
            CollectPids(m.Directory, pids);
        return [.. pids];
    }

    private void CollectPids(string directory, SortedSet<int> into)
    {
        foreach (var dir in Tree(directory))
        {
            if (_files.Read(Path.Join(dir, "cgroup.procs"), out var text) < 0)
                continue;
            foreach (var line in text!.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                    into.Add(pid);
            }
        }
    }

    /// <summary>The directory and every subdirectory below it, parents before children.</summary>
    private List<string> Tree(string directory)
    {
        var result = new List<string> { directory };
        for (int i = 0; i < result.Count; i++)
            result.AddRange(_files.Subdirectories(result[i]));
        return result;
    }

    /// <summary>Reads the group's counters from whichever hierarchy serves each (<see cref="CgroupStatistics.Sources"/>).</summary>
    public CgroupStatistics ReadStatistics()
    {
        ThrowIfDisposed();
        var stats = new CgroupStatistics { Sources = [.. Routes.Where(r => r.Feature is CgroupFeature.MemoryStatistics or CgroupFeature.CpuStatistics or CgroupFeature.PidsStatistics)] };
        foreach (var route in stats.Sources)
        {
            bool v2 = route.Hierarchy.Version == CgroupVersion.V2;
            string d = route.Directory;
            switch (route.Feature)
            {
                case CgroupFeature.MemoryStatistics when v2:
                    var events = Keyed(d, "memory.events");
                    stats = stats with
                    {
                        MemoryCurrent = Number(d, "memory.current"),
                        MemoryPeak = Number(d, "memory.peak"),
                        OomKills = Get(events, "oom_kill"),
                        MemoryLimitHits = Get(events, "max"),
                    };
                    break;
                case CgroupFeature.MemoryStatistics:
                    stats = stats with
                    {
                        MemoryCurrent = Number(d, "memory.usage_in_bytes"),
                        MemoryPeak = Number(d, "memory.max_usage_in_bytes"),
                        OomKills = Get(Keyed(d, "memory.oom_control"), "oom_kill"),
                        // A charge over memory+swap fails against memsw first (try_charge_memcg), so both counters count.
                        MemoryLimitHits = (long?)Number(d, "memory.failcnt") + (long?)(Number(d, "memory.memsw.failcnt") ?? 0),
                    };
                    break;
                case CgroupFeature.CpuStatistics when v2:
                    var cpu = Keyed(d, "cpu.stat");
                    stats = stats with
                    {
                        CpuUsage = Micros(Get(cpu, "usage_usec")),
                        CpuUser = Micros(Get(cpu, "user_usec")),
                        CpuSystem = Micros(Get(cpu, "system_usec")),
                    };
                    break;
                case CgroupFeature.CpuStatistics:
                    stats = stats with
                    {
                        CpuUsage = Nanos(Number(d, "cpuacct.usage")),
                        CpuUser = Nanos(Number(d, "cpuacct.usage_user")),
                        CpuSystem = Nanos(Number(d, "cpuacct.usage_sys")),
                    };
                    break;
                case CgroupFeature.PidsStatistics:
                    stats = stats with
                    {
                        PidsCurrent = (long?)Number(d, "pids.current"),
                        PidsPeak = (long?)Number(d, "pids.peak"),
                        PidsLimitHits = Get(Keyed(d, "pids.events"), "max"),
                    };
                    break;
            }
        }
        // Throttling is counted by the cpu controller itself (cpu.stat nr_throttled, both versions).
        if (_members.FirstOrDefault(m => m.Controllers.Contains("cpu")) is { } cpuMember)
            stats = stats with { CpuThrottledPeriods = Get(Keyed(cpuMember.Directory, "cpu.stat"), "nr_throttled") };
        return stats;

        static TimeSpan? Micros(long? us) => us is { } v ? TimeSpan.FromMicroseconds(v) : null;
        static TimeSpan? Nanos(ulong? ns) => ns is { } v ? TimeSpan.FromTicks((long)(v / 100)) : null;
    }

    private ulong? Number(string directory, string file) =>
        _files.Read(Path.Join(directory, file), out var text) == 0
        && ulong.TryParse(text!.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v : null;

    /// <summary>A "key value" file (memory.events, cpu.stat, pids.events, memory.oom_control), or null when unreadable.</summary>
    private Dictionary<string, long>? Keyed(string directory, string file)
    {
        if (_files.Read(Path.Join(directory, file), out var text) < 0)
            return null;
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in text!.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
                result[parts[0]] = v;
        }
        return result;
    }

    private static long? Get(Dictionary<string, long>? values, string key) => values is not null && values.TryGetValue(key, out long v) ? v : null;

    /// <summary>
    /// Kills every process in the group (and its subgroups) and returns once the group is empty. With a unified
    /// group: one write to <c>cgroup.kill</c> (5.14+), which the kernel applies to the whole subtree and to forks
    /// racing with it. In v1 directories (and as a fallback): the freezer stops the group (so nothing forks while it
    /// is swept), every process in <c>cgroup.procs</c> gets SIGKILL through a pidfd (never a bare pid that may have
    /// been reused), the group is thawed so the signals are delivered, repeated until the group is empty.
    /// </summary>
    /// <remarks>For an opened group (<see cref="Open(IEnumerable{string})"/>) that is every process in it, whoever started it.</remarks>
    /// <exception cref="CgroupException">The kill could not be requested, or processes survived <see cref="CgroupOptions.KillTimeout"/>.</exception>
    public void Kill()
    {
        ThrowIfDisposed();
        KillCore();
    }

    private void KillCore()
    {
        var clock = Stopwatch.StartNew();
        var unified = Unified;
        bool killedUnified = false;
        if (unified is not null)
        {
            string kill = Path.Join(unified.Directory, "cgroup.kill");
            int rc = _files.Write(kill, "1");
            if (rc == 0)
                killedUnified = true;
            else if (rc != -(int)Errno.ENOENT) // ENOENT: before 5.14; the sweep does it
                throw new CgroupException("Kill", (Errno)(-rc), kill, (Errno)(-rc) is Errno.EACCES or Errno.EPERM ? "not allowed to write cgroup.kill: run as root, or use a subtree delegated to you" : null);
        }
        var freezer = _members.FirstOrDefault(m => m.Controllers.Contains("freezer") && m.Hierarchy.Version == CgroupVersion.V1);
        var delay = TimeSpan.FromMilliseconds(1);
        for (;;)
        {
            var pids = new SortedSet<int>();
            foreach (var m in _members)
            {
                if (!(killedUnified && ReferenceEquals(m, unified)))
                    CollectPids(m.Directory, pids);
            }
            bool populated = killedUnified && Populated(unified!.Directory);
            if (pids.Count == 0 && !populated)
                return;
            if (pids.Count > 0)
                Sweep(pids, freezer, unified is not null && !killedUnified ? unified : null);
            if (_killTimeout != Timeout.InfiniteTimeSpan && clock.Elapsed > _killTimeout)
            {
                throw new CgroupException("Kill", Errno.ETIMEDOUT, _members[0].Directory,
                    string.Create(CultureInfo.InvariantCulture,
                        $"{(pids.Count > 0 ? pids.Count : 1)} process(es) still in the group after {_killTimeout.TotalSeconds:0.#} s ({string.Join(' ', pids.Take(10))}): a process in uninterruptible sleep (state D, stuck I/O or a frozen parent group) dies only when it wakes"));
            }
            _files.Pause(delay);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(20).Ticks));
        }
    }

    /// <summary>One pass: freeze, SIGKILL each listed process that is still a member, thaw.</summary>
    private void Sweep(SortedSet<int> pids, Member? freezer, Member? unifiedWithoutKill)
    {
        // v1 freezer: FROZEN stops every task of the subtree (kernel/cgroup/legacy_freezer.c); a frozen task cannot
        // fork or exit, so its pid stays its own. A SIGKILL sent meanwhile is delivered once THAWED.
        string? state = freezer is null ? null : Path.Join(freezer.Directory, "freezer.state");
        string? freeze2 = unifiedWithoutKill is null ? null : Path.Join(unifiedWithoutKill.Directory, "cgroup.freeze");
        if (state is not null && _files.Write(state, "FROZEN") == 0)
            WaitFrozen(state);
        else
            state = null;
        if (freeze2 is not null && _files.Write(freeze2, "1") != 0)
            freeze2 = null;
        try
        {
            foreach (int pid in pids)
                KillIfMember(pid);
        }
        finally
        {
            if (state is not null)
                _files.Write(state, "THAWED");
            if (freeze2 is not null)
                _files.Write(freeze2, "0");
        }
    }

    private void WaitFrozen(string state)
    {
        // FREEZING until every task has stopped; a task in an uninterruptible sleep delays it: give up after a moment
        // (the kill goes on; the next pass catches anything forked meanwhile).
        for (int i = 0; i < 100; i++)
        {
            if (_files.Read(state, out var text) < 0 || text!.Trim() == "FROZEN")
                return;
            _files.Pause(TimeSpan.FromMilliseconds(1));
        }
    }

    /// <summary>SIGKILL through a pidfd, after checking (with the pidfd held) that the pid still names a member.</summary>
    private void KillIfMember(int pid)
    {
        int pidfd = _files.PidfdOpen(pid);
        if (pidfd < 0)
            return; // ESRCH: gone already
        try
        {
            // The pidfd pins the process it was opened for: if /proc/PID/cgroup (read now) shows one of our groups,
            // either PID is still that process, or it was reaped and PID reused by a newcomer of ours; in the latter
            // case the signal below fails with ESRCH and the next pass finds the newcomer.
            if (_files.Read($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cgroup", out var text) < 0 || !IsMember(text!))
                return;
            _files.PidfdSendSignal(pidfd, SigKill);
        }
        finally
        {
            _files.Close(pidfd);
        }
    }

    /// <summary>Whether a /proc/PID/cgroup text puts the process in (or below) one of this group's directories.</summary>
    private bool IsMember(string procCgroup)
    {
        foreach (var line in procCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int first = line.IndexOf(':');
            int second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0)
                continue;
            bool v2Line = line[..first] == "0" && second == first + 1;
            string path = line[(second + 1)..];
            foreach (var m in _members)
            {
                if ((m.Hierarchy.Version == CgroupVersion.V2) != v2Line)
                    continue;
                if (!v2Line)
                {
                    var controllers = line[(first + 1)..second].Split(',');
                    if (!m.Hierarchy.Controllers.All(controllers.Contains) || (m.Hierarchy.Name is { } n && !controllers.Contains("name=" + n)))
                        continue;
                }
                string? own = m.Hierarchy.CgroupOf(m.Directory);
                if (own is not null && (path == own || path.StartsWith(own + "/", StringComparison.Ordinal)))
                    return true;
            }
        }
        return false;
    }

    private bool Populated(string directory) =>
        _files.Read(Path.Join(directory, "cgroup.events"), out var text) == 0
        && text!.Split('\n').Any(l => l.Trim() == "populated 1");

    /// <summary>
    /// For a group this object made: kills what is left in it (<see cref="Kill"/>), removes every directory (its
    /// subgroups first, then the group in each hierarchy, then the parent directories made for it, if no other
    /// group uses them), and closes the v2 fd. For an opened group: closes the fd only. Idempotent.
    /// </summary>
    /// <exception cref="CgroupException">The group could not be emptied or a directory could not be removed (every other step was still tried).</exception>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        CgroupException? first = null;
        try
        {
            if (Owned)
            {
                try
                {
                    KillCore();
                }
                catch (CgroupException e)
                {
                    first = e;
                }
                foreach (var m in _members)
                {
                    var tree = Tree(m.Directory);
                    for (int i = tree.Count - 1; i >= 0; i--)
                    {
                        var error = RemoveDirectory(tree[i]);
                        first ??= error;
                    }
                }
                for (int i = _createdParents.Length - 1; i >= 0; i--)
                    _files.RemoveDirectory(_createdParents[i]); // in use by another group (EBUSY): it stays, as it should
            }
        }
        finally
        {
            // Closed, not forgotten: a start racing with this sees a disposed handle (ObjectDisposedException), never
            // a group without its v2 directory.
            _unifiedHandle?.Dispose();
        }
        if (first is not null)
            throw first;
    }

    private CgroupException? RemoveDirectory(string directory)
    {
        // rmdir fails with EBUSY while the kernel still counts a task in the group (a v1 group keeps dying tasks
        // until they are released); it clears within moments of the kill.
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(1);
        for (;;)
        {
            int rc = _files.RemoveDirectory(directory);
            if (rc == 0 || rc == -(int)Errno.ENOENT)
                return null;
            var errno = (Errno)(-rc);
            if (errno != Errno.EBUSY || clock.Elapsed > _killTimeout)
            {
                return new CgroupException("RemoveGroup", errno, directory, errno switch
                {
                    Errno.EBUSY => "the group still has processes (or a subgroup made meanwhile)",
                    Errno.EACCES or Errno.EPERM => "not allowed to remove it: run as root, or use a subtree delegated to you",
                    Errno.EROFS => "the hierarchy is mounted read-only",
                    _ => null,
                });
            }
            _files.Pause(delay);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(20).Ticks));
        }
    }

    private void ThrowIfDisposed()
    {
        lock (_lock)
            ObjectDisposedException.ThrowIf(_disposed, this);
    }

    /// <summary>The group's directories, one per line.</summary>
    public override string ToString() => string.Join(", ", _members.Select(m => m.Directory));

    /// <summary>The group in one hierarchy.</summary>
    /// <param name="Hierarchy">The hierarchy.</param>
    /// <param name="Directory">The group's directory there.</param>
    /// <param name="Controllers">The controllers it serves for this group (v1: the hierarchy's; v2: those enabled for it).</param>
    internal sealed record Member(CgroupHierarchy Hierarchy, string Directory, ImmutableArray<string> Controllers);
}
