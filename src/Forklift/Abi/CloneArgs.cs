using System.Collections.Immutable;

namespace Forklift.Abi;

/// <summary>
/// The homogenized clone request, as the kernel's <c>struct kernel_clone_args</c>: every entry point
/// (<c>clone3</c>, legacy <c>clone</c>, <c>fork</c>, <c>vfork</c>, the <c>clone6</c> proposal) is decoded into
/// one of these before any rule is checked. Pointer fields hold user addresses; what memory lies behind them is
/// described by <see cref="UserPointer"/>. The default value is a plain <c>fork</c> with exit signal 0.
/// </summary>
public readonly record struct CloneArgs
{
    /// <summary>The flag word (clone3: all 64 bits; legacy clone: <c>lower_32_bits(flags) &amp; ~CSIGNAL</c>).</summary>
    public CloneFlags Flags { get; init; }

    /// <summary>Where the kernel stores the pidfd for <c>CLONE_PIDFD</c> (<c>int *</c>; legacy clone: parent_tid).</summary>
    public ulong Pidfd { get; init; }

    /// <summary>The <c>CLONE_CHILD_SETTID</c>/<c>CLONE_CHILD_CLEARTID</c> address.</summary>
    public ulong ChildTid { get; init; }

    /// <summary>The <c>CLONE_PARENT_SETTID</c> address.</summary>
    public ulong ParentTid { get; init; }

    /// <summary>The exit signal, 64 bits as clone3 reads it (legacy clone: the low byte of the flag register).</summary>
    public ulong ExitSignal { get; init; }

    /// <summary>clone3: the lowest address of the child's stack; legacy clone: <c>newsp</c>, the stack pointer itself.</summary>
    public ulong Stack { get; init; }

    /// <summary>clone3: the stack size (the child's stack pointer is <c>Stack + StackSize</c>); 0 for legacy calls.</summary>
    public ulong StackSize { get; init; }

    /// <summary>The new thread pointer for <c>CLONE_SETTLS</c> (x86-64: the FS base).</summary>
    public ulong Tls { get; init; }

    /// <summary>Address of the <c>pid_t</c> array for set_tid (clone3 VER1+).</summary>
    public ulong SetTid { get; init; }

    /// <summary>Number of entries in the set_tid array.</summary>
    public ulong SetTidSize { get; init; }

    /// <summary>cgroup2 directory fd for <c>CLONE_INTO_CGROUP</c> (clone3 VER2).</summary>
    public ulong Cgroup { get; init; }

    /// <summary>
    /// The pids stored at <see cref="SetTid"/>: element 0 is the pid in the deepest (newest) pid namespace, as
    /// the kernel reads it. Only the first <see cref="SetTidSize"/> entries are read. Empty by default.
    /// </summary>
    public ImmutableArray<int> SetTidValues { get; init; }

    /// <summary>The exit signal as a kernel <c>int</c> after the clone3 validity check (low byte only).</summary>
    public int ExitSignalNumber => (int)(ExitSignal & 0xff);

    /// <summary>Tests all fields, comparing <see cref="SetTidValues"/> element by element.</summary>
    public bool Equals(CloneArgs other) =>
        Flags == other.Flags && Pidfd == other.Pidfd && ChildTid == other.ChildTid && ParentTid == other.ParentTid
        && ExitSignal == other.ExitSignal && Stack == other.Stack && StackSize == other.StackSize && Tls == other.Tls
        && SetTid == other.SetTid && SetTidSize == other.SetTidSize && Cgroup == other.Cgroup
        && Values(SetTidValues).SequenceEqual(Values(other.SetTidValues));

    private static ReadOnlySpan<int> Values(ImmutableArray<int> a) => a.IsDefault ? default : a.AsSpan();

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Flags, ExitSignal, Stack, StackSize, Tls, SetTidSize, Cgroup);
}

/// <summary>
/// What lies behind a user address, as the model sees it. The kernel faults on NULL, on addresses below
/// <c>mmap_min_addr</c> (64 KiB, never mapped by Forklift's probe), and on anything at or above
/// <c>TASK_SIZE_MAX</c>; every other address is taken to be mapped, readable and writable memory.
/// </summary>
public static class UserPointer
{
    /// <summary>The lowest address the model treats as mapped (the default <c>vm.mmap_min_addr</c>).</summary>
    public const ulong MinMapped = 0x10000;

    /// <summary>x86-64 <c>TASK_SIZE_MAX</c> with 4-level paging: the first address user space cannot own.</summary>
    public const ulong TaskSizeMax4Level = 0x7ffffffff000;

    /// <summary>A canonical faulting address for the field with the given index (distinct per field).</summary>
    public static ulong Bad(int field) => 0x1000UL + (ulong)field * 0x10;

    /// <summary>A canonical mapped address for the field with the given index (distinct per field).</summary>
    public static ulong Valid(int field) => 0x7f00_0000_0000UL + (ulong)field * 0x100;

    /// <summary>Field indexes used by <see cref="Bad"/> and <see cref="Valid"/>.</summary>
    public const int PidfdField = 1, ChildTidField = 2, ParentTidField = 3, SetTidField = 4, ArgsField = 5;

    /// <summary>Classifies an address.</summary>
    public static PointerState Classify(ulong address, ulong taskSizeMax = TaskSizeMax4Level) =>
        address == 0 ? PointerState.Null
        : address < MinMapped || address >= taskSizeMax ? PointerState.Bad
        : PointerState.Valid;

    /// <summary>The address that stands for a state in the given field.</summary>
    public static ulong For(PointerState state, int field) => state switch
    {
        PointerState.Null => 0,
        PointerState.Bad => Bad(field),
        _ => Valid(field),
    };
}

/// <summary>What memory lies behind a user pointer.</summary>
public enum PointerState
{
    /// <summary>The pointer is 0.</summary>
    Null,
    /// <summary>Mapped, readable and writable.</summary>
    Valid,
    /// <summary>Non-null, but any access faults (EFAULT).</summary>
    Bad,
}
