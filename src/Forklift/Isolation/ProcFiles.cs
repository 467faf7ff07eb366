using System.Runtime.InteropServices;
using System.Text;
using Forklift.Abi;
using Forklift.Interop;

namespace Forklift.Isolation;

/// <summary>
/// A failure of the parent's own work between clone and exec (writing id maps, opening a namespace file): the step,
/// the errno, the object and advice. <see cref="Processes.ProcessLauncher"/> turns it into a
/// <see cref="SpawnException"/> once the waiting child has been told to give up and has been reaped.
/// </summary>
internal sealed class ParentStepException(string step, Errno errno, string? obj, string? hint)
    : Exception($"{step}: {ErrnoInfo.Name(errno)}")
{
    public string Step { get; } = step;
    public Errno Errno { get; } = errno;
    public string? Object { get; } = obj;
    public string? Hint { get; } = hint;
}

/// <summary>Opens and writes procfs and namespace files from the parent with plain system calls, errno kept.</summary>
internal static unsafe class ProcFiles
{
    private const int OWrOnly = 1, ORdOnly = 0, OCloexec = 0x80000;

    /// <summary>open(2) with a mode; returns the fd or -errno.</summary>
    public static int Open(string path, int flags, int mode)
    {
        int fd = LibcFd.Open(path, flags, mode);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>Opens <paramref name="path"/> read-only and close-on-exec; returns the fd or -errno.</summary>
    public static int OpenReadOnly(string path)
    {
        int fd = LibcCgroup.Open(path, ORdOnly | OCloexec);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>Closes an fd made by <see cref="OpenReadOnly"/>.</summary>
    public static void CloseFd(int fd) => LibcFd.Close(fd);

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> in one write(2) at offset 0.</summary>
    /// <exception cref="ParentStepException">open or write failed.</exception>
    public static void Write(string path, string text, string step)
    {
        int fd = LibcCgroup.Open(path, OWrOnly | OCloexec);
        if (fd < 0)
        {
            var e = (Errno)Marshal.GetLastPInvokeError();
            throw new ParentStepException(step, e, path, Hint(step, e));
        }
        try
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            fixed (byte* p = bytes)
            {
                nint n = LibcFd.Write(fd, p, (nuint)bytes.Length);
                if (n < 0)
                {
                    var e = (Errno)Marshal.GetLastPInvokeError();
                    throw new ParentStepException(step, e, $"{path}: \"{text.TrimEnd('\n').Replace("\n", "\\n", StringComparison.Ordinal)}\"", Hint(step, e));
                }
            }
        }
        finally
        {
            LibcFd.Close(fd);
        }
    }

    private static string? Hint(string step, Errno e) => (step, e) switch
    {
        ("uid_map" or "gid_map", Errno.EPERM) =>
            "The kernel refused the map: mapping ids other than your own needs CAP_SETUID/CAP_SETGID over the parent user namespace, a gid map written without privilege needs setgroups denied, and a map can be written only once.",
        ("uid_map" or "gid_map", Errno.EINVAL) =>
            "A malformed map: overlapping ranges, more than 340 lines, or a count that runs past the id space.",
        _ => null,
    };
}
