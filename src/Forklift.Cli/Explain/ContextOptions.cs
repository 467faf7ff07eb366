using System.Collections.Immutable;
using Forklift.Rules;
using Forklift.Verification;

namespace Forklift.Cli.Explain;

/// <summary>
/// The caller-context options of <c>explain</c>, gathered in one place. They describe changes to the calling
/// process as it is; <see cref="ToModel"/> applies them to the live context for the model, and
/// <see cref="TryToRecipe"/> turns them into the steps a throwaway process takes for <c>--verify</c>. Null or
/// false means "as the live process is".
/// </summary>
internal sealed record ContextOptions
{
    /// <summary><c>--uid</c>.</summary>
    public uint? Uid { get; init; }
    /// <summary><c>--caps</c>.</summary>
    public ulong? Caps { get; init; }
    /// <summary><c>--drop-caps</c>.</summary>
    public ulong DropCaps { get; init; }
    /// <summary><c>--userns-level</c>.</summary>
    public int? UserNsLevel { get; init; }
    /// <summary><c>--userns-unmapped</c>.</summary>
    public bool UserNsUnmapped { get; init; }
    /// <summary><c>--as-init</c>.</summary>
    public bool AsInit { get; init; }
    /// <summary><c>--pid-ns-level</c>: the absolute depth of the caller's pid namespace (with <c>--as-init</c> too).</summary>
    public int? PidNsLevel { get; init; }
    /// <summary><c>--unshared newpid</c>.</summary>
    public bool UnsharedPid { get; init; }
    /// <summary><c>--unshared newtime</c>.</summary>
    public bool UnsharedTime { get; init; }
    /// <summary><c>--pidns-init-exited</c>.</summary>
    public bool PidNsInitExited { get; init; }
    /// <summary><c>--chrooted</c>.</summary>
    public bool Chrooted { get; init; }
    /// <summary><c>--subreaper</c>.</summary>
    public bool Subreaper { get; init; }
    /// <summary><c>--rlimit-nproc</c>; <see cref="ulong.MaxValue"/> is unlimited.</summary>
    public ulong? RlimitNproc { get; init; }
    /// <summary><c>--sched-deadline</c>.</summary>
    public bool SchedDeadline { get; init; }
    /// <summary><c>--ns-limit</c>, by <see cref="NamespaceType"/>; default when none was given.</summary>
    public ImmutableArray<long?> NsLimits { get; init; }
    /// <summary><c>--kernel</c>.</summary>
    public KernelVersion? Kernel { get; init; }

    /// <summary>
    /// The model's caller: <paramref name="live"/> with each option applied. Entering user namespaces (a deeper
    /// <c>--userns-level</c>, or <c>--userns-unmapped</c>) gives the caller every capability there, as their
    /// creator; <c>--uid N</c> other than 0 takes them away again unless <c>--caps</c> is given.
    /// </summary>
    public CallerContext ToModel(CallerContext live)
    {
        var c = live;
        if (Kernel is { } k)
        {
            c = c with { Kernel = k };
        }

        // Capabilities over pid namespaces (set_tid): all of them from the initial user namespace, else the
        // caller's own and those it created after entering its user namespace (as ContextRecipe.ToModel).
        int owned = live.PidNsLevelsOwned ?? (live.UserNsLevel == 0 ? int.MaxValue : 1);

        // User namespace.
        int userLevel = UserNsLevel ?? live.UserNsLevel;
        if (UserNsUnmapped)
        {
            userLevel = Math.Max(userLevel, UserNsLevel is null ? live.UserNsLevel + 1 : 1);
        }
        if (userLevel != live.UserNsLevel || UserNsUnmapped)
        {
            bool entered = userLevel > live.UserNsLevel || UserNsUnmapped;
            c = c with
            {
                UserNsLevel = userLevel,
                UidMapped = !UserNsUnmapped,
                IsGlobalRoot = c.IsGlobalRoot && userLevel == 0,
                Capabilities = entered ? Capabilities.All : c.Capabilities,
                // An unmapped euid shows as the overflow uid (65534) inside.
                Uid = UserNsUnmapped ? 65534 : entered ? 0 : c.Uid,
            };
            owned = entered ? 0 : userLevel == 0 ? int.MaxValue : 1;
        }

        // Pid namespace.
        int pidLevel = PidNsLevel ?? (AsInit ? live.PidNsLevel + 1 : live.PidNsLevel);
        if (pidLevel != live.PidNsLevel)
        {
            int deeper = pidLevel - live.PidNsLevel;
            c = c with { PidNsLevel = pidLevel, PidsInUse = deeper > 0 ? PushFreshPidNamespaces(live.PidsInUse, deeper) : [] };
            if (deeper > 0 && owned != int.MaxValue)
            {
                owned += deeper;
            }
        }
        if (AsInit)
        {
            c = c with { IsPidNsInit = true };
        }
        c = c with { PidNsLevelsOwned = owned == int.MaxValue ? null : owned };

        if (UnsharedPid || PidNsInitExited)
        {
            c = c with { PidNsForChildrenUnshared = true, PidNsForChildrenInitExited = PidNsInitExited };
        }
        if (UnsharedTime)
        {
            c = c with { TimeNsForChildrenUnshared = true };
        }
        if (Chrooted)
        {
            c = c with { Chrooted = true };
        }
        if (Subreaper)
        {
            c = c with { ChildSubreaper = true };
        }
        if (RlimitNproc is ulong n)
        {
            c = c with { RlimitNproc = n };
        }
        if (SchedDeadline)
        {
            c = c with { SchedDeadline = true };
        }
        if (!NsLimits.IsDefaultOrEmpty)
        {
            for (int t = 0; t < NsLimits.Length; t++)
            {
                if (NsLimits[t] is long max)
                {
                    c = c.WithNamespaceLimit((NamespaceType)t, max);
                }
            }
        }

        // Identity last: a uid other than 0 is no longer INIT_USER and, as after setresuid, has no capabilities.
        if (Uid is uint uid)
        {
            c = uid != 0
                ? c with { Uid = uid, IsGlobalRoot = false, Capabilities = 0, UserProcesses = 1 }
                : c with { Uid = 0, IsGlobalRoot = c.UserNsLevel == 0 && c.UidMapped, Capabilities = Capabilities.All };
        }
        if (Caps is ulong caps)
        {
            c = c with { Capabilities = caps };
        }
        if (DropCaps != 0)
        {
            c = c with { Capabilities = c.Capabilities & ~DropCaps };
        }
        return c;
    }

    /// <summary>
    /// The steps that make this caller real, starting from <paramref name="live"/>; false with the reason when
    /// it cannot be made from here (a shallower namespace than this process's own, another kernel release).
    /// </summary>
    public bool TryToRecipe(CallerContext live, out ContextRecipe recipe, out string? why)
    {
        recipe = ContextRecipe.Plain;
        why = null;
        if (Kernel is { } k && k != live.Kernel)
        {
            why = $"--verify runs on this kernel ({live.Kernel}), not on {k}: drop --kernel";
            return false;
        }

        // User namespaces: nested mapped ones, then the last one (unmapped, or mapped when limits need one).
        bool limits = !NsLimits.IsDefaultOrEmpty && NsLimits.Any(l => l.HasValue);
        int userLevel = UserNsLevel ?? live.UserNsLevel;
        var mode = RecipeUserNs.None;
        int userNesting;
        if (UserNsUnmapped)
        {
            mode = RecipeUserNs.Unmapped;
            userNesting = UserNsLevel is null ? 0 : Math.Max(userLevel, 1) - 1 - live.UserNsLevel;
        }
        else if (limits && userLevel > live.UserNsLevel)
        {
            // Limits are written inside a user namespace of the probe's own: let the last level be that one.
            mode = RecipeUserNs.Mapped;
            userNesting = userLevel - 1 - live.UserNsLevel;
        }
        else
        {
            userNesting = userLevel - live.UserNsLevel;
        }
        if (userNesting < 0)
        {
            why = $"--verify cannot reach user namespace depth {userLevel} from this process's depth {live.UserNsLevel}";
            return false;
        }

        int pidLevel = PidNsLevel ?? (AsInit ? live.PidNsLevel + 1 : live.PidNsLevel);
        int pidNesting = pidLevel - live.PidNsLevel - (AsInit ? 1 : 0);
        if (pidNesting < 0)
        {
            why = $"--verify cannot reach pid namespace depth {pidLevel} from this process's depth {live.PidNsLevel}"
                + (AsInit ? " as the init of a new one" : "");
            return false;
        }

        ulong? caps = Caps;
        if (DropCaps != 0)
        {
            bool entered = userNesting > 0 || mode != RecipeUserNs.None || limits;
            ulong baseCaps = caps ?? (Uid is > 0 ? 0 : entered ? Capabilities.All : live.Capabilities);
            caps = baseCaps & ~DropCaps;
        }

        recipe = new ContextRecipe
        {
            UserNs = mode,
            UserNsNesting = userNesting,
            PidNsNesting = pidNesting,
            AsInit = AsInit,
            PidNsInitExited = PidNsInitExited,
            UnsharePid = UnsharedPid && !PidNsInitExited,
            UnshareTime = UnsharedTime,
            Chroot = Chrooted,
            Subreaper = Subreaper,
            RlimitNproc = RlimitNproc is ulong n ? (n == ulong.MaxValue ? null : (long)Math.Min(n, long.MaxValue)) : null,
            SchedDeadline = SchedDeadline,
            // The throwaway caller starts as this process; uid 0 means "stay root".
            Uid = Uid is uint u and > 0 ? (int)u : null,
            Caps = caps,
            NsLimits = limits ? NsLimits : default,
        };
        return true;
    }

    private static readonly IReadOnlySet<int> OnlyInit = new HashSet<int> { 1 };

    // Deeper pid namespaces the caller entered hold only their init (pid 1) as far as any request can name;
    // the outer levels keep their sets further out.
    private static ImmutableArray<IReadOnlySet<int>?> PushFreshPidNamespaces(ImmutableArray<IReadOnlySet<int>?> outer, int levels)
    {
        var b = ImmutableArray.CreateBuilder<IReadOnlySet<int>?>();
        for (int i = 0; i < levels; i++)
        {
            b.Add(OnlyInit);
        }
        if (!outer.IsDefaultOrEmpty)
        {
            b.AddRange(outer);
        }
        return b.ToImmutable();
    }
}
