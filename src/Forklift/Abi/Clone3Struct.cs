using System.Buffers.Binary;
using System.Collections.Immutable;

namespace Forklift.Abi;

/// <summary>
/// Encodes and decodes <c>struct clone_args</c> (include/uapi/linux/sched.h): eleven little-endian
/// <c>__aligned_u64</c> fields. The kernel reads <c>min(size, 88)</c> bytes, treats fields past <c>size</c> as
/// zero, and requires every byte in <c>[88, size)</c> to be zero (<c>copy_struct_from_user</c>).
/// </summary>
public static class Clone3Struct
{
    /// <summary><c>CLONE_ARGS_SIZE_VER0</c>: flags .. tls.</summary>
    public const int SizeVer0 = 64;
    /// <summary><c>CLONE_ARGS_SIZE_VER1</c>: adds set_tid, set_tid_size (5.5).</summary>
    public const int SizeVer1 = 80;
    /// <summary><c>CLONE_ARGS_SIZE_VER2</c>: adds cgroup (5.7); <c>sizeof(struct clone_args)</c> on 6.18.</summary>
    public const int SizeVer2 = 88;
    /// <summary>The largest size the kernel accepts (<c>PAGE_SIZE</c>); larger is E2BIG.</summary>
    public const int MaxSize = 4096;

    /// <summary>Field offsets, in kernel order.</summary>
    public const int FlagsOffset = 0, PidfdOffset = 8, ChildTidOffset = 16, ParentTidOffset = 24, ExitSignalOffset = 32,
        StackOffset = 40, StackSizeOffset = 48, TlsOffset = 56, SetTidOffset = 64, SetTidSizeOffset = 72, CgroupOffset = 80;

    /// <summary>
    /// The smallest size that holds what <paramref name="args"/> uses: <see cref="SizeVer2"/> with
    /// CLONE_INTO_CGROUP (the kernel requires it for that flag), <see cref="SizeVer1"/> with set_tid, else
    /// <see cref="SizeVer0"/>. At that size the kernel sees the same request as at 88 (what is left out is read as
    /// zero, and the cgroup field means nothing without the flag). The native stage passes this size.
    /// </summary>
    public static int SmallestSize(in CloneArgs args) =>
        (args.Flags & CloneFlags.IntoCgroup) != 0 ? SizeVer2 : args.SetTid != 0 || args.SetTidSize != 0 ? SizeVer1 : SizeVer0;

    /// <summary>
    /// Writes the struct for <paramref name="size"/> bytes: fields that start at or past <paramref name="size"/>
    /// are left out (the kernel reads them as zero), a field cut by <paramref name="size"/> keeps its first bytes,
    /// and bytes past 88 are zero.
    /// </summary>
    public static byte[] Encode(in CloneArgs args, int size = SizeVer2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var full = new byte[Math.Max(size, SizeVer2)];
        Span<byte> s = full;
        BinaryPrimitives.WriteUInt64LittleEndian(s[FlagsOffset..], (ulong)args.Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(s[PidfdOffset..], args.Pidfd);
        BinaryPrimitives.WriteUInt64LittleEndian(s[ChildTidOffset..], args.ChildTid);
        BinaryPrimitives.WriteUInt64LittleEndian(s[ParentTidOffset..], args.ParentTid);
        BinaryPrimitives.WriteUInt64LittleEndian(s[ExitSignalOffset..], args.ExitSignal);
        BinaryPrimitives.WriteUInt64LittleEndian(s[StackOffset..], args.Stack);
        BinaryPrimitives.WriteUInt64LittleEndian(s[StackSizeOffset..], args.StackSize);
        BinaryPrimitives.WriteUInt64LittleEndian(s[TlsOffset..], args.Tls);
        BinaryPrimitives.WriteUInt64LittleEndian(s[SetTidOffset..], args.SetTid);
        BinaryPrimitives.WriteUInt64LittleEndian(s[SetTidSizeOffset..], args.SetTidSize);
        BinaryPrimitives.WriteUInt64LittleEndian(s[CgroupOffset..], args.Cgroup);
        return size == full.Length ? full : full[..size];
    }

    /// <summary>
    /// Decodes struct bytes as the kernel does (<c>copy_clone_args_from_user</c>, first half): the byte count is
    /// the <c>size</c> argument. Returns <see cref="Errno.None"/> and the fields, or E2BIG (size over a page, or a
    /// non-zero byte past 88) or EINVAL (size under 64). set_tid values are not in the struct and stay empty.
    /// </summary>
    public static Errno Decode(ReadOnlySpan<byte> bytes, out CloneArgs args)
    {
        args = default;
        if (bytes.Length > MaxSize)
        {
            return Errno.E2BIG;
        }
        if (bytes.Length < SizeVer0)
        {
            return Errno.EINVAL;
        }
        if (bytes.Length > SizeVer2 && bytes[SizeVer2..].IndexOfAnyExcept((byte)0) >= 0)
        {
            return Errno.E2BIG;
        }
        Span<byte> k = stackalloc byte[SizeVer2];
        k.Clear();
        bytes[..Math.Min(bytes.Length, SizeVer2)].CopyTo(k);
        args = new CloneArgs
        {
            Flags = (CloneFlags)BinaryPrimitives.ReadUInt64LittleEndian(k[FlagsOffset..]),
            Pidfd = BinaryPrimitives.ReadUInt64LittleEndian(k[PidfdOffset..]),
            ChildTid = BinaryPrimitives.ReadUInt64LittleEndian(k[ChildTidOffset..]),
            ParentTid = BinaryPrimitives.ReadUInt64LittleEndian(k[ParentTidOffset..]),
            ExitSignal = BinaryPrimitives.ReadUInt64LittleEndian(k[ExitSignalOffset..]),
            Stack = BinaryPrimitives.ReadUInt64LittleEndian(k[StackOffset..]),
            StackSize = BinaryPrimitives.ReadUInt64LittleEndian(k[StackSizeOffset..]),
            Tls = BinaryPrimitives.ReadUInt64LittleEndian(k[TlsOffset..]),
            SetTid = BinaryPrimitives.ReadUInt64LittleEndian(k[SetTidOffset..]),
            SetTidSize = BinaryPrimitives.ReadUInt64LittleEndian(k[SetTidSizeOffset..]),
            Cgroup = BinaryPrimitives.ReadUInt64LittleEndian(k[CgroupOffset..]),
            SetTidValues = ImmutableArray<int>.Empty,
        };
        return Errno.None;
    }

    /// <summary>
    /// The args the kernel sees when only <paramref name="size"/> bytes are passed: every byte at or past
    /// <paramref name="size"/> reads as zero (a field cut in the middle keeps its low bytes).
    /// </summary>
    public static CloneArgs Truncate(in CloneArgs args, ulong size)
    {
        if (size >= SizeVer2)
        {
            return args;
        }
        var bytes = Encode(args, SizeVer2);
        Array.Clear(bytes, (int)Math.Min(size, SizeVer2), SizeVer2 - (int)Math.Min(size, SizeVer2));
        Decode(bytes, out var cut);
        return cut with { SetTidValues = args.SetTidValues };
    }
}
