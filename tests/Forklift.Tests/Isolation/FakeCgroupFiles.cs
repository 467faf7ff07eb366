using Forklift.Abi;
using Forklift.Isolation;
using Microsoft.Win32.SafeHandles;

namespace Forklift.Tests.Isolation;

/// <summary>
/// A recording fake of <see cref="ICgroupFiles"/>: an in-memory tree of directories and files that answers as
/// cgroupfs does for what ControlGroup asks (mkdir needs the parent, rmdir refuses a group with subgroups or
/// processes, <c>+ctrl</c> writes accumulate in subtree_control), logs every changing call in order, and can be told
/// to fail a call. Checks what the library asks for and how it reacts; never a stand-in for the real-kernel tests.
/// </summary>
internal sealed class FakeCgroupFiles : ICgroupFiles
{
    private readonly List<(string Prefix, Errno Errno)> _failures = [];

    public HashSet<string> Dirs { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal);

    /// <summary>mkdir, rmdir, write, open, pidfd_open, signal, close: in order.</summary>
    public List<string> Calls { get; } = [];

    /// <summary>Runs at every Pause (what the kernel does meanwhile: processes dying).</summary>
    public Action? OnPause { get; set; }

    public FakeCgroupFiles(params string[] directories)
    {
        foreach (var d in directories)
            Dirs.Add(d);
    }

    /// <summary>Every later call whose log line contains <paramref name="fragment"/> fails with <paramref name="errno"/>.</summary>
    public void Fail(string fragment, Errno errno) => _failures.Add((fragment, errno));

    private int Log(string line)
    {
        Calls.Add(line);
        foreach (var (prefix, errno) in _failures)
        {
            if (line.Contains(prefix, StringComparison.Ordinal))
                return -(int)errno;
        }
        return 0;
    }

    public int MakeDirectory(string path)
    {
        int rc = Log("mkdir " + path);
        if (rc < 0)
            return rc;
        if (Dirs.Contains(path))
            return -(int)Errno.EEXIST;
        if (!Dirs.Contains(Path.GetDirectoryName(path)!))
            return -(int)Errno.ENOENT;
        Dirs.Add(path);
        Files[path + "/cgroup.procs"] = "";
        Files[path + "/cgroup.subtree_control"] = "";
        return 0;
    }

    public int RemoveDirectory(string path)
    {
        int rc = Log("rmdir " + path);
        if (rc < 0)
            return rc;
        if (!Dirs.Contains(path))
            return -(int)Errno.ENOENT;
        if (Dirs.Any(d => d.StartsWith(path + "/", StringComparison.Ordinal)) || Files.GetValueOrDefault(path + "/cgroup.procs", "").Trim().Length > 0)
            return -(int)Errno.EBUSY;
        Dirs.Remove(path);
        foreach (var f in Files.Keys.Where(f => Path.GetDirectoryName(f) == path).ToList())
            Files.Remove(f);
        return 0;
    }

    public int Write(string path, string text)
    {
        int rc = Log($"write {path} {text}");
        if (rc < 0)
            return rc;
        if (!Dirs.Contains(Path.GetDirectoryName(path)!))
            return -(int)Errno.ENOENT;
        if (path.EndsWith("/cgroup.subtree_control", StringComparison.Ordinal))
        {
            var set = Files.GetValueOrDefault(path, "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (text.StartsWith('+'))
                set.Add(text[1..]);
            else
                set.Remove(text[1..]);
            Files[path] = string.Join(' ', set);
        }
        else
        {
            Files[path] = text;
        }
        return 0;
    }

    public int Read(string path, out string? text)
    {
        if (Files.TryGetValue(path, out text))
            return 0;
        text = null;
        return -(int)Errno.ENOENT;
    }

    public int OpenDirectory(string path, out SafeFileHandle? handle)
    {
        int rc = Log("open " + path);
        handle = null;
        if (rc < 0)
            return rc;
        if (!Dirs.Contains(path))
            return -(int)Errno.ENOENT;
        handle = new SafeFileHandle(777, ownsHandle: false);
        return 0;
    }

    public int PidfdOpen(int pid)
    {
        int rc = Log($"pidfd_open {pid}");
        return rc < 0 ? rc : 1000 + pid;
    }

    public int PidfdSendSignal(int pidfd, int signal) => Log($"signal {pidfd - 1000} {signal}");

    public void Close(int fd) => Log($"close {fd - 1000}");

    public IReadOnlyList<string> Subdirectories(string path) =>
        [.. Dirs.Where(d => Path.GetDirectoryName(d) == path).Order(StringComparer.Ordinal)];

    public bool Exists(string path) => Dirs.Contains(path) || Files.ContainsKey(path);

    public void Pause(TimeSpan delay) => OnPause?.Invoke();
}

/// <summary>Layouts as /proc shows them.</summary>
internal static class FakeLayouts
{
    public const string HybridMountinfo = """
        22 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 30 0:35 / /sys/fs/cgroup/pids rw,relatime shared:9 - cgroup cgroup rw,pids
        39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
        """;

    public const string HybridCgroup = """
        9:name=systemd:/
        8:pids:/
        6:freezer:/
        4:memory:/process_api/92d7
        2:cpuacct:/
        1:cpu:/
        0::/
        """;

    public const string PureV2Mountinfo = """
        30 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """;

    public static CgroupLayout Hybrid() =>
        CgroupLayout.Parse(HybridMountinfo, HybridCgroup, p => p == "/sys/fs/cgroup/unified/cgroup.controllers" ? "hugetlb\n" : null);

    public static CgroupLayout PureV2() =>
        CgroupLayout.Parse(PureV2Mountinfo, "0::/user.slice/session-1.scope\n", p => p == "/sys/fs/cgroup/cgroup.controllers" ? "cpuset cpu io memory hugetlb pids rdma misc\n" : null);

    /// <summary>A fake whose tree has every mount point of <paramref name="layout"/>.</summary>
    public static FakeCgroupFiles Files(CgroupLayout layout)
    {
        var files = new FakeCgroupFiles([.. layout.All.Select(h => h.MountPoint)]);
        foreach (var h in layout.All)
        {
            files.Files[h.MountPoint + "/cgroup.procs"] = "1\n";
            if (h.Version == CgroupVersion.V2)
                files.Files[h.MountPoint + "/cgroup.subtree_control"] = "";
        }
        return files;
    }
}
