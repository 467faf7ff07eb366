using System.Globalization;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Rules;

namespace Forklift.Verification;

/// <summary>One request to put to the live kernel: the call, the caller to make it from, and its cgroup target.</summary>
/// <param name="Call">The call exactly as described (struct bytes or legacy registers).</param>
/// <param name="Context">How the throwaway caller is set up first.</param>
/// <param name="Cgroup">The <c>CLONE_INTO_CGROUP</c> target; null: the raw <c>cgroup</c> field is passed as is.</param>
public sealed record VerificationCase(CloneCall Call, ContextRecipe Context, CgroupRequest? Cgroup = null)
{
    /// <summary>
    /// The case as the verifier runs it: a <see cref="CgroupKind.NoWritePermission"/> target needs a caller that
    /// is not root, so a root recipe gets an unprivileged uid (the model must see the same recipe).
    /// </summary>
    public VerificationCase Normalized(int unprivilegedUid) =>
        Cgroup?.Kind == CgroupKind.NoWritePermission && Context.Uid is null && !Context.HasUserNamespace
            ? this with { Context = Context with { Uid = unprivilegedUid } }
            : this;

    /// <summary>The model's verdict for this case, for a caller that started as <paramref name="start"/>.</summary>
    public CloneVerdict Model(CallerContext start)
    {
        var ctx = Context.ToModel(start);
        var target = Cgroup?.ToModel(ctx) ?? default;
        return CloneRules.Evaluate(Call, ctx, target);
    }
}

/// <summary>What the live kernel answered.</summary>
/// <param name="Succeeded">The call created a child (or thread).</param>
/// <param name="Errno">The errno when it failed; <see cref="Errno.None"/> on success.</param>
/// <param name="SetupFailed">The caller context could not be made; the call was not made.</param>
/// <param name="Note">What else is worth saying (the setup step that failed, the signal that ended the caller).</param>
public readonly record struct KernelAnswer(bool Succeeded, Errno Errno, bool SetupFailed, string? Note)
{
    /// <summary><c>ok</c>, the errno's name, or <c>setup-failed</c>.</summary>
    public string Spelling => SetupFailed ? "setup-failed" : Succeeded ? "ok" : ErrnoInfo.Name(Errno);

    /// <summary>True when the model's verdict says the same.</summary>
    public bool Agrees(CloneVerdict verdict) => !SetupFailed && (verdict.Allowed ? Succeeded : !Succeeded && verdict.Errno == Errno);

    /// <inheritdoc/>
    public override string ToString() => Note is null ? Spelling : $"{Spelling} ({Note})";
}

/// <summary>
/// Makes clone calls on the live kernel through the native probe: each call from a fresh throwaway process
/// put into the requested context, with nothing left behind (the probe reaps everything; cgroups made for the
/// calls are removed).
/// </summary>
public static class KernelVerifier
{
    private const int Batch = 256;

    /// <summary>
    /// A uid for unprivileged callers: one per test process, far from real users, so RLIMIT_NPROC counts only
    /// this process's own probes.
    /// </summary>
    public static int UnprivilegedUid { get; } = 40000 + Environment.ProcessId % 20000;

    /// <summary>Runs one case.</summary>
    public static KernelAnswer Run(VerificationCase c) => Run([c])[0];

    /// <summary>Runs cases in order, in batches; the answers line up with the cases.</summary>
    /// <exception cref="InvalidOperationException">The probe machinery itself failed.</exception>
    public static KernelAnswer[] Run(IReadOnlyList<VerificationCase> cases)
    {
        var answers = new KernelAnswer[cases.Count];
        bool needsCgroups = cases.Any(c => c.Cgroup?.Kind is not null and not CgroupKind.BadFd and not CgroupKind.NotCgroup and not CgroupKind.V1 and not CgroupKind.Root);
        bool needsChroot = cases.Any(c => c.Context.Chroot);
        using var fixtures = needsCgroups ? new CgroupFixtures() : null;
        string? chroot = needsChroot ? Directory.CreateTempSubdirectory("forklift-chroot-").FullName : null;
        try
        {
            var requests = new List<ProbeRequest>(Batch);
            var indexes = new List<int>(Batch);
            for (int i = 0; i < cases.Count; i++)
            {
                var c = cases[i].Normalized(UnprivilegedUid);
                if (c.Call.Entry == CloneEntry.Clone6)
                {
                    answers[i] = new KernelAnswer(false, Errno.ENOSYS, false, "clone6 was proposed in 2019 and never merged: no kernel has it");
                    continue;
                }
                if (!TryBuild(c, fixtures, chroot, out var request, out var why))
                {
                    answers[i] = new KernelAnswer(false, Errno.None, true, why);
                    continue;
                }
                requests.Add(request);
                indexes.Add(i);
                if (requests.Count == Batch)
                {
                    Flush(requests, indexes, answers);
                }
            }
            Flush(requests, indexes, answers);
        }
        finally
        {
            if (chroot is not null)
            {
                Directory.Delete(chroot, recursive: true);
            }
        }
        return answers;
    }

    private static void Flush(List<ProbeRequest> requests, List<int> indexes, KernelAnswer[] answers)
    {
        if (requests.Count == 0)
        {
            return;
        }
        var results = NativeProbe.Run(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(requests));
        for (int k = 0; k < results.Length; k++)
        {
            answers[indexes[k]] = Interpret(results[k]);
        }
        requests.Clear();
        indexes.Clear();
    }

    private static KernelAnswer Interpret(in ProbeResult r) => r.Outcome switch
    {
        ProbeOutcome.Returned when r.Ret >= 0 => new KernelAnswer(true, Errno.None, false, null),
        ProbeOutcome.Returned => new KernelAnswer(false, (Errno)r.Err, false, null),
        // The exit signal of the new child (SIGKILL, say) ended the caller: the call had succeeded.
        ProbeOutcome.CallerKilled => new KernelAnswer(true, Errno.None, false,
            "the caller was ended by " + Signals.Name(r.Signal) + ", the child's exit signal"),
        ProbeOutcome.SetupFailed => new KernelAnswer(false, Errno.None, true,
            $"setting up the caller failed at step {r.Step}: {ErrnoInfo.Name((Errno)r.Err)}"),
        _ => throw new InvalidOperationException($"the clone probe failed: {ErrnoInfo.Name((Errno)r.Err)} ({r})"),
    };

    private static bool TryBuild(VerificationCase c, CgroupFixtures? fixtures, string? chroot, out ProbeRequest p, out string? why)
    {
        why = null;
        var call = c.Call;
        var a = call.Args;
        p = ProbeRequest.Create(call.Entry switch
        {
            CloneEntry.Clone => ProbeCall.Clone,
            CloneEntry.Fork => ProbeCall.Fork,
            CloneEntry.Vfork => ProbeCall.Vfork,
            _ => ProbeCall.Clone3,
        });
        p.Context = c.Context.ToProbe(chroot);
        p.Size = call.Size;
        p.RawFlags = call.RawFlags;
        p.Flags = (ulong)a.Flags;
        p.ExitSignal = a.ExitSignal;
        p.Stack = a.Stack;
        p.StackSize = a.StackSize;
        p.Tls = a.Tls;
        p.SetTidSize = a.SetTidSize;
        p.Cgroup = a.Cgroup;
        if (call.HasStruct)
        {
            bool argsValid = UserPointer.Classify(call.ArgsPointer) == PointerState.Valid;
            p.ArgsKind = argsValid ? ProbePointerKind.Valid : ProbePointerKind.Raw;
            p.ArgsRawPointer = argsValid ? 0 : call.ArgsPointer;
            ulong readable = call.ReadableBytes ?? Math.Max(call.Size, (ulong)Clone3Struct.SizeVer2);
            p.ReadableBytes = (uint)Math.Min(readable, ProbeRequest.MaxReadableBytes);
            // A non-zero byte past the readable part cannot exist: that memory faults instead.
            p.TailNonzeroAt = call.TailNonZeroAt == 0 || call.TailNonZeroAt >= p.ReadableBytes ? -1 : (int)call.TailNonZeroAt;
        }
        // Pointers the model takes as mapped become real buffers in the caller; others are passed as they are.
        p.ParentTidKind = Kind(a.ParentTid, out p.ParentTid);
        p.ChildTidKind = Kind(a.ChildTid, out p.ChildTid);
        p.SetTidKind = Kind(a.SetTid, out p.SetTid);
        if (call.Entry == CloneEntry.Clone)
        {
            p.PidfdKind = ProbePointerKind.Raw; // the kernel aliases pidfd to parent_tid itself
        }
        else if (a.Pidfd != 0 && a.Pidfd == a.ParentTid && UserPointer.Classify(a.Pidfd) == PointerState.Valid)
        {
            p.PidfdKind = ProbePointerKind.SameAsParentTid;
        }
        else
        {
            p.PidfdKind = Kind(a.Pidfd, out p.Pidfd);
        }
        if (!a.SetTidValues.IsDefaultOrEmpty)
        {
            p.SetSetTidValues(a.SetTidValues.AsSpan()[..Math.Min(a.SetTidValues.Length, ProbeRequest.SetTidCapacity)]);
        }
        if (c.Cgroup?.Kind == CgroupKind.NoWritePermission && c.Context.HasUserNamespace)
        {
            why = "a caller in a user namespace keeps the kernel's uid 0 over cgroup files, so a cgroup it may not write cannot be made for it";
            return false;
        }
        if (c.Cgroup is { } cg)
        {
            if (!TryCgroup(cg, fixtures, ref p, out why))
            {
                return false;
            }
        }
        return true;
    }

    private static ProbePointerKind Kind(ulong address, out ulong raw)
    {
        bool valid = UserPointer.Classify(address) == PointerState.Valid;
        raw = valid ? 0 : address;
        return valid ? ProbePointerKind.Valid : ProbePointerKind.Raw;
    }

    private static bool TryCgroup(CgroupRequest cg, CgroupFixtures? fixtures, ref ProbeRequest p, out string? why)
    {
        why = null;
        if (cg.Path is not null)
        {
            p.CgroupSource = ProbeCgroupSource.OpenAny;
            p.SetCgroupPath(cg.Path);
            return true;
        }
        if (cg.Fd is int fd)
        {
            p.CgroupSource = ProbeCgroupSource.Raw;
            p.Cgroup = (ulong)(long)fd;
            return true;
        }
        string mount = fixtures?.MountPoint ?? CgroupInspector.UnifiedMountPoint() ?? "/sys/fs/cgroup/unified";
        switch (cg.Kind ?? CgroupKind.Valid)
        {
            case CgroupKind.BadFd:
                p.CgroupSource = ProbeCgroupSource.Raw;
                p.Cgroup = CgroupRequest.ClosedFd;
                return true;
            case CgroupKind.NotCgroup:
                return Open(ref p, ProbeCgroupSource.OpenDir, Path.GetTempPath());
            case CgroupKind.V1:
                string? v1 = CgroupFixtures.V1Directory();
                why = v1 is null ? "this machine has no cgroup v1 hierarchy" : null;
                return v1 is not null && Open(ref p, ProbeCgroupSource.OpenDir, v1);
            case CgroupKind.Root:
                return Open(ref p, ProbeCgroupSource.OpenDir, mount);
            case CgroupKind.OPath:
                return Open(ref p, ProbeCgroupSource.OpenPath, fixtures!.Valid);
            case CgroupKind.Removed:
                return Open(ref p, ProbeCgroupSource.OpenRemoved, fixtures!.NextRemoved());
            case CgroupKind.Threaded:
                return Open(ref p, ProbeCgroupSource.OpenDir, fixtures!.Threaded);
            case CgroupKind.DomainInvalid:
                return Open(ref p, ProbeCgroupSource.OpenDir, fixtures!.DomainInvalid);
            case CgroupKind.Busy:
                string? busy = fixtures!.Busy;
                why = busy is null ? "the cgroup2 hierarchy offers no domain controller to make a busy cgroup" : null;
                return busy is not null && Open(ref p, ProbeCgroupSource.OpenDir, busy);
            default:
                return Open(ref p, ProbeCgroupSource.OpenDir, fixtures!.Valid);
        }
    }

    private static bool Open(ref ProbeRequest p, ProbeCgroupSource source, string path)
    {
        p.CgroupSource = source;
        p.SetCgroupPath(path);
        return true;
    }

    /// <summary>A one-line description of a case, for failure messages.</summary>
    public static string Describe(VerificationCase c)
    {
        var call = c.Call;
        var a = call.Args;
        var parts = new List<string> { call.Entry.ToString().ToLowerInvariant() };
        if (call.Entry == CloneEntry.Clone)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"raw_flags=0x{call.RawFlags:x}"));
        }
        else
        {
            parts.Add("flags=" + CloneFlagNames.Format(a.Flags));
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"exit_signal={a.ExitSignal}"));
        }
        if (call.HasStruct)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"size={call.Size}"));
            if (call.ArgsPointer != UserPointer.Valid(UserPointer.ArgsField)) parts.Add($"args=0x{call.ArgsPointer:x}");
            if (call.ReadableBytes is uint r) parts.Add(string.Create(CultureInfo.InvariantCulture, $"readable={r}"));
            if (call.TailNonZeroAt != 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"tail_nonzero_at={call.TailNonZeroAt}"));
        }
        if (a.Pidfd != 0) parts.Add($"pidfd=0x{a.Pidfd:x}");
        if (a.ParentTid != 0) parts.Add($"parent_tid=0x{a.ParentTid:x}");
        if (a.ChildTid != 0) parts.Add($"child_tid=0x{a.ChildTid:x}");
        if (a.Stack != 0 || a.StackSize != 0) parts.Add($"stack=0x{a.Stack:x}+0x{a.StackSize:x}");
        if (a.Tls != 0) parts.Add($"tls=0x{a.Tls:x}");
        if (a.SetTid != 0 || a.SetTidSize != 0)
        {
            parts.Add($"set_tid=0x{a.SetTid:x}[{a.SetTidSize}]" + (a.SetTidValues.IsDefaultOrEmpty ? "" : "{" + string.Join(',', a.SetTidValues) + "}"));
        }
        if (a.Cgroup != 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"cgroup={a.Cgroup}"));
        if (c.Cgroup is not null) parts.Add("cgroup-target=" + c.Cgroup);
        parts.Add("context=" + c.Context);
        return string.Join(' ', parts);
    }
}
