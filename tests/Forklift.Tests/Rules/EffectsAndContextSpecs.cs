using Forklift.Abi;
using Forklift.Rules;
using Forklift.Tests.Support;
using Forklift.Verification;

namespace Forklift.Tests.Rules;

public class EffectsAndContextSpecs
{
    [Fact]
    public void A_thread_shares_everything_and_joins_the_thread_group()
    {
        var call = RequestText.Call("clone3 flags=THREAD|SIGHAND|VM|FS|FILES|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID tls=0x7000");
        var e = CloneEffects.Of(call, CallerContext.Root);
        Assert.Equal(Effect.Shared, e.AddressSpace);
        Assert.Equal(Effect.Shared, e.FdTable);
        Assert.Equal(Effect.Shared, e.FsInfo);
        Assert.Equal(Effect.Shared, e.SignalHandlers);
        Assert.Equal(Effect.Shared, e.SysvSemUndo);
        Assert.Equal(Effect.Joined, e.ThreadGroup);
        Assert.Equal(Effect.Inherited, e.Parent);
        Assert.Equal(Effect.Set, e.Tls);
        Assert.Equal(Effect.Written, e.ParentTid);
        Assert.Equal(Effect.Set, e.ChildClearTid);
        Assert.Equal(-1, e.ExitSignal);
    }

    [Fact]
    public void A_fork_copies_and_gets_a_new_process()
    {
        var e = CloneEffects.Of(CloneCall.Fork(), CallerContext.Root);
        Assert.Equal(Effect.Copied, e.AddressSpace);
        Assert.Equal(Effect.Copied, e.FdTable);
        Assert.Equal(Effect.Copied, e.SignalHandlers);
        Assert.Equal(Effect.New, e.SysvSemUndo);
        Assert.Equal(Effect.New, e.ThreadGroup);
        Assert.Equal(Effect.New, e.Parent);
        Assert.Equal(Signals.SigChld, e.ExitSignal);
        Assert.False(e.VforkWait);
        Assert.All(new[] { e.User, e.Mnt, e.Uts, e.Ipc, e.Pid, e.CgroupNs, e.Net, e.Time }, x => Assert.Equal(Effect.Shared, x));
    }

    [Fact]
    public void Namespaces_are_new_entered_or_shared()
    {
        var ctx = CallerContext.Root with { PidNsForChildrenUnshared = true, TimeNsForChildrenUnshared = true };
        var e = CloneEffects.Of(RequestText.Call("clone3 flags=NEWUSER|NEWNET|CLEAR_SIGHAND|PIDFD|INTO_CGROUP|VM|VFORK cgroup=5"), ctx);
        Assert.Equal(Effect.New, e.User);
        Assert.Equal(Effect.New, e.Net);
        Assert.Equal(Effect.Entered, e.Pid);
        Assert.Equal(Effect.Entered, e.Time);
        Assert.Equal(Effect.Reset, e.SignalHandlers);
        Assert.Equal(Effect.Written, e.Pidfd);
        Assert.Equal(Effect.Entered, e.Cgroup);
        Assert.True(e.VforkWait);
        var described = e.Describe(RequestText.Call("clone3 flags=NEWUSER|NEWNET|CLEAR_SIGHAND|PIDFD|INTO_CGROUP|VM|VFORK cgroup=5"));
        Assert.Contains(described, r => r.Resource == "time_ns" && r.Detail.Contains("first execve", StringComparison.Ordinal));
        Assert.Equal(described.Count, described.Select(r => r.Resource).Distinct().Count());
    }

    [Fact]
    public void Evaluating_and_computing_effects_allocate_nothing()
    {
        var ctx = CallerContext.Root with { PidsInUse = [new HashSet<int> { 1 }] };
        CloneCall[] calls =
        [
            RequestText.Call("clone3 flags=VM|VFORK|PIDFD"),
            RequestText.Call("clone3 flags=SIGHAND"),
            RequestText.Call("clone3 set_tid=5000"),
            RequestText.Call("clone3 flags=NEWUTS"),
            RequestText.Call("clone flags=PIDFD|PARENT_SETTID"),
            CloneCall.Fork(),
        ];
        var limited = ctx.WithNamespaceLimit(NamespaceType.Uts, 0);
        for (int i = 0; i < 1000; i++)
        {
            Run(calls, ctx, limited);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        int n = Run(calls, ctx, limited);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(n > 0);
        Assert.Equal(0, after - before);

        static int Run(CloneCall[] calls, CallerContext a, CallerContext b)
        {
            int allowed = 0;
            for (int r = 0; r < 100; r++)
            {
                foreach (var c in calls)
                {
                    allowed += CloneRules.Evaluate(c, a).Allowed ? 1 : 0;
                    allowed += CloneRules.Evaluate(c, b).Allowed ? 1 : 0;
                    allowed += CloneEffects.Of(c, a).ExitSignal;
                }
            }
            return allowed;
        }
    }

    [Fact]
    public void Kernel_versions_parse_and_order()
    {
        Assert.True(KernelVersion.TryParse("6.18.44-fc-v669", out var v));
        Assert.Equal(new KernelVersion(6, 18, 44), v);
        Assert.True(KernelVersion.TryParse("6.9", out var w));
        Assert.True(w < v);
        Assert.True(KernelVersion.TryParse("5.10.0-rc1", out var x) && x == new KernelVersion(5, 10, 0));
        Assert.False(KernelVersion.TryParse("six", out _));
        Assert.True(KernelVersion.Running.AtLeast(5, 0));
    }

    [KernelFact]
    public void The_live_context_of_a_root_test_process_is_read_from_proc()
    {
        var live = CallerContextReader.Live();
        Assert.Equal(0u, live.Uid);
        Assert.True(live.Has(Capabilities.SysAdmin));
        Assert.Equal(KernelVersion.Running, live.Kernel);
        Assert.False(live.IsPidNsInit);
        Assert.True(live.PidInUse(0, Environment.ProcessId));
        Assert.True(live.PidMax >= 300);
        Assert.True(live.UidMapped);
        // The model, asked about this very process, allows a plain vfork-style clone3 with a pidfd.
        Assert.True(CloneRules.Evaluate(RequestText.Call("clone3 flags=VM|VFORK|PIDFD"), live).Allowed);
    }

    [KernelFact(needsCgroup2: true)]
    public void The_cgroup_inspector_recognises_every_kind_of_target()
    {
        using var fx = new CgroupFixtures();
        Assert.Equal(CgroupTargetKind.Domain, CgroupInspector.Inspect(fx.Valid, out _).Kind);
        Assert.True(CgroupInspector.Inspect(fx.Valid, out _).Writable);
        Assert.Equal(CgroupTargetKind.Threaded, CgroupInspector.Inspect(fx.Threaded, out _).Kind);
        Assert.Equal(CgroupTargetKind.DomainInvalid, CgroupInspector.Inspect(fx.DomainInvalid, out _).Kind);
        if (fx.Busy is { } busy)
        {
            Assert.Equal(CgroupTargetKind.Busy, CgroupInspector.Inspect(busy, out _).Kind);
        }
        Assert.Equal(CgroupTargetKind.Domain, CgroupInspector.Inspect(fx.MountPoint, out _).Kind);
        Assert.Equal(CgroupTargetKind.NotCgroup, CgroupInspector.Inspect(Path.GetTempPath(), out _).Kind);
        if (CgroupFixtures.V1Directory() is { } v1)
        {
            Assert.Equal(CgroupTargetKind.V1, CgroupInspector.Inspect(v1, out _).Kind);
        }
        var missing = CgroupInspector.Inspect(Path.Combine(fx.Top, "no-such-cgroup"), out var error);
        Assert.Equal(CgroupTargetKind.NotOpen, missing.Kind);
        Assert.Contains("no such file", error);
    }
}

public class SiblingExitSignalSpecs
{
    [Fact]
    public void A_sibling_gets_the_callers_own_exit_signal_whatever_it_asks()
    {
        var ctx = CallerContext.Root with { ExitSignal = 10 };
        var legacy = CloneEffects.Of(RequestText.Call("clone flags=PARENT exit=CHLD"), ctx);
        Assert.Equal(10, legacy.ExitSignal);
        Assert.Equal(17, CloneEffects.Of(RequestText.Call("clone exit=CHLD"), ctx).ExitSignal);
        Assert.Equal(Signals.SigChld, CallerContextReader.Live().ExitSignal);
    }
}
