namespace Forklift.Abi;

/// <summary>The system call a request enters the kernel through.</summary>
public enum CloneEntry
{
    /// <summary><c>clone3(struct clone_args *, size_t)</c>, syscall 435 (5.3+).</summary>
    Clone3,
    /// <summary>Legacy <c>clone(flags, newsp, parent_tid, child_tid, tls)</c>, syscall 56 on x86-64.</summary>
    Clone,
    /// <summary><c>fork()</c>, syscall 57.</summary>
    Fork,
    /// <summary><c>vfork()</c>, syscall 58.</summary>
    Vfork,
    /// <summary>
    /// Experimental: the 2019 <c>clone6</c> proposal, a <c>clone_args</c> struct plus five 32-bit flag words.
    /// Never merged; modelled so policies written for it can be checked.
    /// </summary>
    Clone6,
}

/// <summary>
/// One complete request as the kernel receives it: the entry point, the homogenized <see cref="Args"/>, and
/// for struct-based entries the facts about the struct's memory that decide EFAULT/E2BIG before any field is
/// looked at. Build with <see cref="Clone3"/>, <see cref="Legacy"/>, <see cref="Fork"/>, <see cref="Vfork"/>
/// or <see cref="Clone6"/>.
/// </summary>
public readonly record struct CloneCall
{
    /// <summary>The entry point.</summary>
    public CloneEntry Entry { get; init; }

    /// <summary>The request after homogenization (what <c>kernel_clone</c> sees).</summary>
    public CloneArgs Args { get; init; }

    /// <summary>clone3/clone6: the <c>size</c> argument.</summary>
    public ulong Size { get; init; }

    /// <summary>clone3/clone6: the address of the struct (0 = NULL; see <see cref="UserPointer"/>).</summary>
    public ulong ArgsPointer { get; init; }

    /// <summary>clone3/clone6: how many bytes from the struct's start are readable; null = all of them.</summary>
    public uint? ReadableBytes { get; init; }

    /// <summary>clone3/clone6: an offset at or past 88 whose byte is non-zero (the "unknown tail"); 0 = none.</summary>
    public uint TailNonZeroAt { get; init; }

    /// <summary>Legacy clone: the whole first register (flags | exit-signal byte), all 64 bits as passed.</summary>
    public ulong RawFlags { get; init; }

    /// <summary>clone6: flag words 2..5 ORed together (they must be zero).</summary>
    public uint Clone6UpperWords { get; init; }

    /// <summary>The <c>clone_args</c> size of this kernel (VER2).</summary>
    public const ulong CurrentStructSize = Clone3Struct.SizeVer2;

    /// <summary>A clone3 call with a valid, fully readable struct of the given size (default 88 bytes).</summary>
    public static CloneCall Clone3(CloneArgs args, ulong size = CurrentStructSize) => new()
    {
        Entry = CloneEntry.Clone3,
        Args = Clone3Struct.Truncate(args, size),
        Size = size,
        ArgsPointer = UserPointer.Valid(UserPointer.ArgsField),
    };

    /// <summary>The experimental clone6: flags come from word 1; words 2..5 must be zero.</summary>
    public static CloneCall Clone6(CloneArgs args, ulong size = CurrentStructSize, uint upperWords = 0) => new()
    {
        Entry = CloneEntry.Clone6,
        Args = Clone3Struct.Truncate(args, size),
        Size = size,
        ArgsPointer = UserPointer.Valid(UserPointer.ArgsField),
        Clone6UpperWords = upperWords,
    };

    /// <summary>A legacy clone call, decoded from its registers (SYSCALL_DEFINE5(clone) in kernel/fork.c).</summary>
    public static CloneCall Legacy(LegacyCloneRegisters registers) => new()
    {
        Entry = CloneEntry.Clone,
        Args = registers.ToArgs(),
        RawFlags = registers.Flags,
    };

    /// <summary><c>fork()</c>: <c>kernel_clone({.exit_signal = SIGCHLD})</c>.</summary>
    public static CloneCall Fork() => new() { Entry = CloneEntry.Fork, Args = new CloneArgs { ExitSignal = Signals.SigChld } };

    /// <summary><c>vfork()</c>: <c>kernel_clone({.flags = CLONE_VFORK|CLONE_VM, .exit_signal = SIGCHLD})</c>.</summary>
    public static CloneCall Vfork() => new()
    {
        Entry = CloneEntry.Vfork,
        Args = new CloneArgs { Flags = CloneFlags.Vfork | CloneFlags.Vm, ExitSignal = Signals.SigChld },
    };

    /// <summary>True for the struct-based entry points (clone3, clone6).</summary>
    public bool HasStruct => Entry is CloneEntry.Clone3 or CloneEntry.Clone6;
}
