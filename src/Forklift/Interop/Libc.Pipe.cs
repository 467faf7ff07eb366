using System.Runtime.InteropServices;

namespace Forklift.Interop;

/// <summary>pipe2(2), for the stdio pipes the spawner creates in the parent.</summary>
internal static unsafe partial class LibcPipe
{
    /// <summary>O_CLOEXEC: no pipe end may leak into a child that another thread spawns meanwhile.</summary>
    public const int OCloexec = 0x80000;

    /// <summary>pipe2(fds, flags): fds[0] is the read end, fds[1] the write end. -1 and errno on failure.</summary>
    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    public static partial int Pipe2(int* fds, int flags);
}
