using System.Collections.Immutable;

namespace Forklift.Isolation;

/// <summary>
/// What isolates a command's process: new namespaces (created by the clone itself), namespaces to join, the id maps
/// of a new user namespace, the mount operations of a new mount namespace, hostname, loopback, clock offsets,
/// capabilities, and whether the program runs under Forklift's init in a new pid namespace. Immutable; attach it
/// with <see cref="Spawning.Command.WithIsolation(Isolation)"/>. <c>Sandbox</c> builds a complete one.
/// </summary>
public sealed record Isolation
{
    /// <summary>No isolation: the child shares every namespace of the caller.</summary>
    public static Isolation None { get; } = new();

    /// <summary>Namespaces the clone creates.</summary>
    public Namespaces NewNamespaces { get; init; }

    /// <summary>Existing namespaces the child enters first (the user namespace before the others).</summary>
    public ImmutableArray<NamespaceJoin> Joins { get; init; } = [];

    /// <summary>Id maps of the new user namespace (null: none written; the child is then nobody inside).</summary>
    public UserNamespaceMapping? UserMapping { get; init; }

    /// <summary>
    /// With a new pid namespace: true runs the program itself as pid 1; false (the default) runs it under Forklift's
    /// init (forklift-init), which forwards signals to it, reaps orphans and exits with its status (128+N when signal
    /// N ended it). A program as pid 1 gets no signal it installed no handler for, not even SIGTERM.
    /// </summary>
    public bool ProgramIsPid1 { get; init; }

    /// <summary>How mounts propagate between the new mount namespace and the caller's.</summary>
    public MountPropagation Propagation { get; init; } = MountPropagation.Private;

    /// <summary>Makes the whole copied tree read-only (recursively) before <see cref="Mounts"/> run.</summary>
    public bool ReadOnlyRoot { get; init; }

    /// <summary>Mount operations, in order, in the new mount namespace.</summary>
    public ImmutableArray<MountOperation> Mounts { get; init; } = [];

    /// <summary>
    /// With new pid and mount namespaces, mount a fresh /proc showing the new pid namespace (as <c>unshare
    /// --mount-proc</c> does) unless <see cref="Mounts"/> already mounts one. Default true: the inherited /proc would
    /// show the caller's processes and make <c>ps</c> and <c>/proc/self</c> lie.
    /// </summary>
    public bool RemountProc { get; init; } = true;

    /// <summary>Hostname in the new UTS namespace (at most 64 bytes).</summary>
    public string? Hostname { get; init; }

    /// <summary>NIS domain name in the new UTS namespace (at most 64 bytes).</summary>
    public string? DomainName { get; init; }

    /// <summary>Brings the loopback interface up in a new network namespace (default true; the kernel leaves it down).</summary>
    public bool LoopbackUp { get; init; } = true;

    /// <summary>Clock offsets of a new time namespace (requires <see cref="Namespaces.Time"/> in <see cref="NewNamespaces"/>).</summary>
    public TimeOffsets? TimeOffsets { get; init; }

    /// <summary>Capabilities the program keeps (null: unchanged).</summary>
    public CapabilityPolicy? Capabilities { get; init; }

    /// <summary>
    /// The pid to ask for in each pid namespace level, innermost first (clone3 set_tid). With a new pid namespace the
    /// first entry must be 1; the process it applies to is the init (or the program with <see cref="ProgramIsPid1"/>).
    /// </summary>
    public ImmutableArray<int> SetTid { get; init; } = [];

    /// <summary>Adds namespaces to create.</summary>
    public Isolation WithNewNamespaces(Namespaces kinds) => this with { NewNamespaces = NewNamespaces | kinds };

    /// <summary>Adds a namespace to join.</summary>
    public Isolation WithJoin(NamespaceJoin join) => this with { Joins = Joins.Add(join) };

    /// <summary>Adds a mount operation (after the ones already there).</summary>
    public Isolation WithMount(MountOperation operation) => this with { Mounts = Mounts.Add(operation) };

    /// <summary>True when nothing is isolated.</summary>
    public bool IsEmpty => ReferenceEquals(this, None) || Equals(None); // the reference test serves every plain command at no cost

    /// <summary>True when the program runs under forklift-init: a new pid namespace without <see cref="ProgramIsPid1"/>,
    /// or a joined pid namespace (setns enters it only for children, so the stage must fork).</summary>
    public bool UsesInit =>
        ((NewNamespaces & Namespaces.Pid) != 0 && !ProgramIsPid1) || JoinsKind(Namespaces.Pid);

    internal bool JoinsKind(Namespaces kind)
    {
        foreach (var j in Joins)
            if ((j.Kinds & kind) != 0)
                return true;
        return false;
    }

    /// <inheritdoc/>
    public bool Equals(Isolation? other) =>
        other is not null && NewNamespaces == other.NewNamespaces && Joins.SequenceEqual(other.Joins) &&
        Equals(UserMapping, other.UserMapping) && ProgramIsPid1 == other.ProgramIsPid1 &&
        Propagation == other.Propagation && ReadOnlyRoot == other.ReadOnlyRoot && Mounts.SequenceEqual(other.Mounts) &&
        RemountProc == other.RemountProc &&
        Hostname == other.Hostname && DomainName == other.DomainName && LoopbackUp == other.LoopbackUp &&
        TimeOffsets == other.TimeOffsets && Equals(Capabilities, other.Capabilities) && SetTid.SequenceEqual(other.SetTid);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(NewNamespaces, Joins.Length, Mounts.Length, Hostname, ProgramIsPid1);

    /// <summary>A one-line summary: <c>new=user,pid,mnt maps=0:1000:1 mounts=3 hostname=box</c>.</summary>
    public override string ToString()
    {
        var parts = new List<string> { "new=" + NamespaceKinds.Format(NewNamespaces) };
        if (!Joins.IsEmpty)
            parts.Add("join=" + string.Join(';', Joins));
        if (UserMapping is { } m)
            parts.Add($"uid_map={string.Join(',', m.UidMap)} gid_map={string.Join(',', m.GidMap)} setgroups={m.Setgroups.ToString().ToLowerInvariant()}");
        if (ReadOnlyRoot)
            parts.Add("ro-root");
        if (!Mounts.IsEmpty)
            parts.Add("mounts=[" + string.Join("; ", Mounts) + "]");
        if (Hostname is not null)
            parts.Add("hostname=" + Hostname);
        if (TimeOffsets is { } t)
            parts.Add($"time=+{t.Monotonic.TotalSeconds}s/+{t.Boottime.TotalSeconds}s");
        if (Capabilities is { } c)
            parts.Add(c.ToString());
        if ((NewNamespaces & Namespaces.Pid) != 0)
            parts.Add(ProgramIsPid1 ? "program=pid1" : "init=forklift-init");
        return string.Join(' ', parts);
    }
}
