namespace Forklift.Tests.Support;

/// <summary>
/// A fact that runs real system calls needing root (namespaces, cgroups, uid switches): skipped with the reason
/// when the test process is not privileged or a prerequisite is missing.
/// </summary>
public sealed class KernelFactAttribute : FactAttribute
{
    public KernelFactAttribute(bool needsCgroup2 = false)
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux";
        }
        else if (!Environment.IsPrivilegedProcess)
        {
            Skip = "needs root (CAP_SYS_ADMIN and friends): run the suite as root";
        }
        else if (needsCgroup2 && Forklift.Rules.CgroupInspector.UnifiedMountPoint() is null)
        {
            Skip = "needs a mounted cgroup2 hierarchy";
        }
    }
}
