using Forklift.Interop;
using Xunit;
using static Forklift.Tests.Interop.K;

namespace Forklift.Tests.Interop;

/// <summary>
/// The caller context changes the kernel's answer (CLONE_RULES.md §3). Every context lives only in the
/// probe's throwaway processes: nothing here changes the host's global state (namespace limits are only
/// written inside a user namespace of the probe's own).
/// </summary>
public sealed unsafe class ProbeContextSpecs
{
    [RootFact]
    public void Probe_reports_EPERM_for_CLONE_NEWUSER_from_an_unmapped_user_namespace() // R-E4
    {
        var request = Probe.Clone3(CLONE_NEWUSER);
        request.Context.UserNsMode = ProbeUserNsMode.Unmapped;

        Probe.Failed(EPERM, Probe.Run(request));
    }

    [RootFact]
    public void Probe_allows_CLONE_NEWUSER_from_a_mapped_user_namespace()
    {
        var request = Probe.Clone3(CLONE_NEWUSER);
        request.Context.UserNsMode = ProbeUserNsMode.Mapped;

        Probe.Succeeded(Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_EPERM_for_CLONE_NEWUSER_when_chrooted() // R-E3
    {
        var request = Probe.Clone3(CLONE_NEWUSER);
        request.Context.SetChrootPath("/tmp");

        Probe.Failed(EPERM, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_CLONE_PARENT_from_a_pid_namespace_init() // R-D5
    {
        var request = Probe.Clone3(CLONE_PARENT, exitSignal: 0);
        request.Context.AsInit = 1;

        Probe.Failed(EINVAL, Probe.Run(request));
    }

    [RootFact]
    public void Probe_allows_CLONE_THREAD_from_a_pid_namespace_init()
    {
        var request = Probe.Clone3(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, exitSignal: 0);
        request.Context.AsInit = 1;

        Probe.Succeeded(Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_CLONE_THREAD_after_unshare_of_the_pid_namespace() // R-D6
    {
        var request = Probe.Clone3(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, exitSignal: 0);
        request.Context.UnsharePid = 1;

        Probe.Failed(EINVAL, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_ENOMEM_for_fork_after_the_pid_namespace_init_exited() // R-E20
    {
        var request = Probe.Fork();
        request.Context.PidNsInitExited = 1;

        Probe.Failed(ENOMEM, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_EPERM_for_CLONE_NEWUTS_without_capabilities() // R-E8
    {
        var request = Probe.Clone3(CLONE_NEWUTS);
        DropToUnprivilegedUser(ref request.Context);

        Probe.Failed(EPERM, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_EAGAIN_before_EPERM_when_RLIMIT_NPROC_is_reached() // R-E5 precedes R-E8
    {
        var request = Probe.Clone3(CLONE_NEWUTS);
        DropToUnprivilegedUser(ref request.Context);
        request.Context.RlimitNproc = 0;

        Probe.Failed(EAGAIN, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_ENOSPC_for_CLONE_NEWUTS_when_the_uts_namespace_limit_is_0() // R-E10
    {
        var request = Probe.Clone3(CLONE_NEWUTS);
        request.Context.UserNsMode = ProbeUserNsMode.Mapped; // the limit is per user namespace: ours
        request.Context.NsLimits[NsLimitUts] = 0;

        Probe.Failed(ENOSPC, Probe.Run(request));
    }

    [RootFact]
    public void Probe_finds_that_pid_namespaces_nest_32_deep() // R-E12: MAX_PID_NS_LEVEL
    {
        var results = NativeProbe.Run([
            WithPidNesting(Probe.Clone3(CLONE_NEWPID), 31),
            WithPidNesting(Probe.Clone3(CLONE_NEWPID), 32),
            WithPidNesting(Probe.Fork(), 32),
            WithPidNesting(Probe.Fork(), 33),
        ]);

        Probe.Succeeded(results[0]); // creates level 32
        Probe.Failed(ENOSPC, results[1]); // level 33 refused
        Probe.Succeeded(results[2]); // a caller at level 32 still forks
        Assert.Equal((ProbeOutcome.SetupFailed, ProbeSetupStep.PidNsNesting, ENOSPC),
            (results[3].Outcome, results[3].Step, results[3].Err));
    }

    [RootFact]
    public void Probe_finds_that_user_namespaces_nest_33_deep() // R-E2: parent level > 32 refused
    {
        var results = NativeProbe.Run([
            WithUserNesting(Probe.Clone3(CLONE_NEWUSER), 32),
            WithUserNesting(Probe.Clone3(CLONE_NEWUSER), 33),
            WithUserNesting(Probe.Fork(), 33),
            WithUserNesting(Probe.Fork(), 34),
        ]);

        Probe.Succeeded(results[0]); // creates level 33
        Probe.Failed(ENOSPC, results[1]); // level 34 refused
        Probe.Succeeded(results[2]);
        Assert.Equal((ProbeOutcome.SetupFailed, ProbeSetupStep.UserNs, ENOSPC),
            (results[3].Outcome, results[3].Step, results[3].Err));
    }

    [RootFact]
    public void Probe_reports_EAGAIN_for_fork_under_SCHED_DEADLINE() // R-E6
    {
        var request = Probe.Fork();
        request.Context.SchedDeadline = 1;

        Probe.Failed(EAGAIN, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_a_failing_context_step_with_its_number_and_errno()
    {
        var request = Probe.Fork();
        request.Context.SetChrootPath($"/nonexistent-{Guid.NewGuid():N}");

        var result = Probe.Run(request);

        Assert.Equal((ProbeOutcome.SetupFailed, ProbeSetupStep.Chroot, ENOENT), (result.Outcome, result.Step, result.Err));
    }

    [RootFact]
    public void Probe_allows_CLONE_VM_after_unshare_of_the_time_namespace() // removed rule, >= 6.0
    {
        var request = Probe.Clone3(CLONE_VM | CLONE_VFORK);
        request.Context.UnshareTime = 1;

        Probe.Succeeded(Probe.Run(request));
    }

    /// <summary>A fresh uid (and gid) no other test uses, with no capabilities at all.</summary>
    private static void DropToUnprivilegedUser(ref ProbeContext context)
    {
        var id = 40000 + Random.Shared.Next(0, 20000);
        context.Uid = id;
        context.Gid = id;
        context.SetCaps = 1;
        context.Caps = 0;
    }

    private static ProbeRequest WithPidNesting(ProbeRequest request, int levels)
    {
        request.Context.PidNsNesting = levels;
        return request;
    }

    private static ProbeRequest WithUserNesting(ProbeRequest request, int levels)
    {
        request.Context.UserNsNesting = levels;
        return request;
    }
}
