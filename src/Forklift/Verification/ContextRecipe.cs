using System.Collections.Immutable;
using Forklift.Interop;
using Forklift.Rules;

namespace Forklift.Verification;

/// <summary>How the throwaway caller's user namespace is set up.</summary>
public enum RecipeUserNs
{
    /// <summary>Stay in the current user namespace.</summary>
    None,
    /// <summary><c>unshare(CLONE_NEWUSER)</c> without writing uid_map/gid_map.</summary>
    Unmapped,
    /// <summary><c>unshare(CLONE_NEWUSER)</c>, root mapped to the caller's uid and gid, setgroups denied.</summary>
    Mapped,
}

/// <summary>
/// A caller context that can be made real: the steps a throwaway process takes (in the native probe, in this
/// order: nested pid namespaces, nested user namespaces, the user namespace, namespace limits, pid 1 of a new
/// pid namespace, unshares, chroot, subreaper, RLIMIT_NPROC, SCHED_DEADLINE, uid and capabilities) before it
/// makes a clone call. <see cref="ToModel"/> gives the model's view of the same caller, so one recipe drives
/// both sides of a differential test. The default value changes nothing.
/// </summary>
public sealed record ContextRecipe
{
    /// <summary>A recipe that changes nothing.</summary>
    public static ContextRecipe Plain { get; } = new();

    /// <summary>The user namespace entered after the nested ones.</summary>
    public RecipeUserNs UserNs { get; init; }
    /// <summary>Mapped user namespaces nested first.</summary>
    public int UserNsNesting { get; init; }
    /// <summary>Pid namespaces nested first; the caller becomes pid 1 of the deepest.</summary>
    public int PidNsNesting { get; init; }
    /// <summary>Become pid 1 of a new pid namespace (after the user namespaces).</summary>
    public bool AsInit { get; init; }
    /// <summary><c>unshare(CLONE_NEWPID)</c> and let the first child (that namespace's init) exit.</summary>
    public bool PidNsInitExited { get; init; }
    /// <summary><c>unshare(CLONE_NEWPID)</c> only.</summary>
    public bool UnsharePid { get; init; }
    /// <summary><c>unshare(CLONE_NEWTIME)</c>.</summary>
    public bool UnshareTime { get; init; }
    /// <summary>chroot into a directory (the verifier makes an empty one).</summary>
    public bool Chroot { get; init; }
    /// <summary>PR_SET_CHILD_SUBREAPER.</summary>
    public bool Subreaper { get; init; }
    /// <summary>RLIMIT_NPROC to set; null keeps it.</summary>
    public long? RlimitNproc { get; init; }
    /// <summary>Run under SCHED_DEADLINE.</summary>
    public bool SchedDeadline { get; init; }
    /// <summary>Switch to this uid (and gid); null keeps root.</summary>
    public int? Uid { get; init; }
    /// <summary>Effective and permitted capabilities after the uid switch (or for root, instead of all); null: none after a switch, all otherwise.</summary>
    public ulong? Caps { get; init; }
    /// <summary>
    /// <c>/proc/sys/user/max_&lt;type&gt;_namespaces</c> values by <see cref="NamespaceType"/> (null entries keep).
    /// These are per user namespace; the verifier only writes them inside a mapped user namespace of its own,
    /// so a recipe with limits and <see cref="RecipeUserNs.None"/> gets one (and the model knows it).
    /// </summary>
    public ImmutableArray<long?> NsLimits { get; init; }

    /// <summary>True when any namespace limit is set.</summary>
    public bool HasNsLimits => !NsLimits.IsDefaultOrEmpty && NsLimits.Any(l => l.HasValue);

    /// <summary>True when the caller is put in any user namespace of its own.</summary>
    public bool HasUserNamespace => EffectiveUserNs != RecipeUserNs.None || UserNsNesting > 0;

    /// <summary>The user namespace mode actually used (limits force a mapped one).</summary>
    public RecipeUserNs EffectiveUserNs => UserNs == RecipeUserNs.None && HasNsLimits ? RecipeUserNs.Mapped : UserNs;

    /// <summary>
    /// The model's view of a caller that started as <paramref name="start"/> (normally
    /// <see cref="CallerContextReader.Live"/> of a root process) and then took this recipe's steps.
    /// </summary>
    public CallerContext ToModel(CallerContext start)
    {
        var c = start;
        // Pid namespaces nested by unshare+fork as root: the caller is pid 1 of the deepest; every level is owned
        // by the caller's (initial) user namespace.
        if (PidNsNesting > 0)
        {
            c = c with { PidNsLevel = c.PidNsLevel + PidNsNesting, IsPidNsInit = true, PidsInUse = PidSet.Push(c.PidsInUse, PidNsNesting) };
        }
        int ownedPidLevels = c.UserNsLevel == 0 ? int.MaxValue : c.PidNsLevelsOwned ?? 1;
        if (UserNsNesting > 0)
        {
            // Each level maps 0 to the outer euid (0), so the caller stays kuid 0 (INIT_USER) with all
            // capabilities in the new namespace, none over the pid namespaces it came from.
            c = c with { UserNsLevel = c.UserNsLevel + UserNsNesting, UidMapped = true, Capabilities = Rules.Capabilities.All };
            ownedPidLevels = 0;
        }
        var mode = EffectiveUserNs;
        if (mode != RecipeUserNs.None)
        {
            c = c with
            {
                UserNsLevel = c.UserNsLevel + 1,
                UidMapped = mode == RecipeUserNs.Mapped,
                Capabilities = Rules.Capabilities.All,
                Uid = mode == RecipeUserNs.Mapped ? 0u : 65534u,
                NamespaceCounts = CallerContext.Zeroes,
            };
            ownedPidLevels = 0;
        }
        if (HasNsLimits)
        {
            var limits = c.NamespaceLimits.IsDefaultOrEmpty ? CallerContext.Unlimited : c.NamespaceLimits;
            for (int t = 0; t < NsLimits.Length && t < NamespaceTypes.Count; t++)
            {
                if (NsLimits[t] is long v)
                {
                    limits = limits.SetItem(t, Math.Min(v, limits[t]));
                }
            }
            c = c with { NamespaceLimits = limits };
        }
        if (AsInit)
        {
            c = c with { PidNsLevel = c.PidNsLevel + 1, IsPidNsInit = true, PidsInUse = PidSet.Push(c.PidsInUse, 1) };
            ownedPidLevels = ownedPidLevels == int.MaxValue ? int.MaxValue : ownedPidLevels + 1;
        }
        if (PidNsInitExited)
        {
            c = c with { PidNsForChildrenUnshared = true, PidNsForChildrenInitExited = true };
        }
        if (UnsharePid)
        {
            c = c with { PidNsForChildrenUnshared = true };
        }
        if (UnshareTime)
        {
            c = c with { TimeNsForChildrenUnshared = true };
        }
        if (Chroot)
        {
            c = c with { Chrooted = true };
        }
        if (Subreaper)
        {
            c = c with { ChildSubreaper = true };
        }
        if (RlimitNproc is long n)
        {
            c = c with { RlimitNproc = n < 0 ? ulong.MaxValue : (ulong)n };
        }
        if (SchedDeadline)
        {
            c = c with { SchedDeadline = true };
        }
        if (Uid is int uid)
        {
            // setresuid away from 0 clears the effective set (PR_SET_KEEPCAPS keeps only the permitted one); the
            // probe then installs Caps. The real uid is no longer INIT_USER, and the caller is this user's only task.
            c = c with { Uid = (uint)uid, IsGlobalRoot = false, Capabilities = Caps ?? 0, UserProcesses = 1 };
        }
        else if (Caps is ulong caps)
        {
            c = c with { Capabilities = caps };
        }
        return c with { PidNsLevelsOwned = ownedPidLevels == int.MaxValue ? null : ownedPidLevels };
    }

    /// <summary>The native probe's context for this recipe; <paramref name="chrootDir"/> is used when <see cref="Chroot"/>.</summary>
    internal ProbeContext ToProbe(string? chrootDir)
    {
        var p = ProbeContext.Default;
        p.UserNsMode = EffectiveUserNs switch
        {
            RecipeUserNs.Unmapped => ProbeUserNsMode.Unmapped,
            RecipeUserNs.Mapped => ProbeUserNsMode.Mapped,
            _ => ProbeUserNsMode.None,
        };
        p.UserNsNesting = UserNsNesting;
        p.PidNsNesting = PidNsNesting;
        p.AsInit = AsInit ? 1 : 0;
        p.PidNsInitExited = PidNsInitExited ? 1 : 0;
        p.UnsharePid = UnsharePid ? 1 : 0;
        p.UnshareTime = UnshareTime ? 1 : 0;
        p.Subreaper = Subreaper ? 1 : 0;
        p.SchedDeadline = SchedDeadline ? 1 : 0;
        p.RlimitNproc = RlimitNproc ?? -1;
        if (Uid is int uid)
        {
            p.Uid = uid;
            p.Gid = uid;
        }
        if (Caps is ulong caps)
        {
            p.SetCaps = 1;
            p.Caps = caps;
        }
        else if (Uid is not null)
        {
            p.SetCaps = 1;
            p.Caps = 0;
        }
        if (HasNsLimits)
        {
            for (int t = 0; t < NsLimits.Length && t < NamespaceTypes.Count; t++)
            {
                unsafe
                {
                    p.NsLimits[t] = NsLimits[t] ?? -1;
                }
            }
        }
        if (Chroot)
        {
            p.SetChrootPath(chrootDir ?? throw new ArgumentNullException(nameof(chrootDir)));
        }
        return p;
    }

    /// <summary>A short description for messages, e.g. <c>userns-unmapped, uid 40001, caps none</c>.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (PidNsNesting > 0) parts.Add($"pid-ns-nesting {PidNsNesting}");
        if (UserNsNesting > 0) parts.Add($"userns-nesting {UserNsNesting}");
        if (EffectiveUserNs != RecipeUserNs.None) parts.Add("userns-" + EffectiveUserNs.ToString().ToLowerInvariant());
        if (HasNsLimits)
        {
            for (int t = 0; t < NsLimits.Length; t++)
            {
                if (NsLimits[t] is long v) parts.Add($"max_{NamespaceTypes.Name((NamespaceType)t)}_namespaces={v}");
            }
        }
        if (AsInit) parts.Add("as-init");
        if (PidNsInitExited) parts.Add("pidns-init-exited");
        if (UnsharePid) parts.Add("unshared-pid");
        if (UnshareTime) parts.Add("unshared-time");
        if (Chroot) parts.Add("chrooted");
        if (Subreaper) parts.Add("subreaper");
        if (RlimitNproc is long n) parts.Add($"rlimit-nproc {n}");
        if (SchedDeadline) parts.Add("sched-deadline");
        if (Uid is int u) parts.Add($"uid {u}");
        if (Caps is ulong cp) parts.Add("caps " + Rules.Capabilities.Format(cp));
        return parts.Count == 0 ? "plain" : string.Join(", ", parts);
    }

    /// <summary>Tests every field; <see cref="NsLimits"/> element by element.</summary>
    public bool Equals(ContextRecipe? other) =>
        other is not null && UserNs == other.UserNs && UserNsNesting == other.UserNsNesting && PidNsNesting == other.PidNsNesting
        && AsInit == other.AsInit && PidNsInitExited == other.PidNsInitExited && UnsharePid == other.UnsharePid
        && UnshareTime == other.UnshareTime && Chroot == other.Chroot && Subreaper == other.Subreaper
        && RlimitNproc == other.RlimitNproc && SchedDeadline == other.SchedDeadline && Uid == other.Uid && Caps == other.Caps
        && (NsLimits.IsDefault ? [] : NsLimits.AsSpan()).SequenceEqual(other.NsLimits.IsDefault ? [] : other.NsLimits.AsSpan());

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(UserNs, UserNsNesting, PidNsNesting, AsInit, Uid, Caps, RlimitNproc);
}

/// <summary>Small fixed pid sets for what-if contexts.</summary>
internal static class PidSet
{
    /// <summary>Only pid 1 (a pid namespace whose only process is its init).</summary>
    public static readonly IReadOnlySet<int> One = new HashSet<int> { 1 };

    /// <summary>Pid 1 and its first child, pid 2.</summary>
    public static readonly IReadOnlySet<int> OneAndTwo = new HashSet<int> { 1, 2 };

    /// <summary>
    /// The pid sets after entering <paramref name="levels"/> new pid namespaces as their init, each made by the
    /// previous init with unshare(CLONE_NEWPID) + fork: the deepest holds only pid 1; every level above it also
    /// holds pid 2 (the init of the level below, as its parent's first child); older levels keep their sets.
    /// </summary>
    public static ImmutableArray<IReadOnlySet<int>?> Push(ImmutableArray<IReadOnlySet<int>?> outer, int levels)
    {
        var b = ImmutableArray.CreateBuilder<IReadOnlySet<int>?>();
        for (int i = 0; i < levels; i++)
        {
            b.Add(i == 0 ? One : OneAndTwo);
        }
        if (!outer.IsDefaultOrEmpty)
        {
            b.AddRange(outer);
        }
        return b.ToImmutable();
    }
}
