using Forklift.Isolation;

namespace Forklift.Tests.Isolation;

/// <summary>
/// A fact that makes real cgroups: needs root on Linux, and skips with the reason when one of the
/// <paramref name="controllers"/> is served by no mounted hierarchy.
/// </summary>
public sealed class CgroupLimitFactAttribute : FactAttribute
{
    public CgroupLimitFactAttribute(params string[] controllers)
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux";
            return;
        }
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "needs root to create cgroups";
            return;
        }
        var layout = CgroupLayout.Current;
        foreach (var c in controllers)
        {
            // "memory": any hierarchy; "memory@v1": a cgroup v1 one (for v1-only behaviour); "unified": cgroup2 mounted.
            string name = c.Split('@')[0];
            if (name == "unified-domain")
            {
                // cgroup2 offering a domain controller (one that makes a group busy when enabled for its children).
                if (layout.Unified is null || layout.Unified.Controllers.All(x => x is "cpu" or "cpuset" or "perf_event" or "pids"))
                {
                    Skip = "needs a cgroup2 hierarchy that offers a domain controller (memory, io, hugetlb...)";
                    return;
                }
                continue;
            }
            var h = name == "unified" ? layout.Unified : layout.HierarchyFor(name);
            if (h is null)
            {
                Skip = name == "unified" ? "needs a mounted cgroup2 hierarchy" : $"the {name} controller is served by no mounted cgroup hierarchy";
                return;
            }
            if (c.EndsWith("@v1", StringComparison.Ordinal) && h.Version != CgroupVersion.V1)
            {
                Skip = $"needs the {name} controller on a cgroup v1 hierarchy (this host serves it from cgroup v2)";
                return;
            }
        }
        foreach (var h in layout.All)
        {
            if (h.ReadOnly)
            {
                Skip = $"{h} is mounted read-only";
                return;
            }
        }
    }
}

/// <summary>A fact about the live layout: Linux only.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
            Skip = "needs Linux";
    }
}

/// <summary>
/// A fact about the hybrid layout of this project's machine class (DESIGN.md section 6: cgroup2 at
/// /sys/fs/cgroup/unified beside v1 hierarchies): skipped elsewhere.
/// </summary>
public sealed class HybridHostFactAttribute : FactAttribute
{
    public HybridHostFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || CgroupLayout.Current.Unified?.MountPoint != "/sys/fs/cgroup/unified" || CgroupLayout.Current.V1.IsEmpty)
            Skip = "needs the hybrid cgroup layout (cgroup2 at /sys/fs/cgroup/unified beside cgroup v1 hierarchies)";
    }
}

internal static class CgroupKit
{
    /// <summary>The line of a /proc/PID/cgroup text for <paramref name="hierarchy"/>, as its path.</summary>
    public static string? PathIn(string procCgroup, CgroupHierarchy hierarchy)
    {
        foreach (var line in procCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
                continue;
            if (hierarchy.Version == CgroupVersion.V2 ? parts[0] == "0" && parts[1].Length == 0
                : hierarchy.Controllers.All(c => parts[1].Split(',').Contains(c)) && parts[1].Length > 0)
            {
                return parts[2];
            }
        }
        return null;
    }

    /// <summary>Reads a whole interface file, trimmed.</summary>
    public static string Read(string directory, string file) => File.ReadAllText(Path.Combine(directory, file)).Trim();

    /// <summary>The directory of <paramref name="group"/> in the hierarchy that serves <paramref name="controller"/>.</summary>
    public static string DirectoryFor(ControlGroup group, string controller)
    {
        var h = group.Layout.HierarchyFor(controller) ?? throw new InvalidOperationException($"no {controller} hierarchy");
        return group.Directories.Single(d => h.CgroupOf(d) is not null && group.Layout.HierarchyOf(d) == h);
    }

    /// <summary>Removes whatever a failed test may have left (the group's Dispose already tried).</summary>
    public static void Sweep(IEnumerable<string> directories)
    {
        foreach (var d in directories.OrderByDescending(d => d.Length))
        {
            try
            {
                if (Directory.Exists(d))
                    Directory.Delete(d);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>
/// The groups one test makes: disposed at the end of the test whatever happened (the test's own failure included),
/// then any directory a failed removal left is swept, and a removal failure fails the test.
/// </summary>
internal sealed class CgroupScope : IDisposable
{
    private readonly List<ControlGroup> _groups = [];

    public ControlGroup Create(CgroupLimits limits, CgroupOptions? options = null)
    {
        var group = ControlGroup.Create(limits, options);
        _groups.Add(group);
        return group;
    }

    public ControlGroup Add(ControlGroup group)
    {
        _groups.Add(group);
        return group;
    }

    public void Dispose()
    {
        Exception? failure = null;
        for (int i = _groups.Count - 1; i >= 0; i--)
        {
            try
            {
                _groups[i].Dispose();
            }
            catch (CgroupException e)
            {
                failure ??= e;
            }
            if (_groups[i].Owned)
                CgroupKit.Sweep(_groups[i].Directories);
        }
        if (failure is not null)
            throw new InvalidOperationException("a group could not be removed: " + failure.Message, failure);
    }
}
