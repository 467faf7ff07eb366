using System.Collections.Immutable;
using System.Globalization;
using Forklift.Abi;
using Forklift.Rules;
using Forklift.Verification;

namespace Forklift.Tests.Differential;

/// <summary>
/// Generates clone requests for the differential test: systematic families (flag pairs, struct size boundaries,
/// every exit signal, set_tid arrays, the address-space boundary, pointer states, each caller context, each
/// cgroup state) and a seeded random mix. Deterministic for a seed, except for the pids chosen as "free", which
/// are read from this machine when the generator is made.
/// </summary>
internal sealed class CloneRequestGenerator
{
    private readonly Random _random;
    private readonly int[] _freePids;
    private int _freeIndex;

    public CloneRequestGenerator(int seed)
    {
        Seed = seed;
        _random = new Random(seed);
        _freePids = FindFreePids(64);
    }

    public int Seed { get; }

    /// <summary>A pid that is in use in the initial pid namespace for the whole run: this test process.</summary>
    public static int InUsePid => Environment.ProcessId;

    private int FreePid() => _freePids[_freeIndex++ % _freePids.Length];

    // Pids below the last one handed out and not in use now: the allocator moves forward, so they stay free
    // until it wraps around pid_max.
    private static int[] FindFreePids(int count)
    {
        int last = int.Parse(File.ReadAllText("/proc/sys/kernel/ns_last_pid").Trim(), CultureInfo.InvariantCulture);
        var free = new List<int>();
        for (int pid = last - 1; pid > 300 && free.Count < count; pid--)
        {
            if (!Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture)))
            {
                free.Add(pid);
            }
        }
        if (free.Count < count)
        {
            // Early in the machine's life: take pids far ahead instead.
            int max = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture);
            for (int pid = Math.Min(max - 1, last + 20000); free.Count < count && pid > last; pid--)
            {
                if (!Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture)))
                {
                    free.Add(pid);
                }
            }
        }
        return [.. free];
    }

    private static readonly CloneFlags[] Named = CloneFlagNames.All.Select(x => x.Flag).ToArray();

    private static CloneArgs WithPointers(CloneArgs a)
    {
        // The CLI's convention: a pointer is valid when its flag asks for it, NULL otherwise.
        return a with
        {
            Pidfd = (a.Flags & CloneFlags.Pidfd) != 0 ? UserPointer.Valid(UserPointer.PidfdField) : 0,
            ParentTid = (a.Flags & CloneFlags.ParentSetTid) != 0 ? UserPointer.Valid(UserPointer.ParentTidField) : 0,
            ChildTid = (a.Flags & (CloneFlags.ChildSetTid | CloneFlags.ChildClearTid)) != 0 ? UserPointer.Valid(UserPointer.ChildTidField) : 0,
            SetTidValues = a.SetTidValues.IsDefault ? ImmutableArray<int>.Empty : a.SetTidValues,
        };
    }

    private static VerificationCase Clone3(CloneArgs a, ContextRecipe? ctx = null, CgroupRequest? cg = null, ulong size = 88) =>
        new(CloneCall.Clone3(WithPointers(a), size), ctx ?? ContextRecipe.Plain, cg ?? ((a.Flags & CloneFlags.IntoCgroup) != 0 ? new CgroupRequest { Kind = CgroupKind.Valid } : null));

    private static VerificationCase Legacy(ulong register, ContextRecipe? ctx = null, ulong parentTid = 0, ulong childTid = 0, ulong newsp = 0, ulong tls = 0) =>
        new(CloneCall.Legacy(new LegacyCloneRegisters(register, newsp, parentTid, childTid, tls)), ctx ?? ContextRecipe.Plain);

    private static ulong LegacyPointers(ulong register, out ulong childTid)
    {
        var f = (CloneFlags)register;
        childTid = (f & (CloneFlags.ChildSetTid | CloneFlags.ChildClearTid)) != 0 ? UserPointer.Valid(UserPointer.ChildTidField) : 0;
        return (f & (CloneFlags.ParentSetTid | CloneFlags.Pidfd)) != 0 ? UserPointer.Valid(UserPointer.ParentTidField) : 0;
    }

    /// <summary>Single flags and every pair of the named flags, plus unnamed bits, through clone3.</summary>
    public IEnumerable<VerificationCase> FlagPairs()
    {
        ulong[] unnamed = [1, 0x40, 1UL << 34, 1UL << 40, 1UL << 63];
        foreach (var u in unnamed)
        {
            yield return Clone3(new CloneArgs { Flags = (CloneFlags)u });
        }
        for (int i = 0; i < Named.Length; i++)
        {
            yield return Clone3(new CloneArgs { Flags = Named[i] });
            for (int j = i + 1; j < Named.Length; j++)
            {
                yield return Clone3(new CloneArgs { Flags = Named[i] | Named[j] });
            }
        }
    }

    /// <summary>Pairs of the legacy flags through the register form, with SIGCHLD in the low byte.</summary>
    public IEnumerable<VerificationCase> LegacyFlagPairs()
    {
        var legacy = Named.Where(f => (ulong)f is >= 0x100 and <= 0x80000000).ToArray();
        for (int i = 0; i < legacy.Length; i++)
        {
            for (int j = i; j < legacy.Length; j++)
            {
                ulong reg = (ulong)(legacy[i] | legacy[j]) | Signals.SigChld;
                // CLONE_THREAD/CLONE_SIGHAND want their partners to get past the early checks sometimes.
                if (_random.Next(3) == 0)
                {
                    reg |= (ulong)(CloneFlags.Vm | CloneFlags.Sighand);
                }
                ulong ptid = LegacyPointers(reg, out ulong ctid);
                yield return Legacy(reg, parentTid: ptid, childTid: ctid);
            }
        }
        // The upper 32 bits are dropped by legacy clone.
        yield return Legacy((ulong)CloneFlags.ClearSighand | Signals.SigChld);
        yield return Legacy((ulong)CloneFlags.IntoCgroup | (1UL << 40) | Signals.SigChld);
    }

    /// <summary>Every size boundary of the clone3 struct, with readable-memory and tail variants.</summary>
    public IEnumerable<VerificationCase> StructSizes()
    {
        ulong[] sizes = [0, 1, 8, 56, 63, 64, 65, 71, 72, 73, 79, 80, 81, 84, 87, 88, 89, 95, 96, 100, 128, 4095, 4096, 4097, 8192];
        uint?[] readable = [null, 0, 8, 40, 63, 64, 72, 80, 88, 90, 96, 4000];
        uint[] tails = [0, 88, 89, 95, 127, 4000];
        foreach (var size in sizes)
        {
            foreach (var r in readable)
            {
                foreach (var t in tails)
                {
                    if (t != 0 && t >= size)
                    {
                        continue;
                    }
                    if (r is uint rr && rr > size + 8)
                    {
                        continue;
                    }
                    var c = Clone3(new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork }, size: size);
                    yield return c with { Call = c.Call with { ReadableBytes = r, TailNonZeroAt = t } };
                }
            }
            foreach (var state in new[] { PointerState.Null, PointerState.Bad })
            {
                var c = Clone3(new CloneArgs(), size: size);
                yield return c with { Call = c.Call with { ArgsPointer = UserPointer.For(state, UserPointer.ArgsField) } };
            }
        }
        // Fields cut by the size: set_tid beyond a 72-byte struct, cgroup beyond 80 or 84 bytes.
        yield return Clone3(new CloneArgs { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = 1, SetTidValues = [FreePid()] }, size: 72);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup }, size: 80);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup }, size: 84);
    }

    /// <summary>Exit signals 0..255 through clone3 and legacy clone, and with CLONE_PARENT/CLONE_THREAD.</summary>
    public IEnumerable<VerificationCase> ExitSignals()
    {
        for (ulong sig = 0; sig <= 255; sig++)
        {
            // CLONE_VFORK|CLONE_VM keeps these cheap and makes the fatal ones (SIGKILL) end the caller only after
            // the call succeeded.
            yield return Clone3(new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork, ExitSignal = sig });
            yield return Legacy((ulong)(CloneFlags.Vm | CloneFlags.Vfork) | sig);
        }
        ulong[] odd = [0x100, 0x111, 1UL << 32, ulong.MaxValue];
        foreach (var sig in odd)
        {
            yield return Clone3(new CloneArgs { ExitSignal = sig });
        }
        foreach (var sig in new ulong[] { 0, 17, 64, 65 })
        {
            yield return Clone3(new CloneArgs { Flags = CloneFlags.Parent, ExitSignal = sig });
            yield return Clone3(new CloneArgs { Flags = CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm, ExitSignal = sig });
            yield return Legacy((ulong)CloneFlags.Parent | sig);
            yield return Legacy((ulong)(CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm) | sig);
        }
    }

    private CloneArgs SetTid(params int[] values) => new()
    {
        SetTid = UserPointer.Valid(UserPointer.SetTidField),
        SetTidSize = (ulong)values.Length,
        SetTidValues = [.. values],
    };

    /// <summary>set_tid arrays: lengths, ranges, pids in use and free, new namespaces, bad pointers.</summary>
    public IEnumerable<VerificationCase> SetTids()
    {
        int pidMax = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture);
        int[] singles = [1, 0, -1, InUsePid, FreePid(), pidMax - 1, pidMax, int.MaxValue];
        foreach (var v in singles)
        {
            yield return Clone3(SetTid(v));
            yield return Clone3(SetTid(v) with { Flags = CloneFlags.NewPid });
            yield return Clone3(SetTid(1, v) with { Flags = CloneFlags.NewPid });
            yield return Clone3(SetTid(v, FreePid()) with { Flags = CloneFlags.NewPid });
            yield return Clone3(SetTid(v, FreePid()));
        }
        yield return Clone3(SetTid(1, FreePid(), FreePid()) with { Flags = CloneFlags.NewPid });
        yield return Clone3(SetTid(1, 1) with { Flags = CloneFlags.NewPid });
        yield return Clone3(SetTid(1, InUsePid) with { Flags = CloneFlags.NewPid });
        yield return Clone3(SetTid(1, FreePid()) with { Flags = CloneFlags.NewPid | CloneFlags.NewUser });
        yield return Clone3(new CloneArgs { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = 33, SetTidValues = [.. Enumerable.Repeat(1, 32)] });
        yield return Clone3(new CloneArgs { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = 32, SetTidValues = [.. Enumerable.Repeat(1, 32)] });
        yield return Clone3(new CloneArgs { SetTid = UserPointer.Bad(UserPointer.SetTidField), SetTidSize = 1 });
        yield return Clone3(new CloneArgs { SetTid = 0, SetTidSize = 1 });
        yield return Clone3(new CloneArgs { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = 0 });
        yield return Clone3(new CloneArgs { SetTid = UserPointer.Bad(UserPointer.SetTidField), SetTidSize = 1, ExitSignal = 99 });
        yield return Clone3(SetTid(FreePid()) with { Flags = CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm });
    }

    /// <summary>Stacks and TLS values around the end of the user address space.</summary>
    public IEnumerable<VerificationCase> AddressBoundary()
    {
        const ulong top = UserPointer.TaskSizeMax4Level;
        (ulong Stack, ulong Size)[] stacks =
        [
            (0, 0), (0, 0x1000), (0x1000, 0), (0x10000, 0x1000), (top - 0x1000, 0x1000), (top - 0x1000, 0x1001),
            (top - 0x1000, 0xfff), (top, 0x1000), (top - 1, 1), (top, 1), (0x8000_0000_0000_0000, 0x1000),
            (0xffff_ffff_ffff_f000, 0x1000), (0xffff_ffff_ffff_f000, 0x2000), (1, ulong.MaxValue), (0x7fff_ffff_ffff_f000, 0x1000),
        ];
        foreach (var (s, n) in stacks)
        {
            yield return Clone3(new CloneArgs { Stack = s, StackSize = n });
            yield return Clone3(new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork, Stack = s, StackSize = n });
        }
        ulong[] tls = [0, 0x1000, top - 1, top, top + 1, 0x8000_0000_0000_0000, ulong.MaxValue];
        foreach (var t in tls)
        {
            yield return Clone3(new CloneArgs { Flags = CloneFlags.SetTls, Tls = t });
            yield return Clone3(new CloneArgs { Flags = CloneFlags.SetTls | CloneFlags.Vm | CloneFlags.Vfork, Tls = t });
            yield return Legacy((ulong)CloneFlags.SetTls | Signals.SigChld, tls: t);
            yield return Legacy(Signals.SigChld, tls: t); // ignored without CLONE_SETTLS
        }
        foreach (var sp in new ulong[] { 0, 0x1000, top, ulong.MaxValue })
        {
            yield return Legacy(Signals.SigChld, newsp: sp);
        }
    }

    /// <summary>Every state of the pidfd, parent_tid and child_tid pointers.</summary>
    public IEnumerable<VerificationCase> Pointers()
    {
        string[] pidfdStates = ["null", "valid", "bad", "same"];
        string[] tidStates = ["null", "valid", "bad"];
        foreach (var pidfd in pidfdStates)
        {
            foreach (var ptid in tidStates)
            {
                foreach (bool settid in new[] { false, true })
                {
                    ulong parent = Ptr(ptid, UserPointer.ParentTidField);
                    ulong pfd = pidfd == "same" ? parent : Ptr(pidfd, UserPointer.PidfdField);
                    var flags = CloneFlags.Pidfd | (settid ? CloneFlags.ParentSetTid : 0);
                    yield return new VerificationCase(
                        CloneCall.Clone3(new CloneArgs { Flags = flags, Pidfd = pfd, ParentTid = parent, SetTidValues = [] }), ContextRecipe.Plain);
                }
            }
        }
        foreach (var ptid in tidStates)
        {
            ulong parent = Ptr(ptid, UserPointer.ParentTidField);
            yield return Legacy((ulong)CloneFlags.Pidfd | Signals.SigChld, parentTid: parent);
            yield return Legacy((ulong)(CloneFlags.Pidfd | CloneFlags.ParentSetTid) | Signals.SigChld, parentTid: parent);
            yield return Legacy((ulong)CloneFlags.ParentSetTid | Signals.SigChld, parentTid: parent);
            yield return Legacy((ulong)(CloneFlags.Pidfd | CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm), parentTid: parent);
            yield return Legacy((ulong)(CloneFlags.Pidfd | CloneFlags.Detached) | Signals.SigChld, parentTid: parent);
        }
        foreach (var ctid in tidStates)
        {
            ulong child = Ptr(ctid, UserPointer.ChildTidField);
            var cs = new[] { CloneFlags.ChildSetTid, CloneFlags.ChildClearTid, CloneFlags.ChildSetTid | CloneFlags.ChildClearTid | CloneFlags.Vm | CloneFlags.Vfork };
            foreach (var f in cs)
            {
                yield return new VerificationCase(CloneCall.Clone3(new CloneArgs { Flags = f, ChildTid = child, SetTidValues = [] }), ContextRecipe.Plain);
            }
        }
        foreach (var ptid in tidStates)
        {
            ulong parent = Ptr(ptid, UserPointer.ParentTidField);
            yield return new VerificationCase(CloneCall.Clone3(new CloneArgs { Flags = CloneFlags.ParentSetTid, ParentTid = parent, SetTidValues = [] }), ContextRecipe.Plain);
        }
    }

    private static ulong Ptr(string state, int field) => state switch
    {
        "valid" => UserPointer.Valid(field),
        "bad" => UserPointer.Bad(field),
        _ => 0,
    };

    /// <summary>The caller contexts the probe can make, each with a battery of requests that its rules touch.</summary>
    public IEnumerable<VerificationCase> Contexts()
    {
        var uid = KernelVerifier.UnprivilegedUid;
        // Recipes that hand out a capability this host's bounding set lacks cannot be made (this machine class
        // runs without CAP_SYS_RESOURCE, for one); they are left out rather than reported as setup failures.
        ulong hostCaps = HostPermittedCaps();
        var recipes = new List<ContextRecipe>
        {
            ContextRecipe.Plain,
            new() { UserNs = RecipeUserNs.Unmapped },
            new() { UserNs = RecipeUserNs.Mapped },
            new() { AsInit = true },
            new() { UserNs = RecipeUserNs.Mapped, AsInit = true },
            new() { PidNsNesting = 31 },
            new() { PidNsNesting = 32 },
            new() { UserNsNesting = 32 },
            new() { UserNsNesting = 33 },
            new() { UnsharePid = true },
            new() { PidNsInitExited = true },
            new() { UnshareTime = true },
            new() { Chroot = true },
            new() { Subreaper = true },
            new() { SchedDeadline = true },
            new() { Uid = uid },
            new() { Uid = uid, RlimitNproc = 0 },
            new() { Uid = uid, RlimitNproc = 1 },
            new() { Uid = uid, RlimitNproc = 2 },
            new() { Uid = uid, RlimitNproc = 1000 },
            new() { Uid = uid, Caps = 1UL << Capabilities.SysAdmin },
            new() { Uid = uid, Caps = 1UL << Capabilities.CheckpointRestore },
            new() { Uid = uid, Caps = 1UL << Capabilities.SysResource, RlimitNproc = 0 },
            new() { RlimitNproc = 0 },
            new() { Caps = 0 },
        };
        for (int t = 0; t < NamespaceTypes.Count; t++)
        {
            var limits = Enumerable.Repeat<long?>(null, NamespaceTypes.Count).ToArray();
            limits[t] = 0;
            recipes.Add(new ContextRecipe { UserNs = RecipeUserNs.Mapped, NsLimits = [.. limits] });
        }
        foreach (var recipe in recipes.Where(r => r.Caps is not ulong caps || (caps & ~hostCaps) == 0))
        {
            foreach (var c in Battery(recipe))
            {
                yield return c;
            }
        }
    }

    private static ulong HostPermittedCaps()
    {
        foreach (var line in File.ReadAllLines("/proc/self/status"))
        {
            if (line.StartsWith("CapPrm:", StringComparison.Ordinal))
            {
                return ulong.Parse(line[7..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }

    private IEnumerable<VerificationCase> Battery(ContextRecipe r)
    {
        var thread = CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm;
        var allNs = CloneMasks.Namespaces;
        yield return new VerificationCase(CloneCall.Fork(), r);
        yield return new VerificationCase(CloneCall.Vfork(), r);
        yield return Clone3(new CloneArgs(), r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.NewUser }, r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.NewPid }, r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.NewUts }, r);
        yield return Clone3(new CloneArgs { Flags = allNs & ~CloneFlags.NewUser }, r);
        yield return Clone3(new CloneArgs { Flags = allNs }, r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.Parent }, r);
        yield return Clone3(new CloneArgs { Flags = thread }, r);
        yield return Clone3(new CloneArgs { Flags = thread | CloneFlags.Pidfd }, r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.NewIpc | CloneFlags.Sysvsem }, r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd }, r);
        yield return Clone3(SetTid(1), r);
        yield return Clone3(SetTid(2), r);
        yield return Clone3(SetTid(FreePid()), r);
        yield return Clone3(SetTid(1) with { Flags = CloneFlags.NewPid }, r);
        yield return Clone3(SetTid(1, FreePid()) with { Flags = CloneFlags.NewPid }, r);
        yield return Clone3(SetTid(1, 2) with { Flags = CloneFlags.NewPid }, r);
        yield return Clone3(SetTid(1) with { Flags = CloneFlags.NewPid | CloneFlags.NewUser }, r);
        yield return Clone3(SetTid(1, FreePid()) with { Flags = CloneFlags.NewPid | CloneFlags.NewUser }, r);
        yield return Clone3(SetTid(FreePid(), 2), r);
        yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup }, r, new CgroupRequest { Kind = CgroupKind.Valid });
        yield return Legacy((ulong)CloneFlags.Parent | Signals.SigChld, r);
        yield return Legacy((ulong)(CloneFlags.NewUser | CloneFlags.NewNet) | Signals.SigChld, r);
    }

    /// <summary>CLONE_INTO_CGROUP against each kind of target, for a process and for a thread.</summary>
    public IEnumerable<VerificationCase> Cgroups()
    {
        foreach (var kind in Enum.GetValues<CgroupKind>())
        {
            var cg = new CgroupRequest { Kind = kind };
            yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup }, cg: cg);
            yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup | CloneFlags.Vm | CloneFlags.Vfork }, cg: cg);
            yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup | CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm }, cg: cg);
            yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup | CloneFlags.NewCgroup }, cg: cg);
        }
        foreach (int fd in new[] { 0, 2, -1, CgroupRequest.ClosedFd })
        {
            yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup, Cgroup = unchecked((ulong)(long)fd) }, cg: new CgroupRequest { Fd = fd });
        }
        yield return Clone3(new CloneArgs { Flags = CloneFlags.IntoCgroup }, new ContextRecipe { Uid = KernelVerifier.UnprivilegedUid }, new CgroupRequest { Kind = CgroupKind.Root });
        yield return Clone3(new CloneArgs(), cg: new CgroupRequest { Kind = CgroupKind.BadFd });
    }

    /// <summary>A seeded random mix across all of the above dimensions.</summary>
    public IEnumerable<VerificationCase> Random(int count)
    {
        var contexts = new ContextRecipe[]
        {
            ContextRecipe.Plain, ContextRecipe.Plain, ContextRecipe.Plain,
            new() { UserNs = RecipeUserNs.Unmapped }, new() { AsInit = true }, new() { UnsharePid = true },
            new() { Uid = KernelVerifier.UnprivilegedUid }, new() { Chroot = true }, new() { UserNs = RecipeUserNs.Mapped },
        };
        for (int n = 0; n < count; n++)
        {
            var flags = CloneFlags.None;
            int bits = _random.Next(0, 5);
            for (int b = 0; b < bits; b++)
            {
                flags |= Named[_random.Next(Named.Length)];
            }
            // Expensive namespaces (net) only now and then.
            if ((flags & CloneFlags.NewNet) != 0 && _random.Next(4) != 0)
            {
                flags &= ~CloneFlags.NewNet;
            }
            if (_random.Next(4) == 0)
            {
                flags |= CloneFlags.Vm | CloneFlags.Sighand;
            }
            ulong exit = _random.Next(6) switch
            {
                0 => (ulong)_random.Next(0, 256),
                1 or 2 => 0,
                _ => Signals.SigChld,
            };
            var ctx = contexts[_random.Next(contexts.Length)];
            int entry = _random.Next(10);
            if (entry < 6)
            {
                var a = new CloneArgs { Flags = flags, ExitSignal = exit };
                if (_random.Next(5) == 0)
                {
                    a = a with { SetTid = UserPointer.Valid(UserPointer.SetTidField), SetTidSize = 1, SetTidValues = [_random.Next(3) == 0 ? 1 : FreePid()] };
                }
                ulong size = _random.Next(8) == 0 ? (ulong)_random.Next(56, 100) : 88;
                var kind = (CgroupKind)_random.Next(Enum.GetValues<CgroupKind>().Length);
                if (kind == CgroupKind.NoWritePermission && ctx.HasUserNamespace)
                {
                    kind = CgroupKind.Valid; // cannot be made for a caller in a user namespace (see KernelVerifier)
                }
                var cg = (flags & CloneFlags.IntoCgroup) != 0 ? new CgroupRequest { Kind = kind } : null;
                var c = Clone3(a, ctx, cg, size);
                if (_random.Next(10) == 0)
                {
                    var wp = WithPointers(a);
                    c = c with { Call = CloneCall.Clone3(wp with { Pidfd = UserPointer.Bad(UserPointer.PidfdField) }, size) };
                }
                yield return c;
            }
            else if (entry < 9)
            {
                ulong reg = ((ulong)flags & 0xffffff00) | (exit & 0xff);
                ulong ptid = LegacyPointers(reg, out ulong ctid);
                yield return Legacy(reg, ctx, ptid, ctid);
            }
            else
            {
                yield return new VerificationCase(_random.Next(2) == 0 ? CloneCall.Fork() : CloneCall.Vfork(), ctx);
            }
        }
    }
}
