using Forklift.Interop;

namespace Forklift.Rules;

/// <summary>
/// Describes a real path as a <c>CLONE_INTO_CGROUP</c> target: which hierarchy it is on (from
/// <c>/proc/self/mountinfo</c>), its <c>cgroup.type</c>, whether the no-internal-process rule makes it busy,
/// whether the caller may write its <c>cgroup.procs</c>, and whether it is in the caller's own domain.
/// </summary>
public static class CgroupInspector
{
    // Controllers that may be enabled in a threaded subtree (cgrp_dfl_threaded_ss_mask): enabling only these
    // does not make a cgroup busy.
    internal static readonly string[] ThreadedControllers = ["cpu", "cpuset", "perf_event", "pids"];

    /// <summary>Inspects <paramref name="path"/>; <paramref name="error"/> says why it cannot serve when it is not even openable.</summary>
    public static CgroupTarget Inspect(string path, out string? error)
    {
        error = null;
        string full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
        {
            if (File.Exists(full))
            {
                return new CgroupTarget { Kind = CgroupTargetKind.NotCgroup, Writable = true, Path = full };
            }
            error = $"cannot open '{full}': no such file or directory";
            return new CgroupTarget { Kind = CgroupTargetKind.NotOpen, Path = full };
        }
        var (fsType, mountPoint) = MountOf(full);
        if (fsType == "cgroup")
        {
            return new CgroupTarget { Kind = CgroupTargetKind.V1, Writable = true, Path = full };
        }
        if (fsType != "cgroup2" || mountPoint is null)
        {
            return new CgroupTarget { Kind = CgroupTargetKind.NotCgroup, Writable = true, Path = full };
        }
        string rel = "/" + Path.GetRelativePath(mountPoint, full).Replace("\\", "/", StringComparison.Ordinal);
        if (rel == "/.")
        {
            rel = "/";
        }
        bool isRoot = rel == "/";
        string type = isRoot ? "domain" : KernelFiles.ReadOr(Path.Combine(full, "cgroup.type")).Trim();
        var kind = type switch
        {
            "threaded" => CgroupTargetKind.Threaded,
            "domain invalid" => CgroupTargetKind.DomainInvalid,
            _ => !isRoot && IsBusy(full, type) ? CgroupTargetKind.Busy : CgroupTargetKind.Domain,
        };
        string? own = OwnCgroup();
        string? common = own is null ? mountPoint : Path.Combine(mountPoint, CommonAncestor(own, rel).TrimStart('/'));
        bool writable = LibcContext.Access(Path.Combine(full, "cgroup.procs"), LibcContext.WOk) == 0
            && (common is null || LibcContext.Access(Path.Combine(common, "cgroup.procs"), LibcContext.WOk) == 0);
        bool sameDomain = own is not null && Domain(mountPoint, own) == Domain(mountPoint, rel);
        return new CgroupTarget { Kind = kind, Writable = writable, SameDomainAsCaller = sameDomain, Path = full };
    }

    // cgroup_migrate_vet_dst: a non-root, non-threaded cgroup with controllers enabled for its children cannot
    // take processes unless it can still be a thread root (only threaded controllers, no populated domain children).
    private static bool IsBusy(string dir, string type)
    {
        if (type == "threaded")
        {
            return false;
        }
        var enabled = KernelFiles.ReadOr(Path.Combine(dir, "cgroup.subtree_control")).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
        if (enabled.Length == 0)
        {
            return false;
        }
        if (enabled.Any(c => !ThreadedControllers.Contains(c)))
        {
            return true;
        }
        foreach (var child in KernelFiles.Directories(dir))
        {
            string ctype = KernelFiles.ReadOr(Path.Combine(child, "cgroup.type")).Trim();
            if (ctype.StartsWith("domain", StringComparison.Ordinal) && KernelFiles.ReadOr(Path.Combine(child, "cgroup.events")).Contains("populated 1", StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    // The domain of a cgroup: itself, or for a threaded cgroup its nearest non-threaded ancestor.
    private static string Domain(string mountPoint, string rel)
    {
        string cur = rel;
        while (cur != "/" && KernelFiles.ReadOr(Path.Combine(mountPoint, cur.TrimStart('/'), "cgroup.type")).Trim() == "threaded")
        {
            int slash = cur.LastIndexOf('/');
            cur = slash <= 0 ? "/" : cur[..slash];
        }
        return cur;
    }

    private static string CommonAncestor(string a, string b)
    {
        var pa = a.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var pb = b.Split('/', StringSplitOptions.RemoveEmptyEntries);
        int n = 0;
        while (n < pa.Length && n < pb.Length && pa[n] == pb[n])
        {
            n++;
        }
        return "/" + string.Join('/', pa.Take(n));
    }

    /// <summary>The caller's cgroup2 path (the <c>0::</c> line of /proc/self/cgroup), or null.</summary>
    public static string? OwnCgroup()
    {
        foreach (var line in KernelFiles.ReadOr("/proc/self/cgroup").Split('\n'))
        {
            if (line.StartsWith("0::", StringComparison.Ordinal))
            {
                return line[3..].Trim();
            }
        }
        return null;
    }

    /// <summary>The mount point of the cgroup2 hierarchy, or null when none is mounted.</summary>
    public static string? UnifiedMountPoint()
    {
        foreach (var line in KernelFiles.ReadOr("/proc/self/mountinfo").Split('\n'))
        {
            var (type, mp) = ParseMountInfo(line);
            if (type == "cgroup2")
            {
                return mp;
            }
        }
        return null;
    }

    // The file system type and mount point of the deepest mount containing the path.
    private static (string? Type, string? MountPoint) MountOf(string path)
    {
        string? bestType = null, bestMp = null;
        foreach (var line in KernelFiles.ReadOr("/proc/self/mountinfo").Split('\n'))
        {
            var (type, mp) = ParseMountInfo(line);
            if (type is null || mp is null)
            {
                continue;
            }
            bool contains = mp == "/" || path == mp || path.StartsWith(mp + "/", StringComparison.Ordinal);
            if (contains && (bestMp is null || mp.Length >= bestMp.Length))
            {
                bestType = type;
                bestMp = mp;
            }
        }
        return (bestType, bestMp);
    }

    // mountinfo: "id parent major:minor root mountpoint options ... - fstype source superoptions"; spaces in
    // paths are escaped as \040.
    private static (string? Type, string? MountPoint) ParseMountInfo(string line)
    {
        var f = line.Split(' ');
        int dash = Array.IndexOf(f, "-");
        if (f.Length < 5 || dash < 0 || dash + 1 >= f.Length)
        {
            return (null, null);
        }
        return (f[dash + 1], f[4].Replace("\\040", " ", StringComparison.Ordinal));
    }
}
