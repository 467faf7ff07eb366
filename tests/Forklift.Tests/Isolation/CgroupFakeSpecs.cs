using Forklift.Abi;
using Forklift.Isolation;

namespace Forklift.Tests.Isolation;

/// <summary>
/// What ControlGroup asks of the file system, in order, and how it reacts to each answer (a recording fake): the
/// hierarchies each limit goes to, the order of the limit writes, v2 controller enabling down the path, and
/// that a failure at any step leaves nothing behind.
/// </summary>
public sealed class CgroupFakeSpecs
{
    private static ControlGroup Create(CgroupLayout layout, FakeCgroupFiles files, CgroupLimits limits, CgroupOptions? options = null) =>
        ControlGroup.Create(limits, options ?? new CgroupOptions(), layout, files);

    /// <summary>The calls with the group's random name replaced by G.</summary>
    private static List<string> Normalized(FakeCgroupFiles files, string name) =>
        [.. files.Calls.Select(c => c.Replace(name, "G", StringComparison.Ordinal))];

    [Fact]
    public void On_a_hybrid_host_each_limit_goes_to_the_v1_hierarchy_of_its_controller_in_the_kernels_order()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);

        using var group = Create(layout, files, new CgroupLimits { MemoryMax = 64 << 20, MemoryAndSwapMax = 96 << 20, PidsMax = 20, CpuFraction = 1.5, CpuWeight = 200 });

        string name = Path.GetFileName(group.Directories[0]);
        Assert.Equal(
        [
            "mkdir /sys/fs/cgroup/unified/forklift",
            "mkdir /sys/fs/cgroup/unified/forklift/G",
            "mkdir /sys/fs/cgroup/cpu/forklift",
            "mkdir /sys/fs/cgroup/cpu/forklift/G",
            "write /sys/fs/cgroup/cpu/forklift/G/cpu.cfs_period_us 100000",
            "write /sys/fs/cgroup/cpu/forklift/G/cpu.cfs_quota_us 150000",
            "write /sys/fs/cgroup/cpu/forklift/G/cpu.shares 2048",
            "mkdir /sys/fs/cgroup/memory/forklift",
            "mkdir /sys/fs/cgroup/memory/forklift/G",
            "write /sys/fs/cgroup/memory/forklift/G/memory.limit_in_bytes 67108864",
            "write /sys/fs/cgroup/memory/forklift/G/memory.memsw.limit_in_bytes 100663296",
            "mkdir /sys/fs/cgroup/pids/forklift",
            "mkdir /sys/fs/cgroup/pids/forklift/G",
            "write /sys/fs/cgroup/pids/forklift/G/pids.max 20",
            "open /sys/fs/cgroup/unified/forklift/G",
        ], Normalized(files, name));
        Assert.Equal("/sys/fs/cgroup/unified/forklift/" + name, group.UnifiedDirectory);
        Assert.Equal(
            ["/sys/fs/cgroup/cpu/forklift/" + name + "/cgroup.procs", "/sys/fs/cgroup/memory/forklift/" + name + "/cgroup.procs", "/sys/fs/cgroup/pids/forklift/" + name + "/cgroup.procs"],
            group.V1ProcsFiles.Select(p => p.ProcsFile));
        Assert.Equal("/sys/fs/cgroup/memory", group.Routes.Single(r => r.Feature == CgroupFeature.MemoryLimit).Hierarchy.MountPoint);
        Assert.Equal("cgroup.kill", group.Routes.Single(r => r.Feature == CgroupFeature.Kill).How);
        Assert.Equal("cpu.stat", group.Routes.Single(r => r.Feature == CgroupFeature.CpuStatistics).How);
        Assert.Equal(CgroupVersion.V2, group.Routes.Single(r => r.Feature == CgroupFeature.CpuStatistics).Hierarchy.Version);
    }

    [Fact]
    public void On_a_pure_v2_host_the_controllers_are_enabled_down_the_path_and_the_v2_files_written()
    {
        var layout = FakeLayouts.PureV2();
        var files = FakeLayouts.Files(layout);

        using var group = Create(layout, files, new CgroupLimits { MemoryMax = 64 << 20, MemoryAndSwapMax = 80 << 20, PidsMax = 20, CpuFraction = 0.5, CpuWeight = 300 });

        string name = Path.GetFileName(group.Directories[0]);
        Assert.Equal(
        [
            "mkdir /sys/fs/cgroup/forklift",
            "write /sys/fs/cgroup/cgroup.subtree_control +cpu",
            "write /sys/fs/cgroup/cgroup.subtree_control +memory",
            "write /sys/fs/cgroup/cgroup.subtree_control +pids",
            "write /sys/fs/cgroup/forklift/cgroup.subtree_control +cpu",
            "write /sys/fs/cgroup/forklift/cgroup.subtree_control +memory",
            "write /sys/fs/cgroup/forklift/cgroup.subtree_control +pids",
            "mkdir /sys/fs/cgroup/forklift/G",
            "write /sys/fs/cgroup/forklift/G/memory.max 67108864",
            "write /sys/fs/cgroup/forklift/G/memory.swap.max 16777216",
            "write /sys/fs/cgroup/forklift/G/pids.max 20",
            "write /sys/fs/cgroup/forklift/G/cpu.max 50000 100000",
            "write /sys/fs/cgroup/forklift/G/cpu.weight 300",
            "open /sys/fs/cgroup/forklift/G",
        ], Normalized(files, name));
        Assert.Empty(group.V1ProcsFiles);
        Assert.All(group.Routes, r => Assert.Equal(CgroupVersion.V2, r.Hierarchy.Version));
    }

    [Fact]
    public void A_controller_already_enabled_is_not_enabled_again()
    {
        var layout = FakeLayouts.PureV2();
        var files = FakeLayouts.Files(layout);
        files.Files["/sys/fs/cgroup/cgroup.subtree_control"] = "cpu memory pids";

        using var group = Create(layout, files, new CgroupLimits { PidsMax = 3 });

        Assert.DoesNotContain(files.Calls, c => c.StartsWith("write /sys/fs/cgroup/cgroup.subtree_control", StringComparison.Ordinal));
        Assert.Contains("write /sys/fs/cgroup/forklift/cgroup.subtree_control +pids", files.Calls);
    }

    [Fact]
    public void A_failure_halfway_removes_everything_made_and_names_the_step_file_errno_and_advice()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        var before = files.Dirs.ToHashSet();
        files.Fail("memory.limit_in_bytes", Errno.ENOENT);

        var e = Assert.Throws<CgroupException>(() => Create(layout, files, new CgroupLimits { MemoryMax = 64 << 20, MemoryAndSwapMax = 96 << 20, PidsMax = 20 }));

        Assert.Equal("WriteLimit(memory.limit_in_bytes)", e.Step);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.EndsWith("/memory.limit_in_bytes", e.Path);
        Assert.Equal(before, files.Dirs);
        // Undone in reverse: the memory group, its parent, the unified group, its parent.
        var removals = files.Calls.Where(c => c.StartsWith("rmdir", StringComparison.Ordinal)).Select(c => c.Split('/')[4]).ToList();
        Assert.Equal(["memory", "memory", "unified", "unified"], removals);
        Assert.DoesNotContain(files.Calls, c => c.Contains("/pids/", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_swap_file_says_that_swap_accounting_is_off()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        var before = files.Dirs.ToHashSet();
        files.Fail("memory.memsw.limit_in_bytes", Errno.ENOENT);

        var e = Assert.Throws<CgroupException>(() => Create(layout, files, new CgroupLimits { MemoryMax = 64 << 20, MemoryAndSwapMax = 96 << 20 }));

        Assert.Equal("WriteLimit(memory.memsw.limit_in_bytes)", e.Step);
        Assert.Contains("swapaccount=1", e.Advice);
        Assert.Equal(before, files.Dirs);
    }

    [Fact]
    public void Enabling_a_controller_in_a_parent_with_processes_explains_the_no_internal_processes_rule_and_is_undone()
    {
        var layout = FakeLayouts.PureV2();
        var files = FakeLayouts.Files(layout);
        files.Dirs.Add("/sys/fs/cgroup/busy");
        files.Files["/sys/fs/cgroup/busy/cgroup.subtree_control"] = "";
        files.Fail("write /sys/fs/cgroup/busy/cgroup.subtree_control", Errno.EBUSY);

        var e = Assert.Throws<CgroupException>(() => Create(layout, files, new CgroupLimits { MemoryMax = 64 << 20 }, new CgroupOptions { Parent = "/sys/fs/cgroup/busy" }));

        Assert.Equal("EnableController(memory)", e.Step);
        Assert.Equal(Errno.EBUSY, e.Errno);
        Assert.Equal("/sys/fs/cgroup/busy/cgroup.subtree_control", e.Path);
        Assert.Contains("no-internal-processes", e.Advice);
        Assert.Equal("write /sys/fs/cgroup/cgroup.subtree_control -memory", files.Calls[^1]);
        Assert.Equal("", files.Files["/sys/fs/cgroup/cgroup.subtree_control"]);
    }

    [Fact]
    public void An_unavailable_controller_is_refused_before_anything_is_made_with_advice()
    {
        var layout = CgroupLayout.Parse(
            "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
            "0::/\n4:memory:/\n", _ => "hugetlb");
        var files = FakeLayouts.Files(layout);

        var e = Assert.Throws<CgroupException>(() => Create(layout, files, new CgroupLimits { MemoryMax = 1 << 20, PidsMax = 4 }));

        Assert.Equal("ResolveController(pids)", e.Step);
        Assert.Contains("PidsMax needs it", e.Advice);
        Assert.Contains("/sys/fs/cgroup/unified/cgroup.controllers does not list it (hugetlb)", e.Advice);
        Assert.Contains("mount -t cgroup -o pids", e.Advice);
        Assert.Empty(files.Calls);
    }

    [Fact]
    public void A_group_that_would_exist_in_no_hierarchy_is_refused()
    {
        var layout = CgroupLayout.Parse(
            "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
            "0::/\n4:memory:/\n", _ => "");
        var files = FakeLayouts.Files(layout);

        var e = Assert.Throws<CgroupException>(() => Create(layout, files, CgroupLimits.None, new CgroupOptions { UseUnifiedHierarchy = false }));

        Assert.Contains("no hierarchy", e.Advice);
        Assert.Empty(files.Calls);
    }

    [Fact]
    public void A_read_only_hierarchy_is_refused_before_anything_is_made()
    {
        var layout = CgroupLayout.Parse(
            "34 30 0:31 / /sys/fs/cgroup/memory ro,relatime - cgroup cgroup ro,memory\n", "4:memory:/\n", _ => null);
        var files = FakeLayouts.Files(layout);

        var e = Assert.Throws<CgroupException>(() => Create(layout, files, new CgroupLimits { MemoryMax = 1 << 20 }));

        Assert.Equal(Errno.EROFS, e.Errno);
        Assert.Contains("read-only", e.Advice);
        Assert.Empty(files.Calls);
    }

    [Fact]
    public void Without_the_unified_hierarchy_the_v1_freezer_is_joined_for_the_kill_and_cpuacct_for_cpu_time()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);

        using var group = Create(layout, files, new CgroupLimits { PidsMax = 5 }, new CgroupOptions { UseUnifiedHierarchy = false, Accounting = CgroupAccounting.Cpu });

        Assert.Null(group.UnifiedDirectory);
        Assert.Equal(["cpuacct", "freezer", "pids"], group.Directories.Select(d => d.Split('/')[4]));
        Assert.StartsWith("freezer.state", group.Routes.Single(r => r.Feature == CgroupFeature.Kill).How);
        Assert.StartsWith("cpuacct.usage", group.Routes.Single(r => r.Feature == CgroupFeature.CpuStatistics).How);
    }

    [Fact]
    public void The_v1_kill_freezes_signals_members_through_pidfds_and_thaws_until_the_group_is_empty()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        using var group = Create(layout, files, new CgroupLimits { PidsMax = 5 }, new CgroupOptions { UseUnifiedHierarchy = false });
        string pids = group.Directories.Single(d => d.Contains("/pids/", StringComparison.Ordinal));
        string freezer = group.Directories.Single(d => d.Contains("/freezer/", StringComparison.Ordinal));
        string cgroupPath = pids["/sys/fs/cgroup/pids".Length..];
        files.Files[pids + "/cgroup.procs"] = "101\n102\n";
        files.Files[freezer + "/freezer.state"] = "THAWED";
        files.Files["/proc/101/cgroup"] = $"8:pids:{cgroupPath}\n6:freezer:{cgroupPath}\n0::/\n";
        files.Files["/proc/102/cgroup"] = "8:pids:/elsewhere\n0::/\n"; // 102 was reused by a stranger meanwhile
        files.OnPause = () =>
        {
            if (files.Files[freezer + "/freezer.state"] == "FROZEN")
                return;
            files.Files[pids + "/cgroup.procs"] = ""; // thawed: the SIGKILL is delivered
        };
        files.Calls.Clear();

        group.Kill();

        Assert.Equal(
        [
            $"write {freezer}/freezer.state FROZEN",
            "pidfd_open 101", "signal 101 9", "close 101",
            "pidfd_open 102", "close 102",
            $"write {freezer}/freezer.state THAWED",
        ], files.Calls);
    }

    [Fact]
    public void A_kill_that_cannot_empty_the_group_times_out_with_the_pids_left()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        using var group = Create(layout, files, new CgroupLimits { PidsMax = 5 }, new CgroupOptions { UseUnifiedHierarchy = false, KillTimeout = TimeSpan.FromMilliseconds(50) });
        string pids = group.Directories.Single(d => d.Contains("/pids/", StringComparison.Ordinal));
        files.Files[pids + "/cgroup.procs"] = "4242\n";
        files.Files["/proc/4242/cgroup"] = $"8:pids:{pids["/sys/fs/cgroup/pids".Length..]}\n";

        var e = Assert.Throws<CgroupException>(group.Kill);

        Assert.Equal("Kill", e.Step);
        Assert.Equal(Errno.ETIMEDOUT, e.Errno);
        Assert.Contains("4242", e.Advice);
        files.Files[pids + "/cgroup.procs"] = ""; // so the Dispose at the end can remove it
    }

    [Fact]
    public void Dispose_kills_then_removes_subgroups_before_the_group_and_keeps_the_shared_parent()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        var group = Create(layout, files, new CgroupLimits { PidsMax = 5 });
        string pids = group.Directories.Single(d => d.Contains("/pids/", StringComparison.Ordinal));
        files.Dirs.Add(pids + "/sub");
        files.Calls.Clear();

        group.Dispose();

        Assert.Equal(
        [
            $"write {group.UnifiedDirectory}/cgroup.kill 1",
            $"rmdir {group.UnifiedDirectory}",
            $"rmdir {pids}/sub",
            $"rmdir {pids}",
        ], files.Calls);
        Assert.Contains("/sys/fs/cgroup/pids/forklift", files.Dirs);
    }

    [Fact]
    public void A_user_parent_made_for_the_group_is_removed_with_it()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        var before = files.Dirs.ToHashSet();

        var group = Create(layout, files, new CgroupLimits { PidsMax = 5 }, new CgroupOptions { Parent = "ci/jobs" });
        Assert.All(group.Directories, d => Assert.Contains("/ci/jobs/fl-", d));
        group.Dispose();

        Assert.Equal(before, files.Dirs);
    }

    [Fact]
    public void Opening_checks_each_path_against_the_layout()
    {
        var layout = FakeLayouts.Hybrid();
        var files = FakeLayouts.Files(layout);
        files.Dirs.Add("/sys/fs/cgroup/pids/job");
        files.Files["/sys/fs/cgroup/pids/job/cgroup.procs"] = "";
        files.Dirs.Add("/sys/fs/cgroup/unified/job");
        files.Files["/sys/fs/cgroup/unified/job/cgroup.procs"] = "";
        files.Files["/sys/fs/cgroup/unified/job/cgroup.controllers"] = "";

        using (var group = ControlGroup.Open(["/sys/fs/cgroup/pids/job", "/sys/fs/cgroup/unified/job/"], layout, files, TimeSpan.FromSeconds(1)))
        {
            Assert.False(group.Owned);
            Assert.Equal(["/sys/fs/cgroup/unified/job", "/sys/fs/cgroup/pids/job"], group.Directories.AsEnumerable());
            Assert.Single(group.V1ProcsFiles);
        }
        Assert.Contains("/sys/fs/cgroup/pids/job", files.Dirs);
        Assert.DoesNotContain(files.Calls, c => c.StartsWith("rmdir", StringComparison.Ordinal));

        Assert.Equal(Errno.ENOENT, Assert.Throws<CgroupException>(() => ControlGroup.Open(["/sys/fs/cgroup/pids/nope"], layout, files, TimeSpan.FromSeconds(1))).Errno);
        Assert.Contains("not inside", Assert.Throws<CgroupException>(() => ControlGroup.Open(["/var/tmp"], layout, files, TimeSpan.FromSeconds(1))).Advice);
    }
}
