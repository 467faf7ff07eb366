using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// Mirror of <c>fl_context</c> (384 bytes): the caller context the probe's throwaway process puts itself
/// into before the call. The steps run in the header's order (see <see cref="ProbeSetupStep"/>).
/// The zero value is not "keep everything" (uid 0, rlimit 0 would be applied): start from <see cref="Default"/>.
/// Integer flags are 0/1 ints to keep the struct blittable.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ProbeContext
{
    /// <summary>Length of <see cref="ChrootPath"/> in bytes, the terminating NUL included.</summary>
    internal const int PathCapacity = 256;

    /// <summary>Number of <see cref="NsLimits"/> entries (<c>FL_NS_LIMIT_COUNT</c>).</summary>
    internal const int NsLimitCount = 8;

    /// <summary>The user namespace entered after the nested ones.</summary>
    public ProbeUserNsMode UserNsMode;
    /// <summary>Mapped user namespaces to nest first (0..40).</summary>
    public int UserNsNesting;
    /// <summary>Pid namespaces to nest first (0..40); the caller is pid 1 of the deepest.</summary>
    public int PidNsNesting;
    /// <summary>1: become pid 1 of a new pid namespace (after the user namespaces).</summary>
    public int AsInit;
    /// <summary>1: unshare(CLONE_NEWPID) and let that namespace's init exit (forks then fail: ENOMEM).</summary>
    public int PidNsInitExited;
    /// <summary>1: unshare(CLONE_NEWPID) only.</summary>
    public int UnsharePid;
    /// <summary>1: unshare(CLONE_NEWTIME).</summary>
    public int UnshareTime;
    /// <summary>1: PR_SET_CHILD_SUBREAPER.</summary>
    public int Subreaper;
    /// <summary>1: SCHED_DEADLINE (2 ms every 100 ms).</summary>
    public int SchedDeadline;
    /// <summary>1: apply <see cref="Caps"/> as effective and permitted set after the uid switch.</summary>
    public int SetCaps;
    /// <summary>Uid to switch to; -1 keeps it.</summary>
    public int Uid;
    /// <summary>Gid to switch to; -1 keeps it.</summary>
    public int Gid;
    /// <summary>RLIMIT_NPROC soft and hard; -1 keeps it.</summary>
    public long RlimitNproc;
    /// <summary>Capability mask (bit n = capability n), used when <see cref="SetCaps"/> is 1.</summary>
    public ulong Caps;
    /// <summary>max_{user,mnt,uts,ipc,pid,cgroup,net,time}_namespaces of the current user namespace; -1 keeps.
    /// Only set them inside a user namespace of the probe's own (<see cref="ProbeUserNsMode.Mapped"/>):
    /// at the top level they are the host's global limits.</summary>
    public fixed long NsLimits[NsLimitCount];
    /// <summary>NUL-terminated UTF-8 path to chroot into; empty: no chroot. Set with <see cref="SetChrootPath"/>.</summary>
    public fixed byte ChrootPath[PathCapacity];

    /// <summary>A context that changes nothing: every "keep" field at -1.</summary>
    internal static ProbeContext Default
    {
        get
        {
            var context = new ProbeContext { Uid = -1, Gid = -1, RlimitNproc = -1 };
            for (var i = 0; i < NsLimitCount; i++)
                context.NsLimits[i] = -1;
            return context;
        }
    }

    /// <summary>Sets <see cref="ChrootPath"/>; empty clears it.</summary>
    /// <exception cref="ArgumentException">The path contains NUL or needs more than 255 UTF-8 bytes.</exception>
    internal void SetChrootPath(string path)
    {
        fixed (byte* buffer = ChrootPath)
            NativeText.Write(path, new Span<byte>(buffer, PathCapacity), nameof(path));
    }

    /// <summary>Reads <see cref="ChrootPath"/> back.</summary>
    internal readonly string GetChrootPath()
    {
        fixed (byte* buffer = ChrootPath)
            return NativeText.Read(new ReadOnlySpan<byte>(buffer, PathCapacity));
    }
}
