using System.Globalization;
using Forklift.Isolation;

namespace Forklift.Tests.Isolation;

/// <summary>
/// Control groups on the real kernel, made, limited, read and removed, one uniquely named group per test (these
/// run in parallel with each other). Each limit is read back from the file of the hierarchy the layout says serves
/// it, and removal leaves no directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CgroupSpecs
{
    [CgroupLimitFact("memory")]
    public void I_can_create_a_group_with_a_memory_limit_and_swap_limit_and_remove_it()
    {
        string[] dirs;
        using (var scope = new CgroupScope())
        {
            var group = scope.Create(new CgroupLimits { MemoryMax = 48UL << 20, MemoryAndSwapMax = 64UL << 20 });
            dirs = [.. group.Directories];
            string dir = CgroupKit.DirectoryFor(group, "memory");
            var h = group.Layout.HierarchyFor("memory")!;
            if (h.Version == CgroupVersion.V1)
            {
                Assert.Equal((48L << 20).ToString(CultureInfo.InvariantCulture), CgroupKit.Read(dir, "memory.limit_in_bytes"));
                Assert.Equal((64L << 20).ToString(CultureInfo.InvariantCulture), CgroupKit.Read(dir, "memory.memsw.limit_in_bytes"));
            }
            else
            {
                Assert.Equal((48L << 20).ToString(CultureInfo.InvariantCulture), CgroupKit.Read(dir, "memory.max"));
                Assert.Equal((16L << 20).ToString(CultureInfo.InvariantCulture), CgroupKit.Read(dir, "memory.swap.max"));
            }
            var route = Assert.Single(group.Routes, r => r.Feature == CgroupFeature.MemoryLimit);
            Assert.Same(h, route.Hierarchy);
            Assert.Equal(dir, route.Directory);
            Assert.Single(group.Routes, r => r.Feature == CgroupFeature.SwapLimit && r.Hierarchy == h);
            Assert.All(dirs, d => Assert.True(Directory.Exists(d), d));
            Assert.Contains("/forklift/fl-", dir);
        }
        Assert.All(dirs, d => Assert.False(Directory.Exists(d), $"{d} is still there"));
    }

    [CgroupLimitFact("pids")]
    public void I_can_create_a_group_with_a_pids_limit_and_remove_it()
    {
        string[] dirs;
        using (var scope = new CgroupScope())
        {
            var group = scope.Create(new CgroupLimits { PidsMax = 37 });
            dirs = [.. group.Directories];
            Assert.Equal("37", CgroupKit.Read(CgroupKit.DirectoryFor(group, "pids"), "pids.max"));
            Assert.Single(group.Routes, r => r.Feature == CgroupFeature.PidsLimit && r.Hierarchy == group.Layout.HierarchyFor("pids"));
            var stats = group.ReadStatistics();
            Assert.Equal(0, stats.PidsCurrent);
            Assert.Equal(0, stats.PidsLimitHits);
        }
        Assert.All(dirs, d => Assert.False(Directory.Exists(d), $"{d} is still there"));
    }

    [CgroupLimitFact("cpu")]
    public void I_can_create_a_group_with_a_cpu_limit_and_weight_and_remove_it()
    {
        string[] dirs;
        using (var scope = new CgroupScope())
        {
            var group = scope.Create(new CgroupLimits { CpuFraction = 0.25, CpuPeriod = TimeSpan.FromMilliseconds(50), CpuWeight = 50 });
            dirs = [.. group.Directories];
            string dir = CgroupKit.DirectoryFor(group, "cpu");
            if (group.Layout.HierarchyFor("cpu")!.Version == CgroupVersion.V1)
            {
                Assert.Equal("50000", CgroupKit.Read(dir, "cpu.cfs_period_us"));
                Assert.Equal("12500", CgroupKit.Read(dir, "cpu.cfs_quota_us"));
                Assert.Equal("512", CgroupKit.Read(dir, "cpu.shares")); // 50 * 1024 / 100
            }
            else
            {
                Assert.Equal("12500 50000", CgroupKit.Read(dir, "cpu.max"));
                Assert.Equal("50", CgroupKit.Read(dir, "cpu.weight"));
            }
            Assert.Single(group.Routes, r => r.Feature == CgroupFeature.CpuLimit);
            Assert.Single(group.Routes, r => r.Feature == CgroupFeature.CpuWeight);
        }
        Assert.All(dirs, d => Assert.False(Directory.Exists(d), $"{d} is still there"));
    }

    [CgroupLimitFact("unified")]
    public void A_group_without_limits_lives_in_the_unified_hierarchy_with_kill_and_cpu_time()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(CgroupLimits.None);
        Assert.NotNull(group.UnifiedDirectory);
        Assert.NotNull(group.UnifiedDirectoryHandle);
        Assert.Equal(group.UnifiedDirectory, Assert.Single(group.Directories));
        Assert.Empty(group.V1ProcsFiles);
        Assert.Contains(group.Routes, r => r.Feature == CgroupFeature.Kill && r.How == "cgroup.kill");
        Assert.Contains(group.Routes, r => r.Feature == CgroupFeature.CpuStatistics && r.How == "cpu.stat");
        var stats = group.ReadStatistics();
        Assert.Equal(TimeSpan.Zero, stats.CpuUsage);
        Assert.Null(stats.MemoryCurrent);
    }

    [CgroupLimitFact("memory", "pids", "cpu")]
    public void Accounting_joins_the_hierarchies_that_count_without_a_limit()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(CgroupLimits.None, new CgroupOptions { Accounting = CgroupAccounting.All });
        var stats = group.ReadStatistics();
        Assert.NotNull(stats.MemoryCurrent);
        Assert.NotNull(stats.PidsCurrent);
        Assert.NotNull(stats.CpuUsage);
        Assert.Contains(stats.Sources, r => r.Feature == CgroupFeature.MemoryStatistics && r.Hierarchy == group.Layout.HierarchyFor("memory"));
        Assert.Contains(stats.Sources, r => r.Feature == CgroupFeature.PidsStatistics && r.Hierarchy == group.Layout.HierarchyFor("pids"));
    }

    [CgroupLimitFact("pids")]
    public void A_group_goes_under_the_parent_i_give_and_the_parent_directories_made_for_it_go_with_it()
    {
        string parent = "forklift-test-parent-" + Guid.NewGuid().ToString("N")[..12];
        var pids = CgroupLayout.Current.HierarchyFor("pids")!;
        string parentDir = Path.Join(pids.MountPoint, parent);
        try
        {
            using (var scope = new CgroupScope())
            {
                var group = scope.Create(new CgroupLimits { PidsMax = 5 }, new CgroupOptions { Parent = parentDir });
                Assert.All(group.Directories, d => Assert.Contains("/" + parent + "/fl-", d));
                Assert.True(Directory.Exists(parentDir));
            }
            Assert.False(Directory.Exists(parentDir), "the parent made for the group is still there");
            foreach (var h in CgroupLayout.Current.All)
                Assert.False(Directory.Exists(Path.Join(h.MountPoint, parent)), $"{h}: parent left behind");
        }
        finally
        {
            foreach (var h in CgroupLayout.Current.All)
                CgroupKit.Sweep([Path.Join(h.MountPoint, parent)]);
        }
    }

    [CgroupLimitFact("cpu@v1", "pids")]
    public void A_creation_that_fails_halfway_leaves_nothing_behind_and_names_the_step_file_and_errno()
    {
        // cgroup v1 refuses a child quota above its parent's (tg_cfs_schedulable_down): the limit write fails after
        // the directories were made in every hierarchy.
        using var scope = new CgroupScope();
        var parent = scope.Create(new CgroupLimits { CpuFraction = 0.1 }, new CgroupOptions { UseUnifiedHierarchy = true });
        var cpu = parent.Layout.HierarchyFor("cpu")!; // v1 (v2 clamps to the parent's quota instead of refusing)
        string parentDir = CgroupKit.DirectoryFor(parent, "cpu");
        var before = AllGroups();

        var e = Assert.Throws<CgroupException>(() => ControlGroup.Create(
            new CgroupLimits { CpuFraction = 0.5, PidsMax = 10 }, new CgroupOptions { Parent = parentDir }));

        Assert.Equal("WriteLimit(cpu.cfs_quota_us)", e.Step);
        Assert.Equal(Forklift.Abi.Errno.EINVAL, e.Errno);
        Assert.StartsWith(parentDir + "/fl-", e.Path);
        Assert.EndsWith("/cpu.cfs_quota_us", e.Path);
        Assert.Contains("parent", e.Advice);
        Assert.Equal(before, AllGroups());

        // Every directory under the parent's path, in every hierarchy.
        HashSet<string> AllGroups() =>
        [
            .. parent.Layout.All.Select(h => Path.Join(h.MountPoint, cpu.CgroupOf(parentDir)!))
                .Where(Directory.Exists).SelectMany(d => Directory.GetDirectories(d, "*", SearchOption.AllDirectories).Append(d)),
        ];
    }

    [Fact]
    public void Bad_limits_are_refused_before_anything_is_made()
    {
        var e = Assert.Throws<CgroupLimitsException>(() => ControlGroup.Create(new CgroupLimits { CpuFraction = -1 }));
        Assert.Equal("CpuFraction", e.Option);
    }

    [CgroupLimitFact("unified")]
    public void Dispose_removes_the_group_and_is_idempotent_and_the_handle_refuses_use_afterwards()
    {
        var group = ControlGroup.Create(CgroupLimits.None);
        try
        {
            group.Dispose();
            group.Dispose();
            Assert.True(group.IsDisposed);
            Assert.All(group.Directories, d => Assert.False(Directory.Exists(d)));
            Assert.True(group.UnifiedDirectoryHandle!.IsClosed);
            Assert.Throws<ObjectDisposedException>(() => group.ReadStatistics());
            Assert.Throws<ObjectDisposedException>(() => group.Kill());
        }
        finally
        {
            CgroupKit.Sweep(group.Directories);
        }
    }

    [CgroupLimitFact("unified", "pids")]
    public void I_can_open_existing_groups_and_leave_them_in_place()
    {
        using var scope = new CgroupScope();
        var owner = scope.Create(new CgroupLimits { PidsMax = 9 });
        using (var opened = ControlGroup.Open(owner.Directories))
        {
            Assert.False(opened.Owned);
            Assert.Equal(owner.Directories.Order(), opened.Directories.Order());
            Assert.Equal(owner.UnifiedDirectory, opened.UnifiedDirectory);
            Assert.Equal(9, owner.Limits.PidsMax);
            Assert.Equal(0, opened.ReadStatistics().PidsCurrent);
        }
        Assert.All(owner.Directories, d => Assert.True(Directory.Exists(d)));

        var notCgroup = Assert.Throws<CgroupException>(() => ControlGroup.Open("/tmp"));
        Assert.Equal("OpenGroup", notCgroup.Step);
        Assert.Contains("not inside a mounted cgroup hierarchy", notCgroup.Advice);
        var twice = Assert.Throws<CgroupException>(() => ControlGroup.Open(owner.UnifiedDirectory!, owner.Layout.Unified!.MountPoint));
        Assert.Contains("same hierarchy", twice.Advice);
    }
}
