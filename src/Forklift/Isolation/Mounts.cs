using System.Globalization;

namespace Forklift.Isolation;

/// <summary>How mount events propagate between the new mount namespace and the caller's (mount_namespaces(7)).</summary>
public enum MountPropagation
{
    /// <summary>
    /// Every mount becomes private (<c>MS_REC|MS_PRIVATE</c>): nothing the child mounts reaches the host and nothing
    /// from the host reaches the child. The default, as for <c>unshare(1)</c> and bubblewrap.
    /// </summary>
    Private,
    /// <summary><c>MS_REC|MS_SLAVE</c>: host mounts still reach the child, the child's never reach the host.</summary>
    Slave,
    /// <summary><c>MS_REC|MS_SHARED</c>: events flow both ways between peer mounts.</summary>
    Shared,
    /// <summary>Leave the copied propagation as it is (the host's shared mounts stay shared with the child).</summary>
    Unchanged,
}

/// <summary>
/// One mount operation the child performs in its new mount namespace, in order (after the propagation change).
/// Paths are as the child sees them; sources of binds are resolved before any mount is made, so a bind of a path
/// that a later tmpfs covers still binds the original.
/// </summary>
public abstract record MountOperation
{
    private protected MountOperation()
    {
    }

    /// <summary>The path the operation changes (its target).</summary>
    public abstract string Target { get; }

    /// <summary>A bind mount of <paramref name="Source"/> (a directory or a file, with everything mounted below it) at <paramref name="Destination"/>.</summary>
    /// <param name="Source">Existing path in the caller's view.</param>
    /// <param name="Destination">Where it appears; must exist (or be creatable on a writable file system).</param>
    /// <param name="ReadOnly">Read-only, with every mount below it (mount_setattr with AT_RECURSIVE).</param>
    public sealed record Bind(string Source, string Destination, bool ReadOnly = false) : MountOperation
    {
        /// <inheritdoc/>
        public override string Target => Destination;

        /// <inheritdoc/>
        public override string ToString() => $"{(ReadOnly ? "ro-bind" : "bind")} {Source} -> {Destination}";
    }

    /// <summary>A new tmpfs at <paramref name="Destination"/>.</summary>
    /// <param name="Destination">The mount point.</param>
    /// <param name="SizeBytes">Its size limit (null: the kernel's default, half of RAM).</param>
    /// <param name="Mode">Permissions of its root (default 1777 for a /tmp).</param>
    public sealed record Tmpfs(string Destination, ulong? SizeBytes = null, int Mode = 0x3ff /* 01777 */) : MountOperation
    {
        /// <inheritdoc/>
        public override string Target => Destination;

        internal string Data => SizeBytes is { } size
            ? string.Create(CultureInfo.InvariantCulture, $"mode={Convert.ToString(Mode, 8)},size={size}")
            : "mode=" + Convert.ToString(Mode, 8);

        /// <inheritdoc/>
        public override string ToString() => $"tmpfs {Destination} ({Data})";
    }

    /// <summary>A fresh procfs at <paramref name="Destination"/>, showing the child's pid namespace.</summary>
    public sealed record Proc(string Destination = "/proc") : MountOperation
    {
        /// <inheritdoc/>
        public override string Target => Destination;

        /// <inheritdoc/>
        public override string ToString() => $"proc {Destination}";
    }

    /// <summary>
    /// A minimal /dev at <paramref name="Destination"/>: a tmpfs holding null, zero, full, random, urandom and tty
    /// (bind mounts of the host's nodes: a user namespace may not mknod devices), a new devpts instance with ptmx,
    /// a tmpfs /dev/shm, and the fd, stdin, stdout, stderr links.
    /// </summary>
    public sealed record Devices(string Destination = "/dev") : MountOperation
    {
        /// <summary>The device nodes bound from the host.</summary>
        public static IReadOnlyList<string> Nodes { get; } = ["null", "zero", "full", "random", "urandom", "tty"];

        /// <inheritdoc/>
        public override string Target => Destination;

        /// <inheritdoc/>
        public override string ToString() => $"dev {Destination}";
    }

    /// <summary>Makes <paramref name="Path"/> (and, by default, everything mounted below it) read-only.</summary>
    public sealed record RemountReadOnly(string Path, bool Recursive = true) : MountOperation
    {
        /// <inheritdoc/>
        public override string Target => Path;

        /// <inheritdoc/>
        public override string ToString() => $"remount-ro {Path}";
    }

    /// <summary>Creates a directory (and its missing parents; existing ones are fine).</summary>
    public sealed record MakeDirectory(string Path, int Mode = 0x1ed /* 0755 */) : MountOperation
    {
        /// <inheritdoc/>
        public override string Target => Path;

        /// <inheritdoc/>
        public override string ToString() => $"mkdir {Path}";
    }
}
