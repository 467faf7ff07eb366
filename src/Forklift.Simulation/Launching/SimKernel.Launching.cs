using Forklift.Simulation.Programs;

namespace Forklift.Simulation;

// The two hooks the simulated launcher needs from the kernel, kept apart from Kernel/ and Syscalls/: the time of
// the next scheduled event (so the launcher's driver can merge the kernel's clock with the host's timers), and
// the wakeup of a program blocked in a pipe read (which the model has no system call for; Launching/SimIo.cs
// implements the read as a pause that this ends).
public sealed partial class SimKernel
{
    /// <summary>
    /// The virtual time of the earliest scheduled program step or timer, or null when none is scheduled. Stale
    /// entries (of a task that exec'd, exited or was woken otherwise since) count too: advancing to one is
    /// harmless, it only lets time pass.
    /// </summary>
    internal long? NextEventTime => _events.TryPeek(out _, out var key) ? key.Item1 : null;

    /// <summary>What <see cref="WakeFromRead"/> did.</summary>
    internal enum ReadWake
    {
        /// <summary>The task was blocked in the read and now runs with the result.</summary>
        Woken,
        /// <summary>The task is no longer in that read (a handler interrupted it with EINTR, it exec'd or died): forget it.</summary>
        Stale,
        /// <summary>The task is still in the read but cannot run now (stopped): try again later.</summary>
        Later,
    }

    /// <summary>
    /// Ends a blocking read of a program: the read was yielded as a pause (so a handled signal interrupts it with
    /// EINTR, as pipe_read does without SA_RESTART) in generation <paramref name="generation"/>; the program
    /// resumes with <paramref name="result"/> at the current virtual time.
    /// </summary>
    internal ReadWake WakeFromRead(SimTask t, int generation, SysResult result)
    {
        if (t.Generation != generation || t.Program is null || t.Exiting || t.Block is not { Kind: BlockKind.Pause })
        {
            return ReadWake.Stale;
        }
        if (t.State != TaskState.Running)
        {
            return ReadWake.Later;
        }
        t.Block = null;
        t.Program.Resume(result, default);
        Schedule(t, Now);
        return ReadWake.Woken;
    }
}
