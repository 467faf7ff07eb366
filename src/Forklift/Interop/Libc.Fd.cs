using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>
/// fd calls the spawner makes in the parent: close, read, write, poll, fcntl, getppid. Each returns -1 and sets
/// errno (SetLastError) like the C call; <see cref="LinuxSystemCalls"/> turns that into -errno.
/// </summary>
internal static unsafe partial class LibcFd
{
    /// <summary>fcntl(2) F_GETFL.</summary>
    public const int FGetFl = 3;

    /// <summary>fcntl(2) F_SETFL.</summary>
    public const int FSetFl = 4;

    /// <summary>O_NONBLOCK.</summary>
    public const int ONonBlock = 0x800;

    /// <summary>poll(2) POLLIN.</summary>
    public const short PollIn = 0x1;

    /// <summary>poll(2) POLLOUT.</summary>
    public const short PollOut = 0x4;

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>open(2) with a mode (for O_CREAT).</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    /// <summary>close(2). Never retried on EINTR: on Linux the fd is released whatever close returns.</summary>
    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>read(2).</summary>
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    /// <summary>write(2).</summary>
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    /// <summary>poll(2).</summary>
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    /// <summary>fcntl(2) with an int argument.</summary>
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command, int argument);

    /// <summary>getppid(2): never fails.</summary>
    [LibraryImport("libc", EntryPoint = "getppid")]
    public static partial int GetParentPid();
}
