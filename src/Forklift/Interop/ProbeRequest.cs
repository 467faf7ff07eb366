using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// Mirror of <c>fl_probe_request</c> (920 bytes): one raw call, made exactly as described.
/// For <see cref="ProbeCall.Clone3"/> the clone_args values (<see cref="Flags"/> .. <see cref="Cgroup"/>, 88
/// bytes in kernel order) are laid out so that exactly <see cref="ReadableBytes"/> bytes from the struct's
/// start are readable and the next page faults; the kernel reads <see cref="Size"/> bytes. For legacy
/// <see cref="ProbeCall.Clone"/> the registers are <see cref="RawFlags"/>, <see cref="Stack"/>,
/// <see cref="ParentTid"/>, <see cref="ChildTid"/>, <see cref="Tls"/>. Pointer fields whose kind is
/// <see cref="ProbePointerKind.Valid"/> are replaced by real buffers. Start from <see cref="Create"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ProbeRequest
{
    /// <summary>Length of <see cref="CgroupPath"/> in bytes, the terminating NUL included.</summary>
    internal const int PathCapacity = 256;

    /// <summary>Capacity of <see cref="SetTidValues"/> (MAX_PID_NS_LEVEL).</summary>
    internal const int SetTidCapacity = 32;

    /// <summary>Largest <see cref="ReadableBytes"/> the probe can lay out.</summary>
    internal const uint MaxReadableBytes = 8192;

    /// <summary>The call to make.</summary>
    public ProbeCall Call;
    /// <summary>clone3 struct pointer: <see cref="ProbePointerKind.Valid"/> (built by the probe) or
    /// <see cref="ProbePointerKind.Raw"/> (then <see cref="ArgsRawPointer"/> is passed).</summary>
    public ProbePointerKind ArgsKind;
    /// <summary>clone3 struct pointer when <see cref="ArgsKind"/> is Raw (0 = NULL, or a faulting address).</summary>
    public ulong ArgsRawPointer;
    /// <summary>The clone3 size argument.</summary>
    public ulong Size;
    /// <summary>Bytes of the struct readable from its start (at most <see cref="MaxReadableBytes"/>).</summary>
    public uint ReadableBytes;
    /// <summary>-1: none; else this byte offset of the struct is set to 1 (must be &lt; <see cref="ReadableBytes"/>).</summary>
    public int TailNonzeroAt;
    /// <summary>How the pidfd pointer is filled.</summary>
    public ProbePointerKind PidfdKind;
    /// <summary>How the parent_tid pointer is filled (Raw or Valid).</summary>
    public ProbePointerKind ParentTidKind;
    /// <summary>How the child_tid pointer is filled (Raw or Valid).</summary>
    public ProbePointerKind ChildTidKind;
    /// <summary>How the set_tid pointer is filled (Raw or Valid; Valid points at <see cref="SetTidValues"/>).</summary>
    public ProbePointerKind SetTidKind;
    /// <summary>Where the cgroup fd comes from.</summary>
    public ProbeCgroupSource CgroupSource;
    /// <summary>Reserved, 0.</summary>
    public int Reserved0;
    /// <summary>Legacy clone: the whole first register (flags | exit signal byte).</summary>
    public ulong RawFlags;
    /// <summary>clone_args.flags.</summary>
    public ulong Flags;
    /// <summary>clone_args.pidfd (raw value).</summary>
    public ulong Pidfd;
    /// <summary>clone_args.child_tid (raw value).</summary>
    public ulong ChildTid;
    /// <summary>clone_args.parent_tid (raw value).</summary>
    public ulong ParentTid;
    /// <summary>clone_args.exit_signal.</summary>
    public ulong ExitSignal;
    /// <summary>clone_args.stack (lowest address); legacy clone: newsp.</summary>
    public ulong Stack;
    /// <summary>clone_args.stack_size.</summary>
    public ulong StackSize;
    /// <summary>clone_args.tls.</summary>
    public ulong Tls;
    /// <summary>clone_args.set_tid (raw value).</summary>
    public ulong SetTid;
    /// <summary>clone_args.set_tid_size.</summary>
    public ulong SetTidSize;
    /// <summary>clone_args.cgroup (raw value; replaced by the opened fd unless the source is Raw).</summary>
    public ulong Cgroup;
    /// <summary>The set_tid array when <see cref="SetTidKind"/> is Valid (deepest namespace first).</summary>
    public fixed int SetTidValues[SetTidCapacity];
    /// <summary>NUL-terminated UTF-8 cgroup path for the Open* sources. Set with <see cref="SetCgroupPath"/>.</summary>
    public fixed byte CgroupPath[PathCapacity];
    /// <summary>The caller context.</summary>
    public ProbeContext Context;

    /// <summary>
    /// A request for <paramref name="call"/> with nothing unusual: a valid clone3 struct of 88 bytes
    /// (VER2), all readable, no tail byte, raw NULL pointers, raw cgroup 0, exit signal 0, and
    /// <see cref="ProbeContext.Default"/>.
    /// </summary>
    internal static ProbeRequest Create(ProbeCall call) => new()
    {
        Call = call,
        ArgsKind = ProbePointerKind.Valid,
        Size = 88,
        ReadableBytes = 88,
        TailNonzeroAt = -1,
        Context = ProbeContext.Default,
    };

    /// <summary>Sets <see cref="CgroupPath"/>; empty clears it.</summary>
    /// <exception cref="ArgumentException">The path contains NUL or needs more than 255 UTF-8 bytes.</exception>
    internal void SetCgroupPath(string path)
    {
        fixed (byte* buffer = CgroupPath)
            NativeText.Write(path, new Span<byte>(buffer, PathCapacity), nameof(path));
    }

    /// <summary>Reads <see cref="CgroupPath"/> back.</summary>
    internal readonly string GetCgroupPath()
    {
        fixed (byte* buffer = CgroupPath)
            return NativeText.Read(new ReadOnlySpan<byte>(buffer, PathCapacity));
    }

    /// <summary>Copies <paramref name="values"/> into <see cref="SetTidValues"/> (the rest become 0).</summary>
    /// <exception cref="ArgumentException">More than <see cref="SetTidCapacity"/> values.</exception>
    internal void SetSetTidValues(ReadOnlySpan<int> values)
    {
        if (values.Length > SetTidCapacity)
            throw new ArgumentException($"At most {SetTidCapacity} set_tid values fit.", nameof(values));
        fixed (int* buffer = SetTidValues)
        {
            var span = new Span<int>(buffer, SetTidCapacity);
            span.Clear();
            values.CopyTo(span);
        }
    }
}
