using System.Collections.Immutable;
using Forklift.Interop;

namespace Forklift.Spawning;

/// <summary>Where one child fd comes from, after the parent has created its pipes.</summary>
internal abstract record FdSource
{
    /// <summary>dup2 of a parent fd (a pipe end, a handle's fd, an fd the caller named).</summary>
    /// <param name="ParentFd">The fd in the parent (and, before the steps, in the child's copy of the table).</param>
    /// <param name="What">For messages: <c>pipe</c>, <c>fd 7</c>, <c>handle</c>.</param>
    public sealed record Dup(int ParentFd, string What) : FdSource;

    /// <summary>open(2) in the child.</summary>
    public sealed record Open(string Path, int Flags, int Mode) : FdSource;
}

/// <summary>
/// Plans the child's fd table: every requested fd lands at its number whatever the overlaps between sources and
/// targets, and every other fd from 3 up is closed at exec.
/// <para>
/// A dup2 or open onto fd t destroys what t held. So before any of them, each source fd that some step will
/// overwrite is parked above every target (FL_OP_DUP_ABOVE, close-on-exec, into a slot) and later steps read it
/// from the slot (Go's forkAndExecInChild does the same in its "pass 1"). Then every fd from 3 up is marked
/// close-on-exec (FL_OP_CLOSE_RANGE with CLOSE_RANGE_CLOEXEC), and only then are the targets written: dup2 clears
/// close-on-exec on its target, so exactly the requested fds survive the exec. Doing the range first is what lets
/// extra fds above 2 survive (marking after the dup2s would close them too).
/// </para>
/// </summary>
internal static class FdPlanner
{
    /// <summary>CLOSE_RANGE_CLOEXEC (linux/close_range.h).</summary>
    public const int CloseRangeCloexec = 4;

    /// <summary>"up to the last fd" for FL_OP_CLOSE_RANGE.</summary>
    public const long AllFds = 0xffffffffL;

    private static readonly ImmutableArray<PlanStep> s_closeOnly = [CloseRangeStep];

    private static PlanStep CloseRangeStep => PlanStep.Of(SpawnOp.CloseRange, a: 3, b: AllFds, c: CloseRangeCloexec);

    /// <summary>The steps for <paramref name="targets"/> (child fd -> source), in order.</summary>
    /// <exception cref="CommandException">More than 64 fds need parking.</exception>
    public static ImmutableArray<PlanStep> Plan(IReadOnlyDictionary<int, FdSource> targets)
    {
        if (targets.Count == 0)
            return s_closeOnly; // nothing to place: only the close-on-exec sweep (every spawn with inherited stdio)
        var steps = ImmutableArray.CreateBuilder<PlanStep>();
        var ordered = targets.OrderBy(kv => kv.Key).ToList();

        // The fds some step will overwrite: every open target, every dup2 target whose source is another fd.
        var overwritten = new HashSet<int>();
        foreach (var (target, source) in ordered)
        {
            if (source is FdSource.Open || (source is FdSource.Dup d && d.ParentFd != target))
                overwritten.Add(target);
        }

        int minimum = ordered.Count == 0 ? 3 : Math.Max(3, ordered[^1].Key + 1);
        var slots = new Dictionary<int, int>();
        foreach (var (_, source) in ordered)
        {
            if (source is FdSource.Dup { ParentFd: var fd } && overwritten.Contains(fd) && !slots.ContainsKey(fd))
            {
                int slot = slots.Count;
                if (slot >= SpawnOp.MaxSlots)
                    throw new CommandException("FileDescriptors", $"more than {SpawnOp.MaxSlots} source fds collide with target fds; the stage can park at most {SpawnOp.MaxSlots}");
                slots[fd] = slot;
                steps.Add(PlanStep.Of(SpawnOp.DupAbove, a: fd, b: minimum, c: slot));
            }
        }

        steps.Add(CloseRangeStep);

        foreach (var (target, source) in ordered)
        {
            switch (source)
            {
                case FdSource.Dup dup:
                    long from = slots.TryGetValue(dup.ParentFd, out int s) ? SpawnOp.Slot(s) : dup.ParentFd;
                    steps.Add(PlanStep.Of(SpawnOp.Dup2, a: from, b: target, obj: dup.What));
                    break;
                case FdSource.Open open:
                    steps.Add(PlanStep.Of(SpawnOp.Open, a: target, b: open.Flags, c: open.Mode, str: open.Path));
                    break;
            }
        }
        return steps.ToImmutable();
    }
}
