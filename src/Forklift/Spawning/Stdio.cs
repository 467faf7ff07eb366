using System.Runtime.InteropServices;

namespace Forklift.Spawning;

/// <summary>What a child's fd is connected to.</summary>
public enum StdioKind
{
    /// <summary>The child gets the parent's fd of the same number, as it is when the child starts.</summary>
    Inherit,
    /// <summary><c>/dev/null</c>, opened read-write in the child.</summary>
    Null,
    /// <summary>A new pipe; the parent keeps the other end as a <see cref="Stream"/>.</summary>
    Pipe,
    /// <summary>A file opened by the child (after its credentials and working directory are set).</summary>
    File,
    /// <summary>A duplicate of one of the parent's fds.</summary>
    FileDescriptor,
    /// <summary>A duplicate of the fd held by a <see cref="SafeHandle"/> of the parent.</summary>
    Handle,
}

/// <summary>How <see cref="Stdio.File(string, StdioFileMode)"/> opens its file.</summary>
public enum StdioFileMode
{
    /// <summary>Read only (<c>O_RDONLY</c>); the file must exist.</summary>
    Read,
    /// <summary>Write, created with mode 0666 minus the umask if missing, emptied if present (<c>O_WRONLY|O_CREAT|O_TRUNC</c>).</summary>
    Truncate,
    /// <summary>Write at the end, created if missing (<c>O_WRONLY|O_CREAT|O_APPEND</c>).</summary>
    Append,
}

/// <summary>
/// The source of one of a child's fds: its standard input, output or error, or an extra fd
/// (<see cref="Command.WithFileDescriptor"/>). Immutable; build with the static members.
/// </summary>
public sealed class Stdio : IEquatable<Stdio>
{
    private Stdio(StdioKind kind, string? path = null, StdioFileMode mode = StdioFileMode.Read, int fd = -1, SafeHandle? handle = null)
    {
        Kind = kind;
        Path = path;
        FileMode = mode;
        FileDescriptor = fd;
        Handle = handle;
    }

    /// <summary>Inherit the parent's fd of the same number (the default of every standard stream).</summary>
    public static Stdio Inherit { get; } = new(StdioKind.Inherit);

    /// <summary><c>/dev/null</c>: reads see end of file, writes are discarded.</summary>
    public static Stdio Null { get; } = new(StdioKind.Null);

    /// <summary>
    /// A pipe created with <c>pipe2(O_CLOEXEC)</c>: the child gets one end (the read end for standard input, the
    /// write end for output and error), the parent the other as an asynchronous <see cref="Stream"/>
    /// (<see cref="Processes.IChildProcess.StandardInput"/> and friends). Not allowed for extra fds.
    /// </summary>
    public static Stdio Pipe { get; } = new(StdioKind.Pipe);

    /// <summary>A file the child opens before exec. A relative path is made absolute against the caller's current directory.</summary>
    /// <param name="path">The file.</param>
    /// <param name="mode">Read, truncate or append (default: <see cref="StdioFileMode.Truncate"/>).</param>
    public static Stdio File(string path, StdioFileMode mode = StdioFileMode.Truncate)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new(StdioKind.File, path: path, mode: mode);
    }

    /// <summary>A duplicate of the parent's fd <paramref name="fd"/> (which must stay open until the start returns).</summary>
    public static Stdio FromFileDescriptor(int fd) => new(StdioKind.FileDescriptor, fd: fd);

    /// <summary>
    /// A duplicate of the fd a handle holds (a <c>SafeFileHandle</c>, <c>SafePipeHandle</c>, <c>SafeSocketHandle</c>...);
    /// the handle is kept alive for the duration of the start and may be disposed afterwards.
    /// </summary>
    public static Stdio FromHandle(SafeHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return new(StdioKind.Handle, handle: handle);
    }

    /// <summary>What the fd is connected to.</summary>
    public StdioKind Kind { get; }

    /// <summary>The file's path, for <see cref="StdioKind.File"/>; null otherwise.</summary>
    public string? Path { get; }

    /// <summary>How the file is opened, for <see cref="StdioKind.File"/>.</summary>
    public StdioFileMode FileMode { get; }

    /// <summary>The parent's fd, for <see cref="StdioKind.FileDescriptor"/>; -1 otherwise.</summary>
    public int FileDescriptor { get; }

    /// <summary>The handle, for <see cref="StdioKind.Handle"/>; null otherwise.</summary>
    public SafeHandle? Handle { get; }

    /// <inheritdoc/>
    public bool Equals(Stdio? other) =>
        other is not null && Kind == other.Kind && Path == other.Path && FileMode == other.FileMode
        && FileDescriptor == other.FileDescriptor && ReferenceEquals(Handle, other.Handle);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Stdio);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, Path, FileMode, FileDescriptor, Handle);

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        StdioKind.File => $"File({Path}, {FileMode})",
        StdioKind.FileDescriptor => $"FileDescriptor({FileDescriptor})",
        StdioKind.Handle => $"Handle({Handle!.DangerousGetHandle()})",
        _ => Kind.ToString(),
    };
}
