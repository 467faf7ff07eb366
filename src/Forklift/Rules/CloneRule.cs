using Forklift.Abi;

namespace Forklift.Rules;

/// <summary>The stage of the kernel's clone path a rule belongs to, in evaluation order.</summary>
public enum RulePhase
{
    /// <summary>(A) <c>copy_clone_args_from_user</c>: reading and checking the clone3 struct.</summary>
    CopyArgs,
    /// <summary>(B) <c>clone3_args_valid</c>.</summary>
    Clone3Valid,
    /// <summary>(C) <c>kernel_clone</c>, common to every entry point.</summary>
    KernelClone,
    /// <summary>(D) the early flag checks of <c>copy_process</c>.</summary>
    CopyProcessEarly,
    /// <summary>(E) the later stages of <c>copy_process</c> (credentials, namespaces, pids, pidfd, cgroup).</summary>
    CopyProcessLate,
}

/// <summary>Identifiers of the clone rules; the names follow <c>CLONE_RULES.md</c> (R-A1 is <see cref="A1"/>).</summary>
public enum RuleId
{
    /// <summary>No rule: the call is allowed.</summary>
    None = 0,
#pragma warning disable CS1591 // each id is documented by its CloneRule entry (CloneRules.Get)
    N1, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, X1,
    B1, B2, B3, B4, B5,
    C1, C2,
    D1, D2, D3, D4, D5, D6, D7, D8,
    E1, E2, E3, E4, E5, E6, E7, E8, E9, E10, E11, E12, E13, E14, E15, E16, E17, E18, E19, E20, E21, E22a, E22, E23,
    E24, E25, E26, E27, E28, E29, E30, E31,
#pragma warning restore CS1591
}

/// <summary>
/// One kernel rule: the condition, the errno it earns, where in the kernel it lives, and a sentence a user
/// understands. The predicates themselves are in <see cref="CloneRules"/>, in the kernel's order.
/// </summary>
public sealed class CloneRule
{
    internal CloneRule(RuleId id, RulePhase phase, Errno errno, string function, string condition, string reason, string since)
    {
        Id = id;
        Phase = phase;
        Errno = errno;
        KernelFunction = function;
        Condition = condition;
        Reason = reason;
        Since = since;
    }

    /// <summary>The identifier.</summary>
    public RuleId Id { get; }

    /// <summary>The rule's name as in CLONE_RULES.md: <c>R-A1</c>, <c>R-E22</c>, ...</summary>
    public string Name => "R-" + Id.ToString();

    /// <summary>The stage.</summary>
    public RulePhase Phase { get; }

    /// <summary>The errno returned when the rule fires.</summary>
    public Errno Errno { get; }

    /// <summary>The kernel function whose check this mirrors (kernel/fork.c unless named otherwise).</summary>
    public string KernelFunction { get; }

    /// <summary>The condition, in kernel terms.</summary>
    public string Condition { get; }

    /// <summary>Why the kernel refuses, in one sentence.</summary>
    public string Reason { get; }

    /// <summary>The kernel release (and notes) the rule applies from.</summary>
    public string Since { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {ErrnoInfo.Name(Errno)}: {Reason}";
}

/// <summary>
/// The model's answer to one request: allowed, or the first rule that fires. A value type holding only
/// references to static data, so evaluating allocates nothing.
/// </summary>
public readonly struct CloneVerdict
{
    internal CloneVerdict(CloneRule? rule, int detail = -1)
    {
        Rule = rule;
        Detail = detail;
    }

    /// <summary>The rule that refused the call, or null when it is allowed.</summary>
    public CloneRule? Rule { get; }

    /// <summary>
    /// Extra position for rules that apply per item: the namespace type for R-E10 (a <see cref="NamespaceType"/>),
    /// the set_tid index for R-E16..R-E19; -1 otherwise.
    /// </summary>
    public int Detail { get; }

    /// <summary>True when no rule fired.</summary>
    public bool Allowed => Rule is null;

    /// <summary>The errno the kernel returns, <see cref="Errno.None"/> when allowed.</summary>
    public Errno Errno => Rule?.Errno ?? Errno.None;

    /// <summary>The rule's reason with its detail filled in (allocates; for display).</summary>
    public string Explain()
    {
        if (Rule is null)
        {
            return "allowed";
        }
        return Rule.Id switch
        {
            RuleId.E10 when Detail >= 0 => $"{Rule.Reason} (max_{NamespaceTypes.Name((NamespaceType)Detail)}_namespaces)",
            RuleId.E16 or RuleId.E17 or RuleId.E18 or RuleId.E19 when Detail >= 0 => $"{Rule.Reason} (set_tid[{Detail}])",
            _ => Rule.Reason,
        };
    }

    /// <inheritdoc/>
    public override string ToString() => Rule is null ? "allowed" : $"{ErrnoInfo.Name(Errno)} by {Rule.Name}: {Explain()}";
}
