using Forklift.Interop;
using Xunit;
using static Forklift.Tests.Interop.K;

namespace Forklift.Tests.Interop;

/// <summary>
/// Known answers of the live kernel (/work/shared/kernel/CLONE_RULES.md), obtained through the probe:
/// each call is real, made from a throwaway process, and everything it creates is reaped.
/// </summary>
public sealed class ProbeKnownAnswerSpecs
{
    [RootFact]
    public void Probe_runs_a_plain_clone3_of_size_64_and_reaps_the_child()
    {
        var result = Probe.Run(Probe.Clone3(0, SIGCHLD, size: 64));

        Probe.Succeeded(result);
        Probe.ChildExitedCleanly(result);
        Assert.Equal(0, result.PidfdSeen);
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_clone3_size_63() // R-A2
    {
        Probe.Failed(EINVAL, Probe.Run(Probe.Clone3(0, SIGCHLD, size: 63)));
    }

    [RootFact]
    public void Probe_reports_E2BIG_for_clone3_size_4097() // R-A1
    {
        Probe.Failed(E2BIG, Probe.Run(Probe.Clone3(0, SIGCHLD, size: 4097)));
    }

    [RootFact]
    public void Probe_reports_E2BIG_for_clone3_size_8192_before_reading_it() // R-A1: size checked first
    {
        var request = Probe.Clone3(0, SIGCHLD, size: 8192);
        request.ReadableBytes = 8;
        Probe.Failed(E2BIG, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_EFAULT_when_only_40_of_64_bytes_are_readable() // R-A4
    {
        var request = Probe.Clone3(0, SIGCHLD, size: 64);
        request.ReadableBytes = 40;

        Probe.Failed(EFAULT, Probe.Run(request));
    }

    [RootFact]
    public void Probe_reports_E2BIG_for_a_nonzero_byte_at_90_of_a_96_byte_struct() // R-A3
    {
        var request = Probe.Clone3(0, SIGCHLD, size: 96);
        request.TailNonzeroAt = 90;

        Probe.Failed(E2BIG, Probe.Run(request));
    }

    [RootFact]
    public void Probe_accepts_a_zero_tail_of_a_4096_byte_struct()
    {
        Probe.Succeeded(Probe.Run(Probe.Clone3(0, SIGCHLD, size: 4096)));
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_CLONE_SIGHAND_without_CLONE_VM() // R-D4
    {
        Probe.Failed(EINVAL, Probe.Run(Probe.Clone3(CLONE_SIGHAND)));
    }

    [RootFact]
    public void Probe_sees_a_pidfd_for_CLONE_VM_CLONE_VFORK_CLONE_PIDFD()
    {
        var request = Probe.Clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD);
        request.PidfdKind = ProbePointerKind.Valid;

        var result = Probe.Run(request);

        Probe.Succeeded(result);
        Assert.Equal(1, result.PidfdSeen);
        Probe.ChildExitedCleanly(result);
    }

    [RootFact]
    public void Probe_creates_a_thread_with_CLONE_THREAD_CLONE_SIGHAND_CLONE_VM()
    {
        var result = Probe.Run(Probe.Clone3(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, exitSignal: 0));

        Probe.Succeeded(result);
        Assert.Equal(-1, result.ChildStatus); // a thread is never reaped by wait
    }

    [RootFact]
    public void Probe_waits_for_a_thread_through_CLONE_CHILD_CLEARTID()
    {
        var request = Probe.Clone3(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_PIDFD,
            exitSignal: 0);
        request.ChildTidKind = ProbePointerKind.Valid;
        request.PidfdKind = ProbePointerKind.Valid;

        var result = Probe.Run(request);

        Probe.Succeeded(result);
        Assert.Equal(1, result.PidfdSeen); // PIDFD_THREAD, allowed since 6.9 (R-D7)
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_legacy_clone_with_CLONE_PIDFD_and_CLONE_PARENT_SETTID() // R-C1
    {
        var request = Probe.LegacyClone(CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD);
        request.ParentTidKind = ProbePointerKind.Valid;

        Probe.Failed(EINVAL, Probe.Run(request));
    }

    [RootFact]
    public void Probe_sees_the_legacy_clone_pidfd_at_parent_tid()
    {
        var request = Probe.LegacyClone(CLONE_PIDFD | SIGCHLD);
        request.ParentTidKind = ProbePointerKind.Valid;

        var result = Probe.Run(request);

        Probe.Succeeded(result);
        Assert.Equal(1, result.PidfdSeen);
        Probe.ChildExitedCleanly(result);
    }

    [RootFact]
    public void Probe_accepts_legacy_clone_exit_signal_65() // R-C2 absent on 6.18
    {
        var result = Probe.Run(Probe.LegacyClone(65));

        Probe.Succeeded(result);
        Probe.ChildExitedCleanly(result);
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_clone3_exit_signal_65() // R-A8
    {
        Probe.Failed(EINVAL, Probe.Run(Probe.Clone3(0, exitSignal: 65)));
    }

    [RootFact]
    public void Probe_runs_fork_and_vfork()
    {
        var results = NativeProbe.Run([ProbeRequest.Create(ProbeCall.Fork), ProbeRequest.Create(ProbeCall.Vfork)]);

        Assert.All(results, Probe.Succeeded);
        Assert.All(results, Probe.ChildExitedCleanly);
    }

    [RootFact]
    public void Probe_lets_the_keeper_reap_a_CLONE_PARENT_child()
    {
        var result = Probe.Run(Probe.Clone3(CLONE_PARENT, exitSignal: 0));

        Probe.Succeeded(result);
        Probe.ChildExitedCleanly(result); // filled in by the keeper, whose child it is
    }

    [RootFact]
    public void Probe_reports_EINVAL_for_clone3_CLONE_PARENT_with_an_exit_signal() // R-B4
    {
        Probe.Failed(EINVAL, Probe.Run(Probe.Clone3(CLONE_PARENT, exitSignal: SIGCHLD)));
    }

    [RootFact]
    public void Probe_survives_SIGKILL_as_the_exit_signal_of_a_vfork_child()
    {
        var result = Probe.Run(Probe.Clone3(CLONE_VM | CLONE_VFORK, exitSignal: SIGKILL));

        // The call was not refused: either the caller reported before the signal, or it died of it.
        Assert.True(result.Succeeded || (result.Outcome == ProbeOutcome.CallerKilled && result.Signal == SIGKILL),
            result.ToString());
    }

    [RootFact]
    public void Probe_does_not_hang_on_SIGSTOP_as_an_exit_signal()
    {
        var vforked = Probe.Clone3(CLONE_VM | CLONE_VFORK, exitSignal: SIGSTOP);
        var legacy = Probe.LegacyClone((ulong)SIGSTOP);

        var results = NativeProbe.Run([Probe.Clone3(0, exitSignal: SIGSTOP), vforked, legacy]);

        Assert.All(results, Probe.Succeeded);
        Assert.All(results, Probe.ChildExitedCleanly);
    }

    [RootFact]
    public void Probe_runs_a_batch_in_order()
    {
        var results = NativeProbe.Run([
            Probe.Clone3(0, size: 63),
            Probe.Clone3(0),
            Probe.Clone3(CLONE_SIGHAND),
            Probe.Clone3(0, size: 4097),
        ]);

        Probe.Failed(EINVAL, results[0]);
        Probe.Succeeded(results[1]);
        Probe.Failed(EINVAL, results[2]);
        Probe.Failed(E2BIG, results[3]);
    }

    [RootFact]
    public void Probe_refuses_a_malformed_request_without_calling()
    {
        var request = Probe.Clone3(0);
        request.ReadableBytes = ProbeRequest.MaxReadableBytes + 1;

        var result = Probe.Run(request);

        Assert.Equal(ProbeOutcome.ProbeFailed, result.Outcome);
        Assert.Equal(EINVAL, result.Err);
    }

    [RootFact]
    public void Probe_runs_from_several_threads_at_once()
    {
        var batches = Enumerable.Range(0, 4)
            .Select(_ => Task.Run(() => NativeProbe.Run([Probe.Clone3(0), Probe.Clone3(CLONE_SIGHAND), Probe.Fork()])))
            .ToArray();

        Assert.True(Task.WaitAll(batches, TimeSpan.FromSeconds(60)), "the probes did not finish within 60 s");
        foreach (var results in batches.Select(t => t.Result))
        {
            Probe.Succeeded(results[0]);
            Probe.Failed(EINVAL, results[1]);
            Probe.Succeeded(results[2]);
        }
    }

    [Fact]
    public void Run_of_nothing_returns_nothing()
    {
        Assert.Empty(NativeProbe.Run([]));
    }
}
