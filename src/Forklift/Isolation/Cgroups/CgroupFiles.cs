using System.Runtime.InteropServices;
using System.Text;
using Forklift.Interop;
using Microsoft.Win32.SafeHandles;

namespace Forklift.Isolation;

/// <summary>
/// Every file-system and process call cgroup management makes: directories, whole-file reads and writes of cgroup
/// interface files, the directory fd for <c>CLONE_INTO_CGROUP</c>, and kill(2). Each returns 0 (or a count) on
/// success and -errno on failure; the layer above throws with the step, the path and advice. Injected, never picked
/// by ambient state: <see cref="LinuxCgroupFiles.Instance"/> in production, a recording fake in unit tests.
/// </summary>
internal interface ICgroupFiles
{
    /// <summary>mkdir(path, 0755): 0 or -errno (EEXIST included).</summary>
    int MakeDirectory(string path);

    /// <summary>rmdir(path): 0 or -errno.</summary>
    int RemoveDirectory(string path);

    /// <summary>
    /// Writes <paramref name="text"/> with one write(2) (kernfs takes each write as one command; a value split
    /// over two writes would be two commands): 0 or -errno (EIO for a short write).
    /// </summary>
    int Write(string path, string text);

    /// <summary>Reads the whole file: 0 and its text, or -errno and null.</summary>
    int Read(string path, out string? text);

    /// <summary>open(path, O_RDONLY|O_DIRECTORY|O_CLOEXEC): 0 and the owned handle, or -errno.</summary>
    int OpenDirectory(string path, out SafeFileHandle? handle);

    /// <summary>pidfd_open(pid, 0): the pidfd (O_CLOEXEC) or -errno (ESRCH: gone).</summary>
    int PidfdOpen(int pid);

    /// <summary>pidfd_send_signal(pidfd, signal, NULL, 0): 0 or -errno (ESRCH: the process has been reaped).</summary>
    int PidfdSendSignal(int pidfd, int signal);

    /// <summary>close(2).</summary>
    void Close(int fd);

    /// <summary>The subdirectories of <paramref name="path"/> (full paths); none when it cannot be listed.</summary>
    IReadOnlyList<string> Subdirectories(string path);

    /// <summary>Whether <paramref name="path"/> exists (a file or a directory).</summary>
    bool Exists(string path);

    /// <summary>Sleeps (the waits of a kill and of a removal; a fake returns at once).</summary>
    void Pause(TimeSpan delay);
}

/// <summary>The real <see cref="ICgroupFiles"/>: libc.</summary>
internal sealed unsafe class LinuxCgroupFiles : ICgroupFiles
{
    /// <summary>The one instance (the class has no state).</summary>
    public static LinuxCgroupFiles Instance { get; } = new();

    private LinuxCgroupFiles()
    {
    }

    private static int Errno() => -Marshal.GetLastPInvokeError();

    public int MakeDirectory(string path) => LibcCgroup.Mkdir(path, 0x1ed /* 0755 */) < 0 ? Errno() : 0;

    public int RemoveDirectory(string path) => LibcCgroup.Rmdir(path) < 0 ? Errno() : 0;

    public int Write(string path, string text)
    {
        int fd = LibcCgroup.Open(path, LibcCgroup.OWrOnly | LibcCgroup.OCloexec);
        if (fd < 0)
            return Errno();
        try
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            nint n;
            fixed (byte* p = bytes)
            {
                do
                    n = LibcFd.Write(fd, p, (nuint)bytes.Length);
                while (n < 0 && Marshal.GetLastPInvokeError() == (int)Abi.Errno.EINTR);
            }
            if (n < 0)
                return Errno();
            return n == bytes.Length ? 0 : -(int)Abi.Errno.EIO;
        }
        finally
        {
            LibcFd.Close(fd);
        }
    }

    public int Read(string path, out string? text)
    {
        text = null;
        int fd = LibcCgroup.Open(path, LibcCgroup.ORdOnly | LibcCgroup.OCloexec);
        if (fd < 0)
            return Errno();
        try
        {
            // Interface files are small (a number, a few lines); cgroup.procs grows with the group, so read to EOF.
            byte[] buffer = new byte[4096];
            int used = 0;
            for (;;)
            {
                if (used == buffer.Length)
                    Array.Resize(ref buffer, buffer.Length * 2);
                nint n;
                fixed (byte* p = &buffer[used])
                    n = LibcFd.Read(fd, p, (nuint)(buffer.Length - used));
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == (int)Abi.Errno.EINTR)
                        continue;
                    return Errno();
                }
                if (n == 0)
                    break;
                used += (int)n;
            }
            text = Encoding.UTF8.GetString(buffer, 0, used);
            return 0;
        }
        finally
        {
            LibcFd.Close(fd);
        }
    }

    public int OpenDirectory(string path, out SafeFileHandle? handle)
    {
        int fd = LibcCgroup.Open(path, LibcCgroup.ORdOnly | LibcCgroup.ODirectory | LibcCgroup.OCloexec);
        if (fd < 0)
        {
            handle = null;
            return Errno();
        }
        handle = new SafeFileHandle(fd, ownsHandle: true);
        return 0;
    }

    public int PidfdOpen(int pid)
    {
        long fd = LibcCgroup.Syscall(LibcCgroup.SysPidfdOpen, pid, 0, 0, 0);
        return fd < 0 ? Errno() : (int)fd;
    }

    public int PidfdSendSignal(int pidfd, int signal) =>
        LibcCgroup.Syscall(LibcCgroup.SysPidfdSendSignal, pidfd, signal, 0, 0) < 0 ? Errno() : 0;

    public void Close(int fd) => LibcFd.Close(fd);

    public IReadOnlyList<string> Subdirectories(string path)
    {
        try
        {
            return Directory.GetDirectories(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public bool Exists(string path) => Path.Exists(path);

    public void Pause(TimeSpan delay) => Thread.Sleep(delay);
}
