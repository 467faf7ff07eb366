using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Simulation.Tests;

// The simulated kernel and the clone model must never drift: for random requests from tasks in several
// situations, the simulation's errno is CloneRules' errno on the derived context, and an allowed child shares
// exactly what CloneEffects says.
public class AgreementSpecs
{
    private static readonly CloneFlags[] Pool =
    [
        CloneFlags.Vm, CloneFlags.Fs, CloneFlags.Files, CloneFlags.Sighand, CloneFlags.Pidfd, CloneFlags.Vfork,
        CloneFlags.Parent, CloneFlags.Thread, CloneFlags.NewNs, CloneFlags.Sysvsem, CloneFlags.SetTls,
        CloneFlags.ParentSetTid, CloneFlags.ChildClearTid, CloneFlags.ChildSetTid, CloneFlags.NewCgroup,
        CloneFlags.NewUts, CloneFlags.NewIpc, CloneFlags.NewUser, CloneFlags.NewPid, CloneFlags.NewNet,
        CloneFlags.Io, CloneFlags.ClearSighand, CloneFlags.NewTime, CloneFlags.Detached, CloneFlags.Untraced,
    ];

    [Theory]
    [InlineData(0)]   // a root process
    [InlineData(1)]   // after unshare(CLONE_NEWPID), no init yet
    [InlineData(2)]   // an unprivileged process
    [InlineData(3)]   // the init of a pid namespace
    public void The_simulation_answers_what_the_rules_answer(int situation)
    {
        var rng = new Random(1234 + situation);
        var k = new SimKernel();
        int allowed = 0, refused = 0;
        for (int i = 0; i < 1500; i++)
        {
            var caller = Situation(k, situation);
            var call = RandomCall(rng);
            var ctx = k.ContextOf(caller);
            var expected = CloneRules.Evaluate(call, ctx);
            var fx = CloneEffects.Of(call, ctx);
            var r = k.Clone(caller, call, out var child);
            Assert.True(expected.Errno == r.Errno, $"{CloneFlagNames.Format(call.Args.Flags)} {call.Entry}: model {expected}, simulation {r}");
            if (r.Ok)
            {
                allowed++;
                Assert.NotNull(child);
                Assert.Equal(fx.AddressSpace == Effect.Shared, child!.Mm == caller.Mm);
                Assert.Equal(fx.FdTable == Effect.Shared, child.Files == caller.Files);
                Assert.Equal(fx.FsInfo == Effect.Shared, child.Fs == caller.Fs);
                Assert.Equal(fx.SignalHandlers == Effect.Shared, child.Sighand == caller.Sighand);
                Assert.Equal(fx.SysvSemUndo == Effect.Shared, child.SemUndo is not null && child.SemUndo == caller.SemUndo);
                Assert.Equal(fx.ThreadGroup == Effect.Joined, child.Group == caller.Group);
                Assert.Equal(fx.Parent == Effect.Inherited, child.RealParent == caller.RealParent);
                Assert.Equal(fx.User == Effect.New, child.Cred.UserNs != caller.Cred.UserNs);
                Assert.Equal(fx.Net == Effect.New, child.Ns.Net != caller.Ns.Net);
                Assert.Equal(fx.Pid == Effect.Shared, child.Pid.Ns == caller.Pid.Ns);
                Assert.Equal(fx.VforkWait, caller.State == TaskState.VforkWait);
            }
            else
            {
                refused++;
                Assert.Null(child);
            }
            Cleanup(k);
        }
        Assert.True(allowed > 50 && refused > 50, $"allowed {allowed}, refused {refused}");
        Assert.Equal(1, k.ProcessCount);
        Assert.Equal(1, k.TaskCount);
    }

    private static SimTask Situation(SimKernel k, int situation)
    {
        k.Fork(k.Init, out var t);
        switch (situation)
        {
            case 1:
                k.Unshare(t!, CloneFlags.NewPid);
                break;
            case 2:
                k.Setuid(t!, 1000);
                break;
            case 3:
                k.Exit(t!, 0);
                k.Wait4(k.Init, -1, WaitConst.WAll, out _);
                k.Clone3(k.Init, new CloneArgs { Flags = CloneFlags.NewPid, ExitSignal = Signals.SigChld }, out t);
                break;
        }
        return t!;
    }

    private static CloneCall RandomCall(Random rng)
    {
        var flags = CloneFlags.None;
        int n = rng.Next(0, 5);
        for (int j = 0; j < n; j++)
        {
            flags |= Pool[rng.Next(Pool.Length)];
        }
        if (rng.Next(3) == 0)
        {
            flags |= CloneFlags.Vm | CloneFlags.Sighand | CloneFlags.Thread;
        }
        ulong sig = rng.Next(4) switch { 0 => 0, 1 => 65, _ => Signals.SigChld };
        var args = new CloneArgs
        {
            Flags = flags,
            ExitSignal = sig,
            Pidfd = UserPointer.Valid(UserPointer.PidfdField),
            ParentTid = UserPointer.Valid(UserPointer.ParentTidField),
            ChildTid = UserPointer.Valid(UserPointer.ChildTidField),
            Tls = rng.Next(8) == 0 ? 0x8000_0000_0000UL : 0x7f00_0000_1000UL,
        };
        if (rng.Next(5) == 0)
        {
            args = args with { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = 1, SetTidValues = [rng.Next(1, 4) * 100] };
        }
        if (rng.Next(2) == 0 && (ulong)flags <= 0xffffffff && (flags & CloneFlags.NewTime) == 0)
        {
            return CloneCall.Legacy(new LegacyCloneRegisters((ulong)flags | (sig & 0xff), 0, args.ParentTid, args.ChildTid, args.Tls));
        }
        return CloneCall.Clone3(args);
    }

    // Kill and reap everything but the global init.
    private static void Cleanup(SimKernel k)
    {
        foreach (var p in k.Processes())
        {
            if (p != k.Init && p.Alive)
            {
                k.KernelSignal(p, 9);
            }
        }
        while (k.Wait4(k.Init, -1, WaitConst.WAll, out _).Ok)
        {
        }
        Assert.Equal(1, k.ProcessCount);
    }
}
