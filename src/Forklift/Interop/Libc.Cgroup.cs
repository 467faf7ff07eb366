using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// The libc calls cgroup management makes from the parent (Forklift.Isolation.ControlGroup): directories, whole-file
/// reads and writes of cgroup interface files, and the pidfd calls of the kill sweep. Each returns -1 and sets errno
/// (SetLastError) like the C call; <see cref="Isolation.LinuxCgroupFiles"/> turns that into -errno.
/// </summary>
internal static partial class LibcCgroup
{
    /// <summary>O_RDONLY.</summary>
    public const int ORdOnly = 0;

    /// <summary>O_WRONLY.</summary>
    public const int OWrOnly = 1;

    /// <summary>O_DIRECTORY.</summary>
    public const int ODirectory = 0x10000;

    /// <summary>O_CLOEXEC: no fd made here may leak into a child another thread spawns meanwhile.</summary>
    public const int OCloexec = 0x80000;

    /// <summary>mkdir(2).</summary>
    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdir(string path, uint mode);

    /// <summary>rmdir(2).</summary>
    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rmdir(string path);

    /// <summary>open(2) without O_CREAT (no mode).</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    /// <summary>__NR_pidfd_open on x86-64 (5.3+).</summary>
    public const long SysPidfdOpen = 434;

    /// <summary>__NR_pidfd_send_signal on x86-64 (5.1+).</summary>
    public const long SysPidfdSendSignal = 424;

    /// <summary>
    /// syscall(2) with up to four integer arguments: for pidfd_open and pidfd_send_signal, which glibc wraps only
    /// from 2.36. (x86-64 passes integer arguments of a variadic call in the same registers; glibc's syscall is
    /// assembly that reads no vector-register count.)
    /// </summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a1, long a2, long a3, long a4);
}
