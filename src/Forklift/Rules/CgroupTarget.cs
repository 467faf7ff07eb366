namespace Forklift.Rules;

/// <summary>What the fd passed with <c>CLONE_INTO_CGROUP</c> refers to (cgroup_css_set_fork, kernel/cgroup/cgroup.c).</summary>
public enum CgroupTargetKind
{
    /// <summary>The fd number is not open (EBADF).</summary>
    NotOpen,
    /// <summary>An open fd that is not a cgroup directory: a plain directory, a file, a pipe (EBADF).</summary>
    NotCgroup,
    /// <summary>A cgroup v1 directory (EBADF: only the unified hierarchy can be a clone target).</summary>
    V1,
    /// <summary>A live cgroup2 domain directory (also the root, or opened with O_PATH).</summary>
    Domain,
    /// <summary>A cgroup2 directory that has been removed (ENOENT).</summary>
    Removed,
    /// <summary>A threaded cgroup: accepts a new process; a new thread only from the same threaded domain.</summary>
    Threaded,
    /// <summary>A "domain invalid" cgroup (EOPNOTSUPP).</summary>
    DomainInvalid,
    /// <summary>A domain with domain controllers enabled in cgroup.subtree_control (no-internal-process rule: EBUSY).</summary>
    Busy,
}

/// <summary>
/// The cgroup a <c>CLONE_INTO_CGROUP</c> request names, described by the facts the kernel checks. The default
/// value is an fd that is not open. <see cref="CgroupInspector"/> fills one from a real path.
/// </summary>
public readonly record struct CgroupTarget
{
    /// <summary>What the fd is.</summary>
    public CgroupTargetKind Kind { get; init; }

    /// <summary>
    /// Whether the caller may write <c>cgroup.procs</c> of the target and of the common ancestor of its own cgroup
    /// and the target (cgroup_may_write, cgroup_procs_write_permission). Root with CAP_DAC_OVERRIDE always may.
    /// </summary>
    public bool Writable { get; init; }

    /// <summary>
    /// The target is in the caller's own domain (its own cgroup, or a threaded cgroup of its threaded domain):
    /// the only place a new <em>thread</em> may be placed.
    /// </summary>
    public bool SameDomainAsCaller { get; init; }

    /// <summary>The path it was read from, for messages; null for a what-if kind.</summary>
    public string? Path { get; init; }

    /// <summary>A what-if target of the given kind: writable, in another domain.</summary>
    public static CgroupTarget Of(CgroupTargetKind kind) => new() { Kind = kind, Writable = true };

    /// <summary>
    /// Parses the <c>--cgroup-fd-kind</c> spellings: valid, opath, root, bad-fd, not-cgroup, v1, removed, threaded,
    /// domain-invalid, busy, no-write-permission.
    /// </summary>
    public static bool TryParseKind(string text, out CgroupTarget target)
    {
        target = text.Trim().ToLowerInvariant() switch
        {
            "valid" or "opath" or "root" or "domain" => Of(CgroupTargetKind.Domain),
            "bad-fd" or "not-open" => Of(CgroupTargetKind.NotOpen),
            "not-cgroup" => Of(CgroupTargetKind.NotCgroup),
            "v1" => Of(CgroupTargetKind.V1),
            "removed" => Of(CgroupTargetKind.Removed),
            "threaded" => Of(CgroupTargetKind.Threaded),
            "domain-invalid" => Of(CgroupTargetKind.DomainInvalid),
            "busy" => Of(CgroupTargetKind.Busy),
            "no-write-permission" => Of(CgroupTargetKind.Domain) with { Writable = false },
            _ => new CgroupTarget { Kind = (CgroupTargetKind)(-1) },
        };
        return (int)target.Kind >= 0;
    }
}
