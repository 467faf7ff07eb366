using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Forklift.Isolation;

/// <summary>Which cgroup interface a hierarchy speaks.</summary>
public enum CgroupVersion
{
    /// <summary>A cgroup v1 hierarchy (<c>mount -t cgroup -o CONTROLLERS</c>): one or more controllers of its own.</summary>
    V1 = 1,

    /// <summary>The unified hierarchy (<c>mount -t cgroup2</c>): every controller not bound to a v1 hierarchy.</summary>
    V2 = 2,
}

/// <summary>
/// One mounted cgroup hierarchy, as <c>/proc/self/mountinfo</c> and <c>/proc/self/cgroup</c> describe it.
/// </summary>
public sealed record CgroupHierarchy
{
    /// <summary>v1 or the unified v2 hierarchy.</summary>
    public required CgroupVersion Version { get; init; }

    /// <summary>Where it is mounted (<c>/sys/fs/cgroup/memory</c>).</summary>
    public required string MountPoint { get; init; }

    /// <summary>
    /// The cgroup the mount shows at <see cref="MountPoint"/> (mountinfo's root field): <c>/</c> for a full mount; a
    /// deeper path inside a container or for a bind mount, or when the mount was made inside a cgroup namespace.
    /// </summary>
    public required string MountRoot { get; init; }

    /// <summary>
    /// The controllers it serves: for v1 the mount's super options (<c>cpu,cpuacct</c>); for v2 the root's
    /// <c>cgroup.controllers</c>. Sorted.
    /// </summary>
    public required ImmutableArray<string> Controllers { get; init; }

    /// <summary>A named v1 hierarchy without controllers (<c>name=systemd</c>), or null.</summary>
    public string? Name { get; init; }

    /// <summary>True when mounted read-only (nothing can be created in it).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>The caller's own cgroup in this hierarchy (from <c>/proc/self/cgroup</c>), or null when not listed.</summary>
    public string? CallerGroup { get; init; }

    /// <summary>The directory of a cgroup path of this hierarchy (<c>/forklift/x</c> -> <c>/sys/fs/cgroup/memory/forklift/x</c>).</summary>
    /// <exception cref="ArgumentException">The cgroup is outside what this mount shows.</exception>
    public string DirectoryOf(string cgroupPath)
    {
        ArgumentNullException.ThrowIfNull(cgroupPath);
        string root = MountRoot.TrimEnd('/');
        string path = "/" + cgroupPath.Trim('/');
        if (root.Length > 0)
        {
            if (path != root && !path.StartsWith(root + "/", StringComparison.Ordinal))
                throw new ArgumentException($"cgroup '{cgroupPath}' is outside the part of the hierarchy mounted at {MountPoint} ({MountRoot})", nameof(cgroupPath));
            path = path[root.Length..];
        }
        return path.Length <= 1 ? MountPoint : MountPoint.TrimEnd('/') + path;
    }

    /// <summary>The cgroup path of a directory inside this mount (the inverse of <see cref="DirectoryOf"/>), or null.</summary>
    public string? CgroupOf(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string mount = MountPoint.TrimEnd('/');
        string dir = directory.TrimEnd('/');
        string rest;
        if (dir == mount || (mount.Length == 0 && dir.Length == 0))
            rest = "";
        else if (dir.StartsWith(mount + "/", StringComparison.Ordinal))
            rest = dir[mount.Length..];
        else
            return null;
        string root = MountRoot.TrimEnd('/');
        string result = root + rest;
        return result.Length == 0 ? "/" : result;
    }

    /// <summary><c>cgroup v1 memory (/sys/fs/cgroup/memory)</c> or <c>cgroup v2 (/sys/fs/cgroup/unified)</c>.</summary>
    public override string ToString() => Version == CgroupVersion.V2
        ? $"cgroup v2 ({MountPoint})"
        : $"cgroup v1 {(Controllers.IsEmpty ? "name=" + Name : string.Join(',', Controllers))} ({MountPoint})";
}

/// <summary>
/// The cgroup hierarchies mounted for this process and where the caller sits in each: read from
/// <c>/proc/self/mountinfo</c> (cgroup2 mounts and v1 <c>cgroup</c> mounts with their controllers from the super
/// options), <c>/proc/self/cgroup</c> (the caller's group per hierarchy) and the unified root's
/// <c>cgroup.controllers</c>. <see cref="HierarchyFor"/> says which hierarchy serves a controller: the unified one
/// when it offers the controller, else the v1 hierarchy that has it. A host may be pure v2, pure v1, or hybrid
/// (systemd's hybrid mode: v2 mounted at <c>/sys/fs/cgroup/unified</c> with few controllers, the rest on v1).
/// </summary>
public sealed class CgroupLayout
{
    private static readonly Lazy<CgroupLayout> s_current = new(() => Detect(), LazyThreadSafetyMode.ExecutionAndPublication);

    // Super options of a v1 cgroup mount that are not controllers (Documentation/admin-guide/cgroup-v1/cgroups.rst,
    // kernel/cgroup/cgroup-v1.c cgroup1_parse_param).
    private static readonly FrozenSet<string> s_notControllers = FrozenSet.Create(StringComparer.Ordinal,
        "rw", "ro", "none", "all", "noprefix", "clone_children", "cpuset_v2_mode", "xattr", "favordynmods", "nofavordynmods");

    private CgroupLayout(CgroupHierarchy? unified, ImmutableArray<CgroupHierarchy> v1)
    {
        Unified = unified;
        V1 = v1;
    }

    /// <summary>The layout as it was when first asked for in this process (mounts rarely change; <see cref="Detect"/> reads afresh).</summary>
    public static CgroupLayout Current => s_current.Value;

    /// <summary>The unified (cgroup2) hierarchy, or null when none is mounted.</summary>
    public CgroupHierarchy? Unified { get; }

    /// <summary>The v1 hierarchies, by mount point.</summary>
    public ImmutableArray<CgroupHierarchy> V1 { get; }

    /// <summary>Every hierarchy: the unified one first, then v1 by mount point.</summary>
    public IEnumerable<CgroupHierarchy> All => Unified is null ? V1 : V1.Prepend(Unified);

    /// <summary>Reads this process's layout now.</summary>
    public static CgroupLayout Detect() => Parse(
        Rules.KernelFiles.ReadOr("/proc/self/mountinfo"),
        Rules.KernelFiles.ReadOr("/proc/self/cgroup"),
        path => File.Exists(path) ? Rules.KernelFiles.ReadOr(path) : null);

    /// <summary>
    /// Builds a layout from the texts of <c>/proc/self/mountinfo</c> and <c>/proc/self/cgroup</c>;
    /// <paramref name="readFile"/> reads the unified root's <c>cgroup.controllers</c> (null: unreadable).
    /// When a hierarchy is mounted more than once, the mount showing the most of it (the shortest root) wins.
    /// </summary>
    public static CgroupLayout Parse(string mountinfo, string procSelfCgroup, Func<string, string?> readFile)
    {
        ArgumentNullException.ThrowIfNull(mountinfo);
        ArgumentNullException.ThrowIfNull(procSelfCgroup);
        ArgumentNullException.ThrowIfNull(readFile);

        // /proc/self/cgroup: "ID:CONTROLLERS:PATH"; v2 is "0::PATH"; a named hierarchy lists "name=X".
        string? unifiedGroup = null;
        var v1Groups = new Dictionary<string, string>(StringComparer.Ordinal); // sorted controller list -> path
        foreach (var line in procSelfCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int first = line.IndexOf(':');
            int second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0)
                continue;
            string controllers = line[(first + 1)..second];
            string path = line[(second + 1)..];
            if (line[..first] == "0" && controllers.Length == 0)
                unifiedGroup = path;
            else
                v1Groups[Key(controllers.Split(','))] = path;
        }

        CgroupHierarchy? unified = null;
        var v1 = new Dictionary<string, CgroupHierarchy>(StringComparer.Ordinal);
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS" (proc(5));
            // spaces and other bytes in paths are octal escapes (\040).
            var f = line.Split(' ');
            int dash = f.Length < 7 ? -1 : Array.IndexOf(f, "-", 6);
            if (dash < 0 || dash + 3 > f.Length)
                continue;
            string type = f[dash + 1];
            if (type is not ("cgroup" or "cgroup2"))
                continue;
            string root = Unescape(f[3]);
            string mountPoint = Unescape(f[4]);
            bool readOnly = f[5].Split(',').Contains("ro");
            string[] super = dash + 3 < f.Length ? f[dash + 3].Split(',') : [];
            if (type == "cgroup2")
            {
                if (unified is not null && unified.MountRoot.Length <= root.Length)
                    continue;
                var controllers = (readFile(Path.Combine(mountPoint, "cgroup.controllers")) ?? "")
                    .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
                unified = new CgroupHierarchy
                {
                    Version = CgroupVersion.V2,
                    MountPoint = mountPoint,
                    MountRoot = root,
                    Controllers = [.. controllers.Order(StringComparer.Ordinal)],
                    ReadOnly = readOnly,
                    CallerGroup = unifiedGroup,
                };
                continue;
            }
            string? name = super.FirstOrDefault(o => o.StartsWith("name=", StringComparison.Ordinal))?["name=".Length..];
            var own = super.Where(o => !s_notControllers.Contains(o) && !o.Contains('=')).Order(StringComparer.Ordinal).ToImmutableArray();
            string key = Key(name is null ? own : own.Append("name=" + name));
            if (v1.TryGetValue(key, out var seen) && seen.MountRoot.Length <= root.Length)
                continue;
            v1[key] = new CgroupHierarchy
            {
                Version = CgroupVersion.V1,
                MountPoint = mountPoint,
                MountRoot = root,
                Controllers = own,
                Name = name,
                ReadOnly = readOnly,
                CallerGroup = v1Groups.GetValueOrDefault(key),
            };
        }
        return new CgroupLayout(unified, [.. v1.Values.OrderBy(h => h.MountPoint, StringComparer.Ordinal)]);

        static string Key(IEnumerable<string> parts) => string.Join(',', parts.Where(p => p.Length > 0).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The hierarchy that serves <paramref name="controller"/> (<c>memory</c>, <c>pids</c>, <c>cpu</c>...): the
    /// unified one when its root offers the controller (a controller is bound to one hierarchy at a time, so it
    /// is then on no v1 mount), else the v1 hierarchy that has it; null when neither does.
    /// </summary>
    public CgroupHierarchy? HierarchyFor(string controller)
    {
        ArgumentNullException.ThrowIfNull(controller);
        if (Unified is not null && Unified.Controllers.Contains(controller))
            return Unified;
        foreach (var h in V1)
        {
            if (h.Controllers.Contains(controller))
                return h;
        }
        return null;
    }

    /// <summary>The hierarchy whose mount contains <paramref name="directory"/> (the deepest mount), or null.</summary>
    public CgroupHierarchy? HierarchyOf(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        CgroupHierarchy? best = null;
        foreach (var h in All)
        {
            if (h.CgroupOf(directory) is not null && (best is null || h.MountPoint.Length > best.MountPoint.Length))
                best = h;
        }
        return best;
    }

    /// <summary>Why <paramref name="controller"/> cannot be served here, with what to do about it.</summary>
    internal string Unavailable(string controller)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"the {controller} controller is not available: ");
        text.Append(Unified is null
            ? "no cgroup2 hierarchy is mounted"
            : $"{Unified.MountPoint}/cgroup.controllers does not list it ({(Unified.Controllers.IsEmpty ? "empty" : string.Join(' ', Unified.Controllers))})");
        text.Append(V1.IsEmpty ? " and no cgroup v1 hierarchy is mounted" : " and no cgroup v1 hierarchy mounts it");
        text.Append(CultureInfo.InvariantCulture,
            $". Mount one (mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller}), or check /proc/cgroups: a controller the kernel lacks, or disabled with cgroup_disable={controller} on the kernel command line, cannot be used");
        return text.ToString();
    }

    /// <summary>One line per hierarchy, for messages and <c>--verbose</c>.</summary>
    public override string ToString() => string.Join(Environment.NewLine, All.Select(h => $"{h}: caller in {h.CallerGroup ?? "?"}"));

    private static string Unescape(string text)
    {
        if (!text.Contains('\\'))
            return text;
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 3 < text.Length && IsOctal(text[i + 1]) && IsOctal(text[i + 2]) && IsOctal(text[i + 3]))
            {
                sb.Append((char)(((text[i + 1] - '0') << 6) | ((text[i + 2] - '0') << 3) | (text[i + 3] - '0')));
                i += 3;
            }
            else
            {
                sb.Append(text[i]);
            }
        }
        return sb.ToString();

        static bool IsOctal(char c) => c is >= '0' and <= '7';
    }
}
