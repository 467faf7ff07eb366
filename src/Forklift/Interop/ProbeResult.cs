using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>Mirror of <c>fl_probe_result</c> (32 bytes): what one probe observed.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ProbeResult
{
    /// <summary>What happened.</summary>
    public ProbeOutcome Outcome;
    /// <summary>errno of the call (<see cref="ProbeOutcome.Returned"/> with <see cref="Ret"/> &lt; 0), of the
    /// failed step, or of the machinery; 0 on success.</summary>
    public int Err;
    /// <summary>The raw return value: the child's pid (&gt; 0, in the caller's pid namespace) or -errno.</summary>
    public long Ret;
    /// <summary>1-based step when <see cref="ProbeOutcome.SetupFailed"/>, else 0 (see <see cref="ProbeSetupStep"/>).</summary>
    public int SetupStep;
    /// <summary>The signal that killed the caller (<see cref="ProbeOutcome.CallerKilled"/>).</summary>
    public int Signal;
    /// <summary>Wait status of the created child when it was reaped; -1 when none was (threads, failures).</summary>
    public int ChildStatus;
    /// <summary>1 when CLONE_PIDFD succeeded and a pidfd &gt;= 0 was written (and then closed).</summary>
    public int PidfdSeen;

    /// <summary>The call returned a child (pid &gt; 0).</summary>
    internal readonly bool Succeeded => Outcome == ProbeOutcome.Returned && Ret > 0;

    /// <summary><see cref="SetupStep"/>, typed.</summary>
    internal readonly ProbeSetupStep Step => (ProbeSetupStep)SetupStep;

    /// <summary>For test and log messages: outcome, ret, errno, step, signal, child status.</summary>
    public override readonly string ToString() =>
        $"{Outcome} ret={Ret} err={Err} step={Step} signal={Signal} child_status={ChildStatus} pidfd_seen={PidfdSeen}";
}
