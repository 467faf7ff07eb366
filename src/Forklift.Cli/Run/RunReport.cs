using System.Globalization;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Processes;
using Forklift.Spawning;
using SpawnCommand = Forklift.Spawning.Command;

namespace Forklift.Cli.Run;

/// <summary>
/// What <c>run</c> writes to stderr: the failure line always, and with <c>--verbose</c> the plan, how the child was
/// created, forwarded signals and how it ended, one <c>forklift: </c> line each. Lines may come from the signal
/// thread too, so writes are serialized.
/// </summary>
internal sealed class RunReport(TextWriter error, bool verbose)
{
    private readonly Lock _lock = new();

    /// <summary>Writes one verbose line (nothing without <c>--verbose</c>).</summary>
    public void Line(string text)
    {
        if (!verbose)
            return;
        lock (_lock)
            error.WriteLine("forklift: " + text);
    }

    /// <summary>Writes the failure line (always) and returns <paramref name="exit"/>.</summary>
    public int Failure(string line, int exit)
    {
        lock (_lock)
            error.WriteLine(line);
        Line($"exiting with {exit}");
        return exit;
    }

    /// <summary>
    /// The plan as the native stage will get it: the clone call and its flags, the steps the child takes before
    /// exec, and the exec candidates. Compiled here from the same builder the launcher uses, so it shows what the
    /// launcher is about to do; nothing is created.
    /// </summary>
    public void Plan(SpawnCommand command)
    {
        PlanModel model;
        try
        {
            var inputs = SpawnInputs.Capture(LinuxSystemCalls.Instance.GetParentPid());
            model = SpawnPlanBuilder.Build(command, inputs, new Dictionary<int, int>(), sync: false);
        }
        catch (CommandException)
        {
            return; // the launcher reports it, worded for the CLI
        }

        bool fast = (model.Flags & SpawnPlanFlags.Fast) != 0;
        var requested = (CloneFlags)model.CloneFlags;
        // What the stage adds (native/src/spawn.c): a pidfd always, CLONE_VM|CLONE_VFORK on the fast path, and for
        // clone3 CLONE_CLEAR_SIGHAND (the legacy clone has no such flag: the child resets the handlers itself).
        var common = requested | CloneFlags.Pidfd | (fast ? CloneFlags.Vm | CloneFlags.Vfork : CloneFlags.None);
        var clone3 = common | ((model.Flags & SpawnPlanFlags.ResetSignals) != 0 ? CloneFlags.ClearSighand : CloneFlags.None);
        string exitSignal = Signals.Name((long)model.ExitSignal);

        Line($"plan: {command} (argv[0] {Quote(model.Argv[0])}, {model.Envp.Length} environment variables{(command.InheritEnvironment ? "" : ", cleared")})");
        string fallback = command.CloneEntry switch
        {
            CloneEntryPolicy.Clone3WithFallbackOnEperm => "legacy clone if clone3 returns ENOSYS or EPERM",
            _ => "legacy clone if clone3 returns ENOSYS",
        };
        if (command.CloneEntry == CloneEntryPolicy.LegacyClone)
            Line($"plan: legacy clone only (--no-clone3): flags {CloneFlagNames.Format(common)}, exit signal {exitSignal}");
        else
            Line($"plan: clone3 with flags {CloneFlagNames.Format(clone3)}, exit signal {exitSignal}; {fallback} (flags {CloneFlagNames.Format(common)})");
        Line($"plan: {(fast ? "fast path: the child shares this process's memory until exec (CLONE_VM|CLONE_VFORK) on its own stack" : "full path: the child has its own memory and waits for the parent")}; plan flags {model.Flags}");
        if (model.Sigmask != 0)
            Line($"plan: signal mask at exec 0x{model.Sigmask:x}");
        for (int i = 0; i < model.Steps.Length; i++)
        {
            var step = model.Steps[i];
            Line($"plan: step {i + 1}: {step.Name}{(step.Object is null ? "" : " " + step.Object)}  [{step}]");
        }
        Line($"plan: exec candidates: {string.Join(", ", model.ExecPaths)}");
    }

    /// <summary>How the child was created: the system call and why, the path, the pid, the clone call's duration.</summary>
    public void Path(SpawnPath path, int pid, TimeSpan? cloneCall)
    {
        string how = path switch
        {
            { UsedClone3: true } => "created by clone3",
            { Clone3Errno: Errno.EPERM } => "created by legacy clone because clone3 returned EPERM (--clone3-eperm-fallback)",
            { Clone3Errno: not Errno.None } => $"created by legacy clone because clone3 returned {ErrnoInfo.Name(path.Clone3Errno)}",
            _ => "created by legacy clone (--no-clone3)",
        };
        string call = cloneCall is { } d ? $", clone call {Micros(d)}" : "";
        string who = pid > 0 ? $"pid {pid}" : "no child";
        Line($"{who} {how}, {(path.FastPath ? "fast path" : "full path")}{call}");
    }

    /// <summary>How the child ended, its resource usage, and forklift's own exit code.</summary>
    public void Exit(int pid, ExitStatus status, TimeSpan elapsed, int exit)
    {
        Line($"pid {pid} {status} after {Millis(elapsed)}");
        if (status.ResourceUsage is { } u)
        {
            Line(string.Create(CultureInfo.InvariantCulture,
                $"rusage: user {u.UserTime.TotalSeconds:0.000}s, system {u.SystemTime.TotalSeconds:0.000}s, max RSS {u.MaxResidentSetKiB} KiB, " +
                $"page faults {u.MinorFaults} minor / {u.MajorFaults} major, blocks {u.BlockInputs} in / {u.BlockOutputs} out, " +
                $"context switches {u.VoluntaryContextSwitches} voluntary / {u.InvoluntaryContextSwitches} involuntary"));
        }
        else
        {
            Line($"rusage: not available (status from {status.Source})");
        }
        Line(status.Signal is { } s ? $"exiting with {exit} (128 + {s}, {Signals.Name(s)})" : $"exiting with {exit}");
    }

    private static string Quote(string s) => s.Length == 0 || s.Any(char.IsWhiteSpace) ? $"'{s}'" : s;

    private static string Micros(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMicroseconds:0} µs");

    private static string Millis(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.0} ms");
}
