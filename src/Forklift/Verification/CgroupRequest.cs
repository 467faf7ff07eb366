using System.Globalization;
using Forklift.Rules;

namespace Forklift.Verification;

/// <summary>The kinds of <c>CLONE_INTO_CGROUP</c> target the verifier can make real (the <c>--cgroup-fd-kind</c> spellings).</summary>
public enum CgroupKind
{
    /// <summary>A fresh, empty cgroup2 domain, opened O_RDONLY|O_DIRECTORY.</summary>
    Valid,
    /// <summary>The same, opened with O_PATH.</summary>
    OPath,
    /// <summary>The cgroup2 root.</summary>
    Root,
    /// <summary>An fd number that is not open.</summary>
    BadFd,
    /// <summary>An open directory that is not a cgroup (<c>/tmp</c>).</summary>
    NotCgroup,
    /// <summary>A cgroup v1 directory.</summary>
    V1,
    /// <summary>A cgroup2 directory removed after it was opened.</summary>
    Removed,
    /// <summary>A threaded cgroup.</summary>
    Threaded,
    /// <summary>A "domain invalid" cgroup.</summary>
    DomainInvalid,
    /// <summary>A domain with a domain controller enabled in cgroup.subtree_control.</summary>
    Busy,
    /// <summary>A fresh domain the caller may not write (the verifier runs the caller as an unprivileged uid).</summary>
    NoWritePermission,
}

/// <summary>
/// Which cgroup a request names: a what-if <see cref="Kind"/>, a real <see cref="Path"/>, or a raw fd number.
/// Exactly one is set.
/// </summary>
public sealed record CgroupRequest
{
    /// <summary>A kind the verifier creates (or finds) for the call.</summary>
    public CgroupKind? Kind { get; init; }

    /// <summary>A real path, opened by the caller.</summary>
    public string? Path { get; init; }

    /// <summary>A raw fd number, passed as is.</summary>
    public int? Fd { get; init; }

    /// <summary>Parses a <c>--cgroup-fd-kind</c> spelling.</summary>
    public static bool TryParseKind(string text, out CgroupKind kind)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "valid": kind = CgroupKind.Valid; return true;
            case "opath": kind = CgroupKind.OPath; return true;
            case "root": kind = CgroupKind.Root; return true;
            case "bad-fd": kind = CgroupKind.BadFd; return true;
            case "not-cgroup": kind = CgroupKind.NotCgroup; return true;
            case "v1": kind = CgroupKind.V1; return true;
            case "removed": kind = CgroupKind.Removed; return true;
            case "threaded": kind = CgroupKind.Threaded; return true;
            case "domain-invalid": kind = CgroupKind.DomainInvalid; return true;
            case "busy": kind = CgroupKind.Busy; return true;
            case "no-write-permission": kind = CgroupKind.NoWritePermission; return true;
            default: kind = default; return false;
        }
    }

    /// <summary>The spelling of a kind.</summary>
    public static string Spell(CgroupKind kind) => kind switch
    {
        CgroupKind.OPath => "opath",
        CgroupKind.BadFd => "bad-fd",
        CgroupKind.NotCgroup => "not-cgroup",
        CgroupKind.DomainInvalid => "domain-invalid",
        CgroupKind.NoWritePermission => "no-write-permission",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>The fd number used for <see cref="CgroupKind.BadFd"/>: below INT_MAX, never open.</summary>
    public const int ClosedFd = 987_654;

    /// <summary>The model's description of this target for a caller.</summary>
    public CgroupTarget ToModel(CallerContext caller)
    {
        // cgroup_may_write: cgroup.procs is root-owned 0644 unless delegated, so writing it takes kuid 0 (the owner)
        // or CAP_DAC_OVERRIDE over the inode.
        bool writable = caller.IsGlobalRoot || (caller.UserNsLevel == 0 && caller.Has(1 /* CAP_DAC_OVERRIDE */));
        if (Path is not null)
        {
            var t = CgroupInspector.Inspect(Path, out _);
            return t with { Writable = t.Writable && writable };
        }
        if (Fd is int fd)
        {
            return CgroupTarget.Of(fd is >= 0 and <= 2 ? CgroupTargetKind.NotCgroup : CgroupTargetKind.NotOpen);
        }
        var kind = Kind ?? CgroupKind.Valid;
        var target = kind switch
        {
            CgroupKind.BadFd => CgroupTarget.Of(CgroupTargetKind.NotOpen),
            CgroupKind.NotCgroup => CgroupTarget.Of(CgroupTargetKind.NotCgroup),
            CgroupKind.V1 => CgroupTarget.Of(CgroupTargetKind.V1),
            CgroupKind.Removed => CgroupTarget.Of(CgroupTargetKind.Removed),
            CgroupKind.Threaded => CgroupTarget.Of(CgroupTargetKind.Threaded),
            CgroupKind.DomainInvalid => CgroupTarget.Of(CgroupTargetKind.DomainInvalid),
            CgroupKind.Busy => CgroupTarget.Of(CgroupTargetKind.Busy),
            CgroupKind.Root => CgroupTarget.Of(CgroupTargetKind.Domain) with { SameDomainAsCaller = CgroupInspector.OwnCgroup() == "/" },
            _ => CgroupTarget.Of(CgroupTargetKind.Domain),
        };
        return target with { Writable = kind != CgroupKind.NoWritePermission && writable };
    }

    /// <inheritdoc/>
    public override string ToString() =>
        Path ?? (Fd is int fd ? "fd " + fd.ToString(CultureInfo.InvariantCulture) : Spell(Kind ?? CgroupKind.Valid));
}
