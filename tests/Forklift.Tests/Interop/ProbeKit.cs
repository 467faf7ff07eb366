using Forklift.Interop;
using Xunit;

namespace Forklift.Tests.Interop;

/// <summary>Kernel constants under their C names, so the probe tests read like CLONE_RULES.md.</summary>
internal static class K
{
    public const ulong CLONE_NEWTIME = 0x80, CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400,
        CLONE_SIGHAND = 0x800, CLONE_PIDFD = 0x1000, CLONE_VFORK = 0x4000, CLONE_PARENT = 0x8000,
        CLONE_THREAD = 0x10000, CLONE_NEWNS = 0x20000, CLONE_PARENT_SETTID = 0x100000,
        CLONE_CHILD_CLEARTID = 0x200000, CLONE_NEWUTS = 0x4000000, CLONE_NEWUSER = 0x10000000,
        CLONE_NEWPID = 0x20000000, CLONE_INTO_CGROUP = 0x200000000;

    public const int SIGKILL = 9, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19;

    public const int EPERM = 1, ENOENT = 2, E2BIG = 7, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EFAULT = 14,
        EINVAL = 22, ENOSPC = 28;

    /// <summary>Index of uts in <see cref="ProbeContext.NsLimits"/> (user, mnt, uts, ipc, pid, cgroup, net, time).</summary>
    public const int NsLimitUts = 2;
}

/// <summary>Request builders and assertions shared by the probe specs.</summary>
internal static class Probe
{
    /// <summary>clone3 with a valid struct of <paramref name="size"/> bytes, all readable.</summary>
    public static ProbeRequest Clone3(ulong flags, ulong exitSignal = K.SIGCHLD, ulong size = 88)
    {
        var request = ProbeRequest.Create(ProbeCall.Clone3);
        request.Flags = flags;
        request.ExitSignal = exitSignal;
        request.Size = size;
        request.ReadableBytes = (uint)Math.Min(size, ProbeRequest.MaxReadableBytes);
        return request;
    }

    /// <summary>Legacy clone with the whole first register (flags | exit signal byte).</summary>
    public static ProbeRequest LegacyClone(ulong rawFlags)
    {
        var request = ProbeRequest.Create(ProbeCall.Clone);
        request.RawFlags = rawFlags;
        return request;
    }

    public static ProbeRequest Fork() => ProbeRequest.Create(ProbeCall.Fork);

    public static ProbeResult Run(ProbeRequest request) => NativeProbe.Run(in request);

    /// <summary>The call created a child (pid &gt; 0).</summary>
    public static void Succeeded(ProbeResult result) =>
        Assert.True(result.Succeeded, $"expected success, got {result}");

    /// <summary>The call itself returned -<paramref name="errno"/>.</summary>
    public static void Failed(int errno, ProbeResult result) =>
        Assert.True(result.Outcome == ProbeOutcome.Returned && result.Ret == -errno && result.Err == errno,
            $"expected errno {errno}, got {result}");

    /// <summary>The created child was reaped and had exited with status 0.</summary>
    public static void ChildExitedCleanly(ProbeResult result) =>
        Assert.True(result.ChildStatus == 0, $"expected child status 0 (exited 0), got {result}");
}

/// <summary>A fact that needs uid 0 with the capabilities the probe's contexts use.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
            Skip = "The clone probe needs Linux.";
        else if (!Environment.IsPrivilegedProcess)
            Skip = "Needs root: the context steps switch uids, create namespaces and chroot.";
    }
}

/// <summary>A fact that needs root and a cgroup2 hierarchy at <see cref="CgroupFs.Root"/>.</summary>
public sealed class CgroupFactAttribute : FactAttribute
{
    public CgroupFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
            Skip = "Needs root on Linux to create cgroups.";
        else if (!File.Exists(Path.Combine(CgroupFs.Root, "cgroup.procs")) ||
                 !File.Exists(Path.Combine(CgroupFs.Root, "cgroup.subtree_control")))
            Skip = $"No cgroup2 hierarchy at {CgroupFs.Root} (the hybrid layout of this machine class).";
    }
}

/// <summary>Scratch cgroups for one test: unique names, removed in Dispose.</summary>
internal sealed class CgroupFs : IDisposable
{
    public const string Root = "/sys/fs/cgroup/unified";
    private readonly List<string> _created = [];

    /// <summary>Creates a fresh, uniquely named cgroup2 directory and returns its path.</summary>
    public string Create()
    {
        var path = Path.Combine(Root, $"forklift-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        _created.Add(path);
        return path;
    }

    public void Dispose()
    {
        foreach (var path in _created)
        {
            // rmdir(2) semantics: cgroup directories hold only virtual files. A just-reaped member may keep
            // the cgroup populated for a moment, hence the short retry.
            for (var attempt = 0; Directory.Exists(path); attempt++)
            {
                try
                {
                    Directory.Delete(path);
                }
                catch (IOException) when (attempt < 50)
                {
                    Thread.Sleep(20);
                }
            }
        }
    }
}
