using System.Diagnostics;
using System.Text;
using Forklift.Isolation;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Spawning;

namespace Forklift.Tests.Isolation;

/// <summary>
/// Children started in control groups on the real kernel: where they land (v2 by CLONE_INTO_CGROUP, v1 by the
/// child's own write, with clone3 and after a fallback to legacy clone), and the limits enforced for real: a memory
/// hog OOM-killed at its limit, a fork bomb held at pids.max, a CPU spinner throttled, a group full of processes
/// emptied by one kill call.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CgroupEnforcementSpecs
{
    [CgroupLimitFact("unified", "memory", "pids")]
    public async Task A_child_starts_in_every_directory_of_its_group()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { MemoryMax = 256UL << 20, PidsMax = 64 });

        string text = await Testee.OutputOf(Testee.Run("cgroup").WithCgroup(group));

        AssertIn(group, text);
    }

    [CgroupLimitFact("unified", "memory", "pids")]
    public async Task A_child_created_by_legacy_clone_enters_the_unified_group_itself()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { PidsMax = 64 });

        using var child = Testee.Run("cgroup").WithCgroup(group).WithCloneEntry(CloneEntryPolicy.LegacyClone)
            .WithStandardOutput(Stdio.Pipe).Start();
        string text = await new StreamReader(child.StandardOutput).ReadToEndAsync();
        var status = await child.WaitForExitAsync();

        Assert.True(status.Succeeded, status.ToString());
        Assert.False(child.SpawnPath.UsedClone3);
        AssertIn(group, text);
    }

    [CgroupLimitFact("unified", "pids")]
    public async Task A_child_on_the_full_path_enters_its_group_before_waiting_for_the_parent()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { PidsMax = 64 });
        string? seenByParent = null;
        var command = Testee.Run("cgroup").WithCgroup(group)
            .WithParentAction("look", ctx => seenByParent = File.ReadAllText($"/proc/{ctx.Pid}/cgroup"));

        string text = await Testee.OutputOf(command);

        AssertIn(group, text);
        // The parent's action may run before the child has written its v1 cgroup.procs (nothing orders the two),
        // but CLONE_INTO_CGROUP places it in the v2 group atomically at the clone: that one the parent must see.
        foreach (var dir in group.Directories)
        {
            var h = group.Layout.HierarchyOf(dir)!;
            if (h.Version == CgroupVersion.V2)
                Assert.Equal(h.CgroupOf(dir), CgroupKit.PathIn(seenByParent!, h));
        }
    }

    [CgroupLimitFact("pids@v1")]
    public void The_plan_places_the_child_in_its_v1_groups_first_of_all()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { PidsMax = 64 });
        var inputs = new SpawnInputs(new Dictionary<string, string> { ["PATH"] = "/bin" }, "/", 1, 0);

        var model = SpawnPlanBuilder.Build(Testee.Run("exit", "0").WithCgroup(group).WithWorkingDirectory("/tmp"), inputs, new Dictionary<int, int>(), sync: false);

        var first = model.Steps[0];
        Assert.Equal("CgroupPlace(pids)", first.Name);
        Assert.Equal(Path.Join(CgroupKit.DirectoryFor(group, "pids"), "cgroup.procs"), first.Object);
        Assert.Equal(group.UnifiedDirectoryHandle is null, (model.CloneFlags & (ulong)Forklift.Abi.CloneFlags.IntoCgroup) == 0);
    }

    [CgroupLimitFact("pids")]
    public void A_removed_group_fails_the_start_at_its_placement_step()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { PidsMax = 64 }, new CgroupOptions { UseUnifiedHierarchy = false });
        var command = Testee.Run("exit", "0").WithCgroup(group);
        string dir = CgroupKit.DirectoryFor(group, "pids");
        Directory.Delete(dir);

        var e = Assert.Throws<SpawnException>(() => command.Start());

        Assert.StartsWith("CgroupPlace(", e.Step);
        Assert.Equal(Forklift.Abi.Errno.ENOENT, e.Errno);
        Assert.Equal(Path.Join(dir, "cgroup.procs"), e.Object);
        Assert.Contains("does not exist", e.Hint);
    }

    [CgroupLimitFact("unified")]
    public void A_removed_unified_group_fails_the_start_by_clone3_or_at_the_childs_own_placement_after_legacy_clone()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(CgroupLimits.None);
        var command = Testee.Run("exit", "0").WithCgroup(group);
        using (var first = command.Start()) // the clone model's view of the group is read at the first start
            first.WaitForExit();
        Directory.Delete(group.UnifiedDirectory!);

        var byClone3 = Assert.Throws<CloneFailedException>(() => command.Start());
        Assert.Equal(Forklift.Abi.Errno.ENOENT, byClone3.Errno); // cgroup_css_set_fork: the cgroup is dead
        Assert.Contains("does not exist", byClone3.Hint);

        var byChild = Assert.Throws<SpawnException>(() => command.WithCloneEntry(CloneEntryPolicy.LegacyClone).Start());
        Assert.Equal("CgroupPlace(unified)", byChild.Step);
        Assert.Equal(Forklift.Abi.Errno.ENOENT, byChild.Errno);
        Assert.Equal(group.UnifiedDirectory, byChild.Object);
        Assert.True(byChild.Pid > 0);
    }

    [CgroupLimitFact("unified")]
    public void A_disposed_group_is_refused_before_anything_is_started()
    {
        var group = ControlGroup.Create(CgroupLimits.None);
        group.Dispose();
        var e = Assert.Throws<CommandException>(() => Testee.Run("exit", "0").WithCgroup(group).Start());
        Assert.Equal("Cgroup", e.Option);
    }

    [CgroupLimitFact("unified-domain")]
    public void A_busy_or_invalid_v2_group_is_refused_by_the_clone_model_before_the_call()
    {
        using var fixtures = new Forklift.Verification.CgroupFixtures();
        using (var busy = ControlGroup.Open(fixtures.Busy!))
        {
            var e = Assert.Throws<CloneRefusedException>(() => Testee.Run("exit", "0").WithCgroup(busy).Start());
            Assert.Equal(Forklift.Abi.Errno.EBUSY, e.Errno);
            Assert.Contains("cgroup_migrate_vet_dst", e.Rule.KernelFunction);
            Assert.Empty(busy.ProcessIds());
        }
        using (var invalid = ControlGroup.Open(fixtures.DomainInvalid))
        {
            var e = Assert.Throws<CloneRefusedException>(() => Testee.Run("exit", "0").WithCgroup(invalid).Start());
            Assert.Equal(Forklift.Abi.Errno.EOPNOTSUPP, e.Errno);
        }
    }

    [CgroupLimitFact("memory")]
    public async Task A_memory_hog_is_killed_by_the_OOM_killer_at_its_limit()
    {
        using var scope = new CgroupScope();
        const ulong limit = 32UL << 20;
        var group = scope.Create(new CgroupLimits { MemoryMax = limit, MemoryAndSwapMax = limit });

        var result = await Testee.Run("hog", "512").WithCgroup(group).ExecuteBufferedAsync();

        Assert.Equal(9, result.ExitStatus.Signal);
        Assert.DoesNotContain("allocated", result.StandardOutput);
        var stats = group.ReadStatistics();
        Assert.True(stats.OomKills >= 1, $"OOM kills: {stats.OomKills}\n{stats}");
        Assert.True(stats.MemoryPeak <= limit, $"peak {stats.MemoryPeak} above the limit {limit}");
        Assert.True(stats.MemoryPeak >= limit / 2, $"peak {stats.MemoryPeak}: the hog never got near the limit");
    }

    [CgroupLimitFact("memory")]
    public async Task A_program_under_its_memory_limit_runs_to_the_end()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { MemoryMax = 96UL << 20 });

        string output = await Testee.OutputOf(Testee.Run("hog", "16").WithCgroup(group));

        Assert.Equal("allocated 16", output);
        Assert.Equal(0, group.ReadStatistics().OomKills);
        Assert.True(group.ReadStatistics().MemoryPeak >= 16UL << 20);
    }

    [CgroupLimitFact("pids")]
    public async Task A_fork_bomb_is_held_at_pids_max_and_one_kill_ends_it()
    {
        using var scope = new CgroupScope();
        const int max = 16;
        var group = scope.Create(new CgroupLimits { PidsMax = max });

        using var child = Testee.Run("fork-bomb").WithCgroup(group).WithStandardOutput(Stdio.Pipe).Start();
        try
        {
            var reader = new StreamReader(child.StandardOutput);
            string? line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            var parts = line!.Split(' ');
            Assert.Equal("forked", parts[0]);
            Assert.Equal("EAGAIN", parts[2]);
            Assert.InRange(int.Parse(parts[1]), 1, max - 1);

            // The bomb keeps trying: the group stays at the limit, never above it. pids.current itself may read
            // limit + 1 for an instant: pids_try_charge (kernel/cgroup/pids.c) adds the new task to the counter
            // before it compares with the limit, and takes it back when the fork is refused. The processes in the
            // group never exceed the limit.
            var watch = Stopwatch.StartNew();
            long highest = 0;
            while (watch.ElapsedMilliseconds < 300)
            {
                long now = group.ReadStatistics().PidsCurrent!.Value;
                Assert.True(now <= max + 1, $"pids.current {now} > pids.max {max} + the one charge a refused fork holds for an instant");
                int members = group.ProcessIds().Count;
                Assert.True(members <= max, $"{members} processes in the group > pids.max {max}");
                highest = Math.Max(highest, members);
            }
            Assert.Equal(max, highest);
            var stats = group.ReadStatistics();
            Assert.True(stats.PidsLimitHits >= 1, stats.ToString());
            if (stats.PidsPeak is { } peak)
                Assert.Equal(max, peak);
            Assert.Equal(max, group.ProcessIds().Count);
        }
        finally
        {
            group.Kill();
        }
        Assert.Empty(group.ProcessIds());
        Assert.Equal(9, (await child.WaitForExitAsync()).Signal);
    }

    [CgroupLimitFact("unified")]
    public Task A_group_full_of_processes_is_emptied_by_one_kill_call_through_cgroup_kill() =>
        KillEmptiesTheGroup(CgroupLimits.None, new CgroupOptions(), "cgroup.kill");

    [CgroupLimitFact("pids@v1", "freezer@v1")]
    public Task A_group_full_of_processes_is_emptied_by_one_kill_call_through_the_v1_freezer() =>
        KillEmptiesTheGroup(new CgroupLimits { PidsMax = 100 }, new CgroupOptions { UseUnifiedHierarchy = false }, "freezer.state");

    private static async Task KillEmptiesTheGroup(CgroupLimits limits, CgroupOptions options, string how)
    {
        using var scope = new CgroupScope();
        var group = scope.Create(limits, options);
        Assert.StartsWith(how, group.Routes.Single(r => r.Feature == CgroupFeature.Kill).How);
        using var child = Testee.Run("spawn-tree", "24").WithCgroup(group).WithStandardOutput(Stdio.Pipe).Start();
        string? line = await new StreamReader(child.StandardOutput).ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("ready 24", line);
        Assert.Equal(25, group.ProcessIds().Count);

        group.Kill();

        Assert.Empty(group.ProcessIds());
        Assert.Equal(9, (await child.WaitForExitAsync()).Signal);
    }

    [CgroupLimitFact("unified", "pids")]
    public async Task Disposing_a_group_with_running_processes_kills_them_and_removes_it()
    {
        var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { PidsMax = 50 });
        using var child = Testee.Run("spawn-tree", "5").WithCgroup(group).WithStandardOutput(Stdio.Pipe).Start();
        string? line = await new StreamReader(child.StandardOutput).ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("ready 5", line);

        scope.Dispose();

        Assert.All(group.Directories, d => Assert.False(Directory.Exists(d), d));
        Assert.Equal(9, (await child.WaitForExitAsync()).Signal);
    }

    [CgroupLimitFact("cpu")]
    public async Task A_cpu_spinner_gets_no_more_than_its_cpu_fraction()
    {
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { CpuFraction = 0.1 }, new CgroupOptions { Accounting = CgroupAccounting.Cpu });

        var watch = Stopwatch.StartNew();
        var status = await Testee.Run("spin", "1000").WithCgroup(group).ExecuteAsync();
        var wall = watch.Elapsed;

        Assert.True(status.Succeeded);
        var stats = group.ReadStatistics();
        // 10% of one CPU over the run, plus one period of slack (the first period starts with a full quota).
        var allowed = wall * 0.1 + TimeSpan.FromMilliseconds(100);
        Assert.True(stats.CpuUsage <= allowed, $"used {stats.CpuUsage} in {wall} (allowed {allowed})");
        Assert.True(stats.CpuThrottledPeriods >= 1, stats.ToString());
    }

    /// <summary>The child's /proc/self/cgroup shows every directory of the group.</summary>
    private static void AssertIn(ControlGroup group, string procCgroup)
    {
        foreach (var dir in group.Directories)
        {
            var h = group.Layout.HierarchyOf(dir)!;
            Assert.Equal(h.CgroupOf(dir), CgroupKit.PathIn(procCgroup, h));
        }
    }
}
