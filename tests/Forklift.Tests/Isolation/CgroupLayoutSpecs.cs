using System.Globalization;
using Forklift.Isolation;

namespace Forklift.Tests.Isolation;

/// <summary>Layout detection: parsing /proc texts of every shape, and the live layout checked against /proc/cgroups.</summary>
public sealed class CgroupLayoutSpecs
{
    [Fact]
    public void A_hybrid_host_has_v1_hierarchies_by_controller_and_a_unified_one_with_few_controllers()
    {
        var layout = FakeLayouts.Hybrid();

        Assert.Equal("/sys/fs/cgroup/unified", layout.Unified!.MountPoint);
        Assert.Equal(["hugetlb"], layout.Unified.Controllers.AsEnumerable());
        Assert.Equal("/", layout.Unified.CallerGroup);
        Assert.Same(layout.Unified, layout.HierarchyFor("hugetlb"));
        var memory = layout.HierarchyFor("memory")!;
        Assert.Equal(CgroupVersion.V1, memory.Version);
        Assert.Equal("/sys/fs/cgroup/memory", memory.MountPoint);
        Assert.Equal("/process_api/92d7", memory.CallerGroup);
        Assert.Equal("/sys/fs/cgroup/pids", layout.HierarchyFor("pids")!.MountPoint);
        Assert.Equal("/sys/fs/cgroup/cpuacct", layout.HierarchyFor("cpuacct")!.MountPoint);
        Assert.Null(layout.HierarchyFor("rdma"));
        var systemd = Assert.Single(layout.V1, h => h.Name == "systemd");
        Assert.Empty(systemd.Controllers); // xattr is an option, name= a name: no controller
        Assert.Equal("/", systemd.CallerGroup);
        Assert.Equal(6, layout.V1.Length);
        Assert.Equal("cgroup v1 memory (/sys/fs/cgroup/memory)", memory.ToString());
    }

    [Fact]
    public void A_pure_v2_host_serves_every_controller_from_the_unified_hierarchy()
    {
        var layout = FakeLayouts.PureV2();

        Assert.Empty(layout.V1);
        foreach (var c in new[] { "memory", "pids", "cpu", "io" })
            Assert.Same(layout.Unified, layout.HierarchyFor(c));
        Assert.Equal("/user.slice/session-1.scope", layout.Unified!.CallerGroup);
        Assert.Null(layout.HierarchyFor("cpuacct"));
        Assert.Null(layout.HierarchyFor("freezer")); // v2's freezer is cgroup.freeze, not a controller
    }

    [Fact]
    public void Co_mounted_controllers_share_one_hierarchy_and_the_caller_line_lists_them_together()
    {
        var layout = CgroupLayout.Parse(
            "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
            "26 24 0:23 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n",
            "3:cpu,cpuacct:/user.slice\n2:net_cls,net_prio:/\n", _ => null);

        var cpu = layout.HierarchyFor("cpu")!;
        Assert.Same(cpu, layout.HierarchyFor("cpuacct"));
        Assert.Equal(["cpu", "cpuacct"], cpu.Controllers.AsEnumerable());
        Assert.Equal("/user.slice", cpu.CallerGroup);
        Assert.Equal("cgroup v1 cpu,cpuacct (/sys/fs/cgroup/cpu,cpuacct)", cpu.ToString());
        Assert.Null(layout.Unified);
    }

    [Fact]
    public void A_mount_of_a_subtree_maps_cgroup_paths_to_directories_both_ways_and_escapes_are_decoded()
    {
        // A container's view: the hierarchy's /docker/abc mounted at a path with a space.
        var layout = CgroupLayout.Parse(
            "50 40 0:30 /docker/abc /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n", "4:memory:/docker/abc\n", _ => null);

        var h = layout.HierarchyFor("memory")!;
        Assert.Equal("/sys/fs/cgroup/my memory", h.MountPoint);
        Assert.Equal("/docker/abc", h.MountRoot);
        Assert.Equal("/sys/fs/cgroup/my memory/job", h.DirectoryOf("/docker/abc/job"));
        Assert.Equal("/sys/fs/cgroup/my memory", h.DirectoryOf("/docker/abc"));
        Assert.Equal("/docker/abc/job", h.CgroupOf("/sys/fs/cgroup/my memory/job"));
        Assert.Equal("/docker/abc", h.CgroupOf("/sys/fs/cgroup/my memory"));
        Assert.Null(h.CgroupOf("/sys/fs/cgroup/my memoryX"));
        Assert.Throws<ArgumentException>(() => h.DirectoryOf("/other"));
        Assert.Same(h, layout.HierarchyOf("/sys/fs/cgroup/my memory/job/deeper"));
        Assert.Null(layout.HierarchyOf("/sys/fs/cgroup"));
    }

    [Fact]
    public void Of_two_mounts_of_one_hierarchy_the_one_showing_more_of_it_wins()
    {
        var layout = CgroupLayout.Parse(
            "50 40 0:30 /sub /mnt/sub rw - cgroup cgroup rw,pids\n51 40 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
            "8:pids:/\n", _ => null);

        Assert.Equal("/sys/fs/cgroup/pids", Assert.Single(layout.V1).MountPoint);
    }

    [Fact]
    public void Lines_that_are_not_cgroup_mounts_or_are_malformed_are_ignored()
    {
        var layout = CgroupLayout.Parse("garbage\n1 2 3\n22 1 0:20 / /sys rw - sysfs sysfs rw\n", "junk\n", _ => null);

        Assert.Null(layout.Unified);
        Assert.Empty(layout.V1);
        Assert.Null(layout.HierarchyFor("memory"));
    }

    [LinuxFact]
    public void The_live_layout_agrees_with_proc_cgroups_and_proc_self_cgroup()
    {
        var layout = CgroupLayout.Detect();
        // /proc/cgroups: "subsys_name hierarchy num_cgroups enabled"; hierarchy 0 means unified (or unmounted).
        foreach (var line in File.ReadAllLines("/proc/cgroups").Skip(1))
        {
            var f = line.Split('\t', ' ').Where(x => x.Length > 0).ToArray();
            if (f.Length < 4 || f[3] != "1")
                continue;
            var h = layout.HierarchyFor(f[0]);
            if (f[1] == "0")
            {
                if (layout.Unified?.Controllers.Contains(f[0]) == true)
                    Assert.Same(layout.Unified, h);
                continue;
            }
            // Bound to v1 hierarchy N: served by the v1 mount whose caller line has id N (when it is mounted).
            string? idLine = File.ReadAllLines("/proc/self/cgroup").FirstOrDefault(l => l.Split(':')[1].Split(',').Contains(f[0]));
            if (h is null)
            {
                Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), m => m.Contains(" - cgroup ") && m.Split(' ').Last().Split(',').Contains(f[0]));
                continue;
            }
            Assert.Equal(CgroupVersion.V1, h.Version);
            Assert.NotNull(idLine);
            Assert.Equal(f[1], idLine!.Split(':')[0]);
            Assert.Equal(idLine.Split(':', 3)[2], h.CallerGroup);
            Assert.True(Directory.Exists(h.MountPoint));
        }
        if (layout.Unified is { } u)
        {
            Assert.Equal(File.ReadAllText(Path.Combine(u.MountPoint, "cgroup.controllers")).Split(' ', '\n').Where(x => x.Length > 0).Order(), u.Controllers);
            Assert.Equal(File.ReadAllLines("/proc/self/cgroup").Single(l => l.StartsWith("0::", StringComparison.Ordinal))[3..], u.CallerGroup);
        }
        Assert.Equal(File.ReadAllLines("/proc/self/mountinfo").Count(l => l.Contains(" - cgroup2 ") || l.Contains(" - cgroup ")),
            layout.All.Count());
    }

    [HybridHostFact]
    public void The_live_layout_of_this_machine_class_is_hybrid_with_memory_pids_and_cpu_on_v1()
    {
        // The machine this project is built on (DESIGN.md section 6): cgroup2 at /sys/fs/cgroup/unified with
        // hugetlb only; memory, pids, cpu, cpuacct, cpuset and freezer on v1.
        var layout = CgroupLayout.Current;
        Assert.Equal(["hugetlb"], layout.Unified!.Controllers.AsEnumerable());
        foreach (var c in new[] { "memory", "pids", "cpu", "cpuacct", "cpuset", "freezer" })
        {
            var h = layout.HierarchyFor(c)!;
            Assert.Equal(CgroupVersion.V1, h.Version);
            Assert.Equal("/sys/fs/cgroup/" + c, h.MountPoint);
        }
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"cgroup v2 (/sys/fs/cgroup/unified): caller in /"), layout.ToString());
    }
}
