using System.Collections.Immutable;
using Forklift.Spawning;

namespace Forklift.Isolation;

/// <summary>Options of <see cref="Sandbox"/>: what to share with the host and what to keep.</summary>
public sealed record SandboxOptions
{
    /// <summary>Keep the host's network namespace (default: a new one with only loopback, up).</summary>
    public bool ShareNetwork { get; init; }

    /// <summary>Directories or files bound writable: (source on the host, destination inside).</summary>
    public ImmutableArray<(string Source, string Destination)> Binds { get; init; } = [];

    /// <summary>Directories or files bound read-only.</summary>
    public ImmutableArray<(string Source, string Destination)> ReadOnlyBinds { get; init; } = [];

    /// <summary>Extra tmpfs mounts (destination, size or null).</summary>
    public ImmutableArray<(string Destination, ulong? SizeBytes)> Tmpfs { get; init; } = [];

    /// <summary>Size limit of the private /tmp (null: the kernel's default, half of RAM).</summary>
    public ulong? TmpSizeBytes { get; init; }

    /// <summary>The hostname inside.</summary>
    public string Hostname { get; init; } = "forklift";

    /// <summary>Capabilities the program keeps (default: none).</summary>
    public CapabilityPolicy Capabilities { get; init; } = CapabilityPolicy.None;

    /// <summary>Run the program itself as pid 1 instead of under forklift-init.</summary>
    public bool ProgramIsPid1 { get; init; }

    /// <summary>Also a new cgroup namespace (default true).</summary>
    public bool NewCgroupNamespace { get; init; } = true;

    /// <summary>The signal the whole sandbox gets when the spawning .NET process dies (default SIGKILL).</summary>
    public int ParentDeathSignal { get; init; } = 9;

    /// <summary>
    /// The control group the sandbox starts in, with its limits (null: the caller's groups). The caller owns it:
    /// <see cref="ControlGroup.Kill"/> ends everything in the sandbox, disposing it removes the group.
    /// </summary>
    public ControlGroup? Cgroup { get; init; }
}

/// <summary>
/// The sandbox preset: new user, pid, mount, UTS, IPC, network and cgroup namespaces; root inside mapped to the
/// caller outside; a read-only view of the host's <c>/</c> with a private <c>/tmp</c>, a fresh <c>/proc</c> and a
/// minimal <c>/dev</c>; a hostname; loopback only; no_new_privs; every capability dropped before the program
/// starts; the program under forklift-init, the whole namespace killed when the spawning process dies. Works for
/// root and for unprivileged users (where the kernel allows unprivileged user namespaces).
/// </summary>
public static class Sandbox
{
    /// <summary>The isolation the preset uses for a caller with effective ids <paramref name="uid"/>/<paramref name="gid"/>.</summary>
    public static Isolation Isolation(SandboxOptions? options, uint uid, uint gid)
    {
        options ??= new SandboxOptions();
        var kinds = Namespaces.User | Namespaces.Pid | Namespaces.Mount | Namespaces.Uts | Namespaces.Ipc
                    | (options.ShareNetwork ? 0 : Namespaces.Net) | (options.NewCgroupNamespace ? Namespaces.Cgroup : 0);
        var mounts = ImmutableArray.CreateBuilder<MountOperation>();
        // /tmp first, so binds may land inside it; then the binds; /proc and /dev last, so no bind covers them
        mounts.Add(new MountOperation.Tmpfs("/tmp", options.TmpSizeBytes));
        foreach (var (dst, size) in options.Tmpfs)
            mounts.Add(new MountOperation.Tmpfs(dst, size));
        foreach (var (src, dst) in options.Binds)
            mounts.Add(new MountOperation.Bind(Path.GetFullPath(src), dst));
        foreach (var (src, dst) in options.ReadOnlyBinds)
            mounts.Add(new MountOperation.Bind(Path.GetFullPath(src), dst, ReadOnly: true));
        mounts.Add(new MountOperation.Proc());
        mounts.Add(new MountOperation.Devices());
        return new Isolation
        {
            NewNamespaces = kinds,
            UserMapping = UserNamespaceMapping.RootToCaller(uid, gid),
            ReadOnlyRoot = true,
            Mounts = mounts.ToImmutable(),
            Hostname = options.Hostname,
            Capabilities = options.Capabilities,
            ProgramIsPid1 = options.ProgramIsPid1,
        };
    }

    /// <summary>Puts <paramref name="command"/> in the sandbox (replacing its isolation).</summary>
    public static Command Apply(Command command, SandboxOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        options ??= new SandboxOptions();
        if (options.Cgroup is not null)
            command = command.WithCgroup(options.Cgroup);
        return command
            .WithIsolation(Isolation(options, HostFacts.EffectiveUserId(), HostFacts.EffectiveGroupId()))
            .WithNoNewPrivileges()
            .WithParentDeathSignal(options.ParentDeathSignal);
    }
}
