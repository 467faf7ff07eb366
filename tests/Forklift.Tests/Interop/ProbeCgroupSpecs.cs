using Forklift.Interop;
using Xunit;
using static Forklift.Tests.Interop.K;

namespace Forklift.Tests.Interop;

/// <summary>
/// CLONE_INTO_CGROUP through the probe (R-E23..R-E25). Each test creates its own uniquely named cgroup2
/// directories and removes them, whatever happens.
/// </summary>
public sealed class ProbeCgroupSpecs
{
    [CgroupFact]
    public void Probe_places_a_child_into_an_open_cgroup2_directory()
    {
        using var cgroups = new CgroupFs();
        var result = Probe.Run(IntoCgroup(ProbeCgroupSource.OpenDir, cgroups.Create()));

        Probe.Succeeded(result);
        Probe.ChildExitedCleanly(result);
    }

    [CgroupFact]
    public void Probe_places_a_child_into_a_cgroup_opened_with_O_PATH() // fdget_raw accepts O_PATH
    {
        using var cgroups = new CgroupFs();
        Probe.Succeeded(Probe.Run(IntoCgroup(ProbeCgroupSource.OpenPath, cgroups.Create())));
    }

    [CgroupFact]
    public void Probe_reports_ENOENT_for_a_removed_cgroup() // R-E25
    {
        using var cgroups = new CgroupFs();
        var path = cgroups.Create();

        var result = Probe.Run(IntoCgroup(ProbeCgroupSource.OpenRemoved, path));

        Probe.Failed(ENOENT, result);
        Assert.False(Directory.Exists(path));
    }

    [CgroupFact]
    public void Probe_reports_EBADF_for_a_directory_that_is_not_a_cgroup() // R-E24
    {
        Probe.Failed(EBADF, Probe.Run(IntoCgroup(ProbeCgroupSource.OpenAny, "/tmp")));
    }

    [CgroupFact]
    public void Probe_reports_EBADF_for_a_cgroup_v1_directory() // R-E24
    {
        const string v1 = "/sys/fs/cgroup/memory";
        Assert.True(Directory.Exists(v1), $"{v1} is missing: this machine class mounts cgroup v1 controllers there");
        Probe.Failed(EBADF, Probe.Run(IntoCgroup(ProbeCgroupSource.OpenDir, v1)));
    }

    [CgroupFact]
    public void Probe_reports_EBADF_for_a_closed_cgroup_fd() // R-E23
    {
        var request = Probe.Clone3(CLONE_INTO_CGROUP);
        request.Cgroup = 1000; // the keeper closes every inherited fd

        Probe.Failed(EBADF, Probe.Run(request));
    }

    [CgroupFact]
    public void Probe_reports_a_missing_cgroup_path_as_the_cgroup_step()
    {
        var result = Probe.Run(IntoCgroup(ProbeCgroupSource.OpenDir, $"{CgroupFs.Root}/missing-{Guid.NewGuid():N}"));

        Assert.Equal((ProbeOutcome.SetupFailed, ProbeSetupStep.Cgroup, ENOENT), (result.Outcome, result.Step, result.Err));
    }

    private static ProbeRequest IntoCgroup(ProbeCgroupSource source, string path)
    {
        var request = Probe.Clone3(CLONE_INTO_CGROUP);
        request.CgroupSource = source;
        request.SetCgroupPath(path);
        return request;
    }
}
