using System.Collections.Immutable;

namespace Forklift.Abi;

/// <summary>
/// The five arguments of legacy <c>clone()</c> by meaning, whatever the architecture's register order.
/// </summary>
/// <param name="Flags">The first register: flags with the exit signal in the low byte (<c>CSIGNAL</c>).</param>
/// <param name="NewSp">The child's stack pointer (0: the caller's).</param>
/// <param name="ParentTid">The <c>CLONE_PARENT_SETTID</c> address, also where <c>CLONE_PIDFD</c> stores the pidfd.</param>
/// <param name="ChildTid">The <c>CLONE_CHILD_SETTID</c>/<c>CLEARTID</c> address.</param>
/// <param name="Tls">The <c>CLONE_SETTLS</c> value.</param>
public readonly record struct LegacyCloneRegisters(ulong Flags, ulong NewSp = 0, ulong ParentTid = 0, ulong ChildTid = 0, ulong Tls = 0)
{
    /// <summary>
    /// Homogenizes as SYSCALL_DEFINE5(clone) in kernel/fork.c does: the upper 32 bits are dropped (since 5.7,
    /// "fork: prevent accidental access to clone3 features"), the low byte is the exit signal, and
    /// <c>pidfd</c> aliases <c>parent_tid</c>.
    /// </summary>
    public CloneArgs ToArgs() => new()
    {
        Flags = (CloneFlags)((Flags & CloneMasks.Legacy32) & ~CloneMasks.CSignal),
        ExitSignal = Flags & CloneMasks.CSignal,
        Pidfd = ParentTid,
        ParentTid = ParentTid,
        ChildTid = ChildTid,
        Stack = NewSp,
        Tls = Tls,
        SetTidValues = ImmutableArray<int>.Empty,
    };

    /// <summary>
    /// Encodes homogenized args as legacy registers, or explains why the legacy form cannot express them:
    /// flags past bit 31 (CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP), <c>CLONE_NEWTIME</c> (bit 7 is the exit
    /// signal's), an exit signal over 255, a stack size, set_tid, a cgroup, or a pidfd address that differs from
    /// parent_tid.
    /// </summary>
    public static bool TryFromArgs(in CloneArgs args, out LegacyCloneRegisters registers, out string? why)
    {
        registers = default;
        ulong flags = (ulong)args.Flags;
        why = (flags & ~CloneMasks.Legacy32) != 0 ? "flags above bit 31 do not exist for legacy clone (clone3 only)"
            : (flags & CloneMasks.CSignal) != 0 ? "bits 0..7 of the legacy flag register are the exit signal (CLONE_NEWTIME is clone3-only)"
            : args.ExitSignal > CloneMasks.CSignal ? "the legacy exit signal is one byte (0..255)"
            : args.StackSize != 0 ? "legacy clone has no stack size: newsp is the stack pointer itself"
            : args.SetTid != 0 || args.SetTidSize != 0 ? "set_tid is clone3-only"
            : args.Cgroup != 0 ? "the cgroup fd is clone3-only"
            : args.Pidfd != args.ParentTid && (args.Flags & CloneFlags.Pidfd) != 0 ? "legacy clone stores the pidfd at parent_tid"
            : null;
        if (why != null)
        {
            return false;
        }
        registers = new LegacyCloneRegisters(flags | args.ExitSignal, args.Stack, args.ParentTid, args.ChildTid, args.Tls);
        return true;
    }

    /// <summary>The registers in the given architecture's order (<see cref="LegacyCloneAbi"/>).</summary>
    public ulong[] ToRegisters(LegacyCloneAbi abi)
    {
        var order = LegacyCloneAbis.Order(abi);
        var regs = new ulong[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            regs[i] = order[i] switch
            {
                LegacyCloneArgument.Flags => Flags,
                LegacyCloneArgument.NewSp => NewSp,
                LegacyCloneArgument.ParentTid => ParentTid,
                LegacyCloneArgument.ChildTid => ChildTid,
                LegacyCloneArgument.Tls => Tls,
                _ => 0, // StackSize (CLONE_BACKWARDS3) is ignored by the kernel
            };
        }
        return regs;
    }

    /// <summary>Reads registers given in the architecture's order.</summary>
    public static LegacyCloneRegisters FromRegisters(LegacyCloneAbi abi, ReadOnlySpan<ulong> regs)
    {
        var order = LegacyCloneAbis.Order(abi);
        if (regs.Length != order.Length)
        {
            throw new ArgumentException($"{abi} passes {order.Length} arguments to clone, not {regs.Length}", nameof(regs));
        }
        ulong f = 0, sp = 0, ptid = 0, ctid = 0, tls = 0;
        for (int i = 0; i < order.Length; i++)
        {
            switch (order[i])
            {
                case LegacyCloneArgument.Flags: f = regs[i]; break;
                case LegacyCloneArgument.NewSp: sp = regs[i]; break;
                case LegacyCloneArgument.ParentTid: ptid = regs[i]; break;
                case LegacyCloneArgument.ChildTid: ctid = regs[i]; break;
                case LegacyCloneArgument.Tls: tls = regs[i]; break;
            }
        }
        return new LegacyCloneRegisters(f, sp, ptid, ctid, tls);
    }
}

/// <summary>The meaning of one legacy clone argument.</summary>
public enum LegacyCloneArgument
{
    /// <summary>Flags and exit signal.</summary>
    Flags,
    /// <summary>The new stack pointer.</summary>
    NewSp,
    /// <summary>The parent_tid pointer.</summary>
    ParentTid,
    /// <summary>The child_tid pointer.</summary>
    ChildTid,
    /// <summary>The TLS value.</summary>
    Tls,
    /// <summary>A stack size, passed and ignored (CLONE_BACKWARDS3).</summary>
    StackSize,
}

/// <summary>
/// The argument orders of legacy clone, selected in the kernel by <c>CONFIG_CLONE_BACKWARDS*</c>
/// (kernel/fork.c, the SYSCALL_DEFINE variants of clone).
/// </summary>
public enum LegacyCloneAbi
{
    /// <summary>x86-64, riscv, loongarch and most others: flags, newsp, parent_tid, child_tid, tls.</summary>
    Default,
    /// <summary><c>CONFIG_CLONE_BACKWARDS</c> (x86-32, arm, arm64, mips, powerpc, arc): flags, newsp, parent_tid, tls, child_tid.</summary>
    Backwards,
    /// <summary><c>CONFIG_CLONE_BACKWARDS2</c> (s390): newsp, flags, parent_tid, child_tid, tls.</summary>
    Backwards2,
    /// <summary><c>CONFIG_CLONE_BACKWARDS3</c> (microblaze): flags, newsp, stack_size, parent_tid, child_tid, tls.</summary>
    Backwards3,
}

/// <summary>The argument order tables.</summary>
public static class LegacyCloneAbis
{
    private static readonly LegacyCloneArgument[] DefaultOrder =
        [LegacyCloneArgument.Flags, LegacyCloneArgument.NewSp, LegacyCloneArgument.ParentTid, LegacyCloneArgument.ChildTid, LegacyCloneArgument.Tls];
    private static readonly LegacyCloneArgument[] BackwardsOrder =
        [LegacyCloneArgument.Flags, LegacyCloneArgument.NewSp, LegacyCloneArgument.ParentTid, LegacyCloneArgument.Tls, LegacyCloneArgument.ChildTid];
    private static readonly LegacyCloneArgument[] Backwards2Order =
        [LegacyCloneArgument.NewSp, LegacyCloneArgument.Flags, LegacyCloneArgument.ParentTid, LegacyCloneArgument.ChildTid, LegacyCloneArgument.Tls];
    private static readonly LegacyCloneArgument[] Backwards3Order =
        [LegacyCloneArgument.Flags, LegacyCloneArgument.NewSp, LegacyCloneArgument.StackSize, LegacyCloneArgument.ParentTid, LegacyCloneArgument.ChildTid, LegacyCloneArgument.Tls];

    /// <summary>The order of the arguments for an ABI.</summary>
    public static ReadOnlySpan<LegacyCloneArgument> Order(LegacyCloneAbi abi) => abi switch
    {
        LegacyCloneAbi.Backwards => BackwardsOrder,
        LegacyCloneAbi.Backwards2 => Backwards2Order,
        LegacyCloneAbi.Backwards3 => Backwards3Order,
        _ => DefaultOrder,
    };
}
