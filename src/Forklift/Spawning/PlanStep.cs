using System.Collections.Immutable;
using System.Globalization;
using Forklift.Interop;

namespace Forklift.Spawning;

/// <summary>
/// One step of a plan, as managed data: the op and its arguments exactly as they go into <c>fl_spawn_step</c>,
/// plus the name and object an error message uses (<c>Dup2(fd 1)</c>, <c>/var/log/x</c>).
/// </summary>
/// <param name="Op">An <c>FL_OP_*</c> value (<see cref="SpawnOp"/>).</param>
/// <param name="A">Argument a.</param>
/// <param name="B">Argument b.</param>
/// <param name="C">Argument c.</param>
/// <param name="Str">The string argument (a path), or null.</param>
/// <param name="Ids">The id array of SETGROUPS, or default.</param>
/// <param name="Name">The step's name in errors.</param>
/// <param name="Object">What the step is about, or null.</param>
internal readonly record struct PlanStep(int Op, long A, long B, long C, string? Str, ImmutableArray<uint> Ids, string Name, string? Object)
{
    public static PlanStep Of(int op, string name, long a = 0, long b = 0, long c = 0, string? str = null, string? obj = null) =>
        new(op, a, b, c, str, default, name, obj);

    /// <summary>The step as the plan dump shows it: <c>DUP2 a=5 b=1 c=0</c>.</summary>
    public override string ToString() => Format(Op, A, B, C, Str, Ids.IsDefault ? null : Ids.AsSpan().ToArray());

    internal static string Format(int op, long a, long b, long c, string? str, uint[]? ids)
    {
        var text = $"{SpawnOp.Name(op)} a={Fd(a)} b={Fd(b)} c={c}";
        if (str is not null)
            text += $" str={str}";
        if (ids is not null)
            text += $" ids=[{string.Join(',', ids)}]";
        return text;
    }

    private static string Fd(long v) => v <= -1000 && v > -1000 - SpawnOp.MaxSlots
        ? $"slot{-1000 - v}"
        : v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A compiled command, all managed: what <see cref="SpawnPlan"/> lays out in unmanaged memory for
/// <c>fl_spawn</c>. Pure data; building it creates nothing.
/// </summary>
internal sealed record PlanModel
{
    public required SpawnPlanFlags Flags { get; init; }
    public required ulong CloneFlags { get; init; }
    public required ulong ExitSignal { get; init; }
    public required ulong Sigmask { get; init; }
    public required ImmutableArray<string> ExecPaths { get; init; }
    public required ImmutableArray<string> Argv { get; init; }
    public required ImmutableArray<string> Envp { get; init; }
    public required ImmutableArray<PlanStep> Steps { get; init; }
}
