using Forklift.Abi;
using Forklift.Simulation.Programs;

namespace Forklift.Simulation;

public sealed partial class SimKernel
{
    /// <summary>Starts a program in a task without execve (a forked child that runs C# code from its parent).</summary>
    public void StartProgram(SimTask t, ProgramBody body, IReadOnlyList<string>? argv = null)
    {
        t.Generation++;
        t.Program = new ProgramRun(this, t, body, argv ?? []);
        Schedule(t, Now);
    }

    /// <summary><c>nanosleep(ticks)</c> for a scripted task: it sleeps until the clock has advanced that far.</summary>
    public SysResult Nanosleep(SimTask caller, long ticks)
    {
        Enter(caller);
        BlockSleep(caller, ticks);
        return SysResult.Block($"until t={Now + ticks}");
    }

    /// <summary><c>pause()</c> for a scripted task: it sleeps until a handled signal arrives.</summary>
    public SysResult Pause(SimTask caller)
    {
        Enter(caller);
        BlockPause(caller);
        return SysResult.Block("until a signal");
    }

    internal void BlockSleep(SimTask t, long ticks)
    {
        t.Block = new BlockedCall { Kind = BlockKind.Sleep, WakeAt = Now + Math.Max(0, ticks) };
        Schedule(t, t.Block.WakeAt, timer: true);
    }

    internal void BlockPause(SimTask t) => t.Block = new BlockedCall { Kind = BlockKind.Pause };

    private void TimerFired(SimTask t)
    {
        if (t.Block is not { Kind: BlockKind.Sleep } b || b.WakeAt > Now)
        {
            return;
        }
        t.Block = null;
        var r = SysResult.Success(0);
        Completed(t, "nanosleep", r);
        if (t.Program is { } run)
        {
            run.Resume(r, default);
            ProgramRun.Step(this, t);
        }
    }

    /// <summary>Sends <paramref name="sig"/> as the kernel would (forced, no sender): for tests and scenarios.</summary>
    public void KernelSignal(SimTask target, int sig)
    {
        if (!Signals.IsValid(sig))
        {
            throw new ArgumentOutOfRangeException(nameof(sig));
        }
        SendSignal(null, target, sig, force: true);
        Settle();
    }
}
