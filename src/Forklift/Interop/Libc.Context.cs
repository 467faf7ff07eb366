using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// libc calls used to read the caller's context (Forklift.Rules.CallerContextReader, CgroupInspector).
/// Each returns -1 and sets errno on failure (SetLastError), like the C calls.
/// </summary>
internal static partial class LibcContext
{
    /// <summary>prctl(2) option PR_GET_CHILD_SUBREAPER.</summary>
    public const int PrGetChildSubreaper = 37;

    /// <summary>access(2) mode W_OK.</summary>
    public const int WOk = 2;

    /// <summary>prctl(option, int *out): the integer-result form.</summary>
    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int PrctlGetInt(int option, out int value, ulong arg3 = 0, ulong arg4 = 0, ulong arg5 = 0);

    /// <summary>access(2).</summary>
    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Access(string path, int mode);

    /// <summary>stat(2) into a raw buffer (x86-64 struct stat is 144 bytes: st_dev at 0, st_ino at 8).</summary>
    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* buffer);

    /// <summary>The (device, inode) pair of a path, or null when it cannot be stat'ed.</summary>
    public static unsafe (ulong Dev, ulong Ino)? DevIno(string path)
    {
        byte* buf = stackalloc byte[256];
        if (Stat(path, buf) != 0)
        {
            return null;
        }
        return (*(ulong*)buf, *(ulong*)(buf + 8));
    }
}
