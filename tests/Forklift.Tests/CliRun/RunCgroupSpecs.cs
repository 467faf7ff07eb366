using Forklift.Cli;
using Forklift.Tests.Cli;
using Forklift.Cli.Run;
using Forklift.Isolation;
using Forklift.Tests.Interop;
using Forklift.Tests.Isolation;
using Forklift.Tests.Spawning;

namespace Forklift.Tests.CliRun;

/// <summary>
/// <c>forklift run --memory/--memory-swap/--pids/--cpu/--cgroup/--stats</c>: the values refused before anything is
/// made, and in-process runs on the real kernel (the program's cgroups, the statistics and their sources, the OOM
/// kill said, the group removed afterwards).
/// </summary>
[Collection(HostResourceCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RunCgroupSpecs
{
    [Theory]
    [InlineData("--memory 12Q", "--memory '12Q': expected a size")]
    [InlineData("--memory M", "--memory 'M': expected a size")]
    [InlineData("--memory 100", "--memory: 100 bytes is less than one page")]
    [InlineData("--memory 99999999999T", "--memory '99999999999T': too large")]
    [InlineData("--memory-swap 1G", "--memory-swap: needs --memory")]
    [InlineData("--memory 1M --memory-swap 512K", "--memory-swap: 524288 bytes is less than --memory")]
    [InlineData("--pids 0", "--pids '0': expected a positive whole number")]
    [InlineData("--pids -3", "--pids '-3'")]
    [InlineData("--cpu 0", "--cpu '0': expected a positive number of CPUs")]
    [InlineData("--cpu half", "--cpu 'half'")]
    [InlineData("--cpu 0.001", "--cpu: 0.001 of a 100 ms period is a quota under 1 ms")]
    [InlineData("--pids 3 --cgroup a/../b", "--cgroup: 'a/../b': '.' and '..' are not allowed")]
    public async Task An_unusable_cgroup_option_exits_2_with_one_line_naming_it(string options, string expected)
    {
        var outcome = await RunKit.InProcess(["run", .. options.Split(' '), "--", "/bin/true"]);

        Assert.Equal(2, outcome.Exit);
        Assert.Contains("forklift: " + expected, outcome.Err);
        Assert.Single(outcome.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("64K", 64UL << 10)]
    [InlineData("64k", 64UL << 10)]
    [InlineData("512M", 512UL << 20)]
    [InlineData("512MiB", 512UL << 20)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("2gb", 2UL << 30)]
    [InlineData("1T", 1UL << 40)]
    public void Sizes_take_binary_suffixes(string text, ulong bytes) => Assert.Equal(bytes, RunCgroupOptions.Size("--memory", text));

    [Fact]
    public async Task The_help_lists_the_cgroup_options()
    {
        var outcome = await RunKit.InProcess("run", "--help");
        foreach (var option in new[] { "--memory ", "--memory-swap ", "--pids ", "--cpu ", "--cgroup ", "--stats " })
            Assert.Contains(option, outcome.Out);
    }

    [CgroupLimitFact("memory")]
    public async Task A_program_over_its_memory_limit_exits_137_and_the_stats_and_a_line_say_the_OOM_killer_did_it()
    {
        await using var guard = RunKit.Guard();
        var memory = CgroupLayout.Current.HierarchyFor("memory")!;

        var outcome = await RunKit.RunTestee(["--memory", "32M", "--memory-swap", "32M", "--stats"], "hog", "512");

        Assert.Equal(137, outcome.Exit);
        Assert.Contains("OOM kills 1", outcome.Err);
        Assert.Contains($"[{memory}: ", outcome.Err);
        Assert.Contains("forklift: the OOM killer killed the program: its cgroup reached the memory limit (--memory 32 MiB)", outcome.Err);
        Assert.Empty(Directory.GetDirectories(Path.Join(memory.MountPoint, "forklift"), "fl-" + Environment.ProcessId + "-*"));
    }

    [CgroupLimitFact("pids")]
    public async Task Limits_put_the_program_in_a_new_group_shown_by_verbose_and_removed_after_it_exits()
    {
        await using var guard = RunKit.Guard();
        var pids = CgroupLayout.Current.HierarchyFor("pids")!;

        var (outcome, output) = await RunCgroupMode("--pids", "8", "--cpu", "1.5", "--verbose", "--stats");

        Assert.Equal(0, outcome.Exit);
        string path = CgroupKit.PathIn(output, pids)!;
        Assert.StartsWith("/forklift/fl-", path);
        Assert.False(Directory.Exists(pids.DirectoryOf(path)), "the group is still there");
        Assert.Contains($"forklift: cgroup: pids limit: {pids}: {pids.DirectoryOf(path)} pids.max", outcome.Err);
        Assert.Contains($"forklift: cgroup: CPU limit: {CgroupLayout.Current.HierarchyFor("cpu")}", outcome.Err);
        if (pids.Version == CgroupVersion.V1)
            Assert.Contains("CgroupPlace(pids)", outcome.Err);
        Assert.Contains("forklift: stats: pids current 0, peak 1, forks refused at the limit 0", outcome.Err);
    }

    [CgroupLimitFact("pids")]
    public async Task Cgroup_without_limits_starts_the_program_in_that_existing_group_and_leaves_it()
    {
        await using var guard = RunKit.Guard();
        using var scope = new CgroupScope();
        var group = scope.Create(new CgroupLimits { PidsMax = 20 });
        string dir = CgroupKit.DirectoryFor(group, "pids");
        var pids = group.Layout.HierarchyFor("pids")!;

        var (outcome, output) = await RunCgroupMode("--cgroup", dir, "--stats");

        Assert.Equal(0, outcome.Exit);
        Assert.Equal(pids.CgroupOf(dir), CgroupKit.PathIn(output, pids));
        Assert.True(Directory.Exists(dir));
        Assert.Contains("forklift: stats: pids current 0, peak 1", outcome.Err);
    }

    [CgroupLimitFact("pids")]
    public async Task Cgroup_with_limits_makes_the_new_group_under_that_path()
    {
        await using var guard = RunKit.Guard();
        using var scope = new CgroupScope();
        var parent = scope.Create(new CgroupLimits { PidsMax = 20 });
        string parentDir = CgroupKit.DirectoryFor(parent, "pids");
        var pids = parent.Layout.HierarchyFor("pids")!;

        var (outcome, output) = await RunCgroupMode("--cgroup", parentDir, "--pids", "4");

        Assert.Equal(0, outcome.Exit);
        Assert.StartsWith(pids.CgroupOf(parentDir) + "/fl-", CgroupKit.PathIn(output, pids));
        Assert.Empty(Directory.GetDirectories(parentDir));
    }

    [CgroupLimitFact("pids")]
    public async Task A_cgroup_that_cannot_be_used_exits_125_with_one_line()
    {
        var pids = CgroupLayout.Current.HierarchyFor("pids")!;
        string missing = Path.Join(pids.MountPoint, "forklift-no-such-" + Guid.NewGuid().ToString("N"));

        var outcome = await RunKit.InProcess("run", "--cgroup", missing, "--", "/bin/true");

        Assert.Equal(125, outcome.Exit);
        Assert.Equal($"forklift: cgroup: OpenGroup: ENOENT: {missing}: no such cgroup (its cgroup.procs is missing)", outcome.Err.Trim());
    }

    /// <summary>Runs the testee's cgroup mode under <paramref name="options"/>, its output in a file (the child's fd 1 is not the in-process run's writer).</summary>
    private static async Task<(CliOutcome Outcome, string Output)> RunCgroupMode(params string[] options)
    {
        string file = Path.Combine(Path.GetTempPath(), $"forklift-cgroup-{Guid.NewGuid():N}");
        try
        {
            var outcome = await RunKit.RunTestee([.. options, "--stdout", file], "cgroup");
            return (outcome, File.Exists(file) ? await File.ReadAllTextAsync(file) : "");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
