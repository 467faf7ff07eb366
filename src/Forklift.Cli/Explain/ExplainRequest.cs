using System.Collections.Immutable;
using System.CommandLine;
using Forklift.Abi;
using Forklift.Rules;
using Forklift.Verification;

namespace Forklift.Cli.Explain;

/// <summary>
/// What <c>explain</c> was asked, after every option value has been parsed and the options checked against
/// each other: the call as the kernel receives it, the cgroup it names, and the caller's changes. Only what
/// cannot be expressed at all is refused (a <see cref="UsageException"/>, exit 2); anything the kernel would
/// merely reject is a legal what-if and goes to the model.
/// </summary>
internal sealed record ExplainRequest
{
    /// <summary>The nominal fd number of a cgroup the caller opens (a fresh process's first free fd).</summary>
    public const int OpenedCgroupFd = 3;

    /// <summary>The call.</summary>
    public required CloneCall Call { get; init; }

    /// <summary>The <c>CLONE_INTO_CGROUP</c> target; null when none is named (or the raw field exceeds an int).</summary>
    public CgroupRequest? Cgroup { get; init; }

    /// <summary>The caller's changes.</summary>
    public required ContextOptions Context { get; init; }

    /// <summary><c>--verify</c>.</summary>
    public bool Verify { get; init; }

    /// <summary><c>--json</c>.</summary>
    public bool Json { get; init; }

    /// <summary>Facts about how the options were encoded that a reader may not expect (bits dropped, bytes not passed).</summary>
    public ImmutableArray<string> Notes { get; init; } = [];

    /// <summary>Reads and checks the options.</summary>
    /// <exception cref="UsageException">An option's value is malformed, or options contradict each other.</exception>
    public static ExplainRequest From(ParseResult r, ExplainOptions o)
    {
        var reader = new Reader(r, o);
        return reader.Build();
    }

    private sealed class Reader(ParseResult r, ExplainOptions o)
    {
        private readonly List<string> _notes = [];

        private string? Value(Option<string?> option) => r.GetValue(option);

        private bool Given(Option option) => r.GetResult(option) is not null;

        public ExplainRequest Build()
        {
            var entry = ParseCall(Value(o.Call));
            CheckApplicable(entry);

            var context = ParseContext();
            bool verify = r.GetValue(o.Verify);
            if (verify && entry == CloneEntry.Clone6)
            {
                throw new UsageException("--verify cannot run --call clone6: it was proposed in 2019 and never merged, so no kernel has it");
            }
            CloneCall call;
            CgroupRequest? cgroup = null;
            switch (entry)
            {
                case CloneEntry.Fork:
                case CloneEntry.Vfork:
                    CheckForkExitSignal(entry);
                    call = entry == CloneEntry.Fork ? CloneCall.Fork() : CloneCall.Vfork();
                    break;
                case CloneEntry.Clone:
                    call = BuildLegacy();
                    break;
                default:
                    (call, cgroup) = BuildStruct(entry);
                    break;
            }
            return new ExplainRequest
            {
                Call = call,
                Cgroup = cgroup,
                Context = context,
                Verify = verify,
                Json = r.GetValue(o.Json),
                Notes = [.. _notes],
            };
        }

        private static CloneEntry ParseCall(string? text) => (text ?? "clone3").Trim().ToLowerInvariant() switch
        {
            "clone3" => CloneEntry.Clone3,
            "clone" => CloneEntry.Clone,
            "fork" => CloneEntry.Fork,
            "vfork" => CloneEntry.Vfork,
            "clone6" => CloneEntry.Clone6,
            _ => throw new UsageException($"--call '{text}': expected clone3, clone, fork, vfork or clone6"),
        };

        // Options that describe arguments the entry point does not have cannot be expressed at all.
        private void CheckApplicable(CloneEntry entry)
        {
            Option[] callArguments =
            [
                o.Flags, o.RawFlags, o.Size, o.ArgsPointer, o.ReadableBytes, o.TailNonZeroAt, o.SetTid, o.SetTidSize,
                o.SetTidPointer, o.PidfdPointer, o.ParentTidPointer, o.ChildTidPointer, o.Stack, o.StackSize, o.Tls,
                o.Cgroup, o.CgroupFd, o.CgroupFdKind,
            ];
            Option[] structOnly =
            [
                o.Size, o.ArgsPointer, o.ReadableBytes, o.TailNonZeroAt, o.SetTid, o.SetTidSize, o.SetTidPointer,
                o.StackSize, o.Cgroup, o.CgroupFd, o.CgroupFdKind,
            ];
            string callName = entry.ToString().ToLowerInvariant();
            if (entry is CloneEntry.Fork or CloneEntry.Vfork)
            {
                foreach (var option in callArguments)
                {
                    if (Given(option))
                    {
                        throw new UsageException($"{option.Name} does not apply to --call {callName}: {callName}() takes no arguments");
                    }
                }
                return;
            }
            if (Given(o.RawFlags) && entry != CloneEntry.Clone)
            {
                throw new UsageException("--raw-flags is the first register of legacy clone: use it with --call clone");
            }
            if (entry == CloneEntry.Clone)
            {
                foreach (var option in structOnly)
                {
                    if (Given(option))
                    {
                        throw new UsageException($"{option.Name} is part of clone_args (clone3): legacy clone has no such argument");
                    }
                }
                if (Value(o.PidfdPointer) is { } p && !p.Trim().Equals("same-as-parent-tid", StringComparison.OrdinalIgnoreCase))
                {
                    throw new UsageException("--pidfd-pointer: legacy clone stores the pidfd at parent_tid; use --parent-tid-pointer");
                }
            }
            if (Given(o.RawFlags) && (Given(o.Flags) || Given(o.ExitSignal)))
            {
                throw new UsageException("--raw-flags is the whole register (flags | exit signal): do not combine it with --flags or --exit-signal");
            }
            int cgroupOptions = (Given(o.Cgroup) ? 1 : 0) + (Given(o.CgroupFd) ? 1 : 0) + (Given(o.CgroupFdKind) ? 1 : 0);
            if (cgroupOptions > 1)
            {
                throw new UsageException("--cgroup, --cgroup-fd and --cgroup-fd-kind each name the cgroup fd: give one of them");
            }
        }

        private void CheckForkExitSignal(CloneEntry entry)
        {
            if (Value(o.ExitSignal) is { } text)
            {
                if (!Signals.TryParse(text, out int sig, out var error))
                {
                    throw new UsageException("--exit-signal: " + error);
                }
                if (sig != Signals.SigChld)
                {
                    string name = entry.ToString().ToLowerInvariant();
                    throw new UsageException($"--exit-signal {text}: {name}() always uses SIGCHLD; use --call clone3 or clone to choose another");
                }
            }
        }

        private CloneFlags ParseFlags()
        {
            if (Value(o.Flags) is not { } text)
            {
                return CloneFlags.None;
            }
            return CloneFlagNames.TryParse(text, out var flags, out var error) ? flags : throw new UsageException("--flags: " + error);
        }

        // clone3 reads exit_signal as 64 bits, so any number is a what-if there; legacy clone has one byte.
        private ulong ParseExitSignal(bool wide)
        {
            if (Value(o.ExitSignal) is not { } text)
            {
                return 0;
            }
            if (Signals.TryParse(text, out int sig, out var error))
            {
                return (ulong)sig;
            }
            if (wide && NumberText.TryParseUInt64(text, out ulong big))
            {
                return big;
            }
            if (!wide && NumberText.TryParseUInt64(text, out _))
            {
                throw new UsageException($"--exit-signal {text}: legacy clone carries the exit signal in one byte (0..255)");
            }
            throw new UsageException("--exit-signal: " + error);
        }

        private ulong Pointer(Option<string?> option, CloneFlags flags, CloneFlags need, int field)
        {
            var state = Value(option) is { } text ? ArgText.Pointer(option.Name, text)
                : (flags & need) != 0 ? PointerState.Valid : PointerState.Null;
            return UserPointer.For(state, field);
        }

        private CloneCall BuildLegacy()
        {
            ulong register;
            if (Value(o.RawFlags) is { } raw)
            {
                register = ArgText.UInt64("--raw-flags", raw);
            }
            else
            {
                ulong flags = (ulong)ParseFlags();
                ulong sig = ParseExitSignal(wide: false);
                if ((flags & CloneMasks.CSignal) != 0)
                {
                    _notes.Add($"flag bits 0..7 (0x{flags & CloneMasks.CSignal:x}) share the exit-signal byte of the legacy register (CLONE_NEWTIME is clone3-only)");
                }
                register = flags | sig;
            }
            if ((register & ~CloneMasks.Legacy32) != 0)
            {
                _notes.Add($"legacy clone drops bits 32..63 of the flag register (0x{register & ~CloneMasks.Legacy32:x}); they never reach the kernel's checks");
            }
            var decoded = (CloneFlags)(register & CloneMasks.Legacy32 & ~CloneMasks.CSignal);
            // The kernel returns the pidfd through parent_tid, so CLONE_PIDFD wants it valid too.
            ulong parentTid = Pointer(o.ParentTidPointer, decoded, CloneFlags.ParentSetTid | CloneFlags.Pidfd, UserPointer.ParentTidField);
            ulong childTid = Pointer(o.ChildTidPointer, decoded, CloneFlags.ChildSetTid | CloneFlags.ChildClearTid, UserPointer.ChildTidField);
            ulong stack = Value(o.Stack) is { } s ? ArgText.Address("--stack", s) : 0;
            ulong tls = Value(o.Tls) is { } t ? ArgText.Address("--tls", t) : 0;
            return CloneCall.Legacy(new LegacyCloneRegisters(register, stack, parentTid, childTid, tls));
        }

        private (CloneCall Call, CgroupRequest? Cgroup) BuildStruct(CloneEntry entry)
        {
            var flags = ParseFlags();
            ulong exitSignal = ParseExitSignal(wide: true);
            ulong size = Value(o.Size) is { } sz ? ArgText.UInt64("--size", sz) : CloneCall.CurrentStructSize;

            var argsState = Value(o.ArgsPointer) is { } ap ? ArgText.Pointer("--args-pointer", ap) : PointerState.Valid;
            uint? readable = Value(o.ReadableBytes) is { } rb ? ArgText.UInt32("--readable-bytes", rb) : null;
            if (readable is not null && argsState != PointerState.Valid)
            {
                throw new UsageException($"--readable-bytes needs a struct to read: it contradicts --args-pointer {Value(o.ArgsPointer)}");
            }
            uint tail = 0;
            if (Value(o.TailNonZeroAt) is { } tt)
            {
                tail = ArgText.UInt32("--tail-nonzero-at", tt);
                if (tail < Clone3Struct.SizeVer2)
                {
                    throw new UsageException($"--tail-nonzero-at {tt}: bytes 0..87 are clone_args fields; set them with their own options (the tail starts at 88)");
                }
                if (tail >= size)
                {
                    _notes.Add($"--tail-nonzero-at {tail} lies past --size {size}: the kernel never reads that byte");
                }
            }

            // Pointers.
            ulong parentTid = Pointer(o.ParentTidPointer, flags, CloneFlags.ParentSetTid, UserPointer.ParentTidField);
            ulong childTid = Pointer(o.ChildTidPointer, flags, CloneFlags.ChildSetTid | CloneFlags.ChildClearTid, UserPointer.ChildTidField);
            ulong pidfd = Value(o.PidfdPointer) is { } pp && pp.Trim().Equals("same-as-parent-tid", StringComparison.OrdinalIgnoreCase)
                ? parentTid
                : Pointer(o.PidfdPointer, flags, CloneFlags.Pidfd, UserPointer.PidfdField);

            // set_tid.
            int[] pids = Value(o.SetTid) is { } st ? ArgText.Pids("--set-tid", st) : [];
            var setTidState = Value(o.SetTidPointer) is { } stp ? ArgText.Pointer("--set-tid-pointer", stp)
                : Given(o.SetTid) ? PointerState.Valid : PointerState.Null;
            ulong setTidSize = Value(o.SetTidSize) is { } sts ? ArgText.UInt64("--set-tid-size", sts) : (ulong)pids.Length;

            // Stack and TLS.
            ulong stack = Value(o.Stack) is { } s ? ArgText.Address("--stack", s) : 0;
            ulong stackSize = Value(o.StackSize) is { } ss ? ArgText.UInt64("--stack-size", ss) : 0;
            ulong tls = Value(o.Tls) is { } t ? ArgText.Address("--tls", t) : 0;

            // The cgroup field and what it names.
            ulong cgroupField = 0;
            CgroupRequest? cgroup = null;
            if (Value(o.Cgroup) is { } path)
            {
                if (!Directory.Exists(path) && !File.Exists(path))
                {
                    throw new UsageException($"--cgroup '{path}': no such file or directory, so there is no fd to pass (see --cgroup-fd-kind for what-ifs)");
                }
                cgroupField = OpenedCgroupFd;
                cgroup = new CgroupRequest { Path = Path.GetFullPath(path) };
            }
            else if (Value(o.CgroupFd) is { } fdText)
            {
                cgroupField = ArgText.UInt64("--cgroup-fd", fdText);
                // Above INT_MAX no fd can exist: the field is passed raw (and R-A9 refuses it).
                cgroup = cgroupField <= int.MaxValue ? new CgroupRequest { Fd = (int)cgroupField } : null;
            }
            else if (Value(o.CgroupFdKind) is { } kindText)
            {
                if (!CgroupRequest.TryParseKind(kindText, out var kind))
                {
                    throw new UsageException($"--cgroup-fd-kind '{kindText}': expected valid, opath, root, bad-fd, not-cgroup, v1, removed, threaded, domain-invalid, busy or no-write-permission");
                }
                cgroupField = (ulong)(kind == CgroupKind.BadFd ? CgroupRequest.ClosedFd : OpenedCgroupFd);
                cgroup = new CgroupRequest { Kind = kind };
            }
            else if ((flags & CloneFlags.IntoCgroup) != 0)
            {
                // No target named: the field stays 0, which is fd 0 (standard input) to the kernel.
                cgroup = new CgroupRequest { Fd = 0 };
                _notes.Add("CLONE_INTO_CGROUP without --cgroup, --cgroup-fd or --cgroup-fd-kind: the cgroup field is 0, standard input");
            }

            var args = new CloneArgs
            {
                Flags = flags,
                Pidfd = pidfd,
                ChildTid = childTid,
                ParentTid = parentTid,
                ExitSignal = exitSignal,
                Stack = stack,
                StackSize = stackSize,
                Tls = tls,
                SetTid = UserPointer.For(setTidState, UserPointer.SetTidField),
                SetTidSize = setTidSize,
                Cgroup = cgroupField,
                SetTidValues = [.. pids],
            };
            if (size < Clone3Struct.SizeVer2 && size >= Clone3Struct.SizeVer0)
            {
                _notes.Add(size < Clone3Struct.SizeVer1
                    ? $"size {size}: set_tid, set_tid_size and cgroup are not passed (the kernel reads them as 0)"
                    : $"size {size}: the cgroup field is not passed (the kernel reads it as 0)");
            }
            var call = entry == CloneEntry.Clone6 ? CloneCall.Clone6(args, size) : CloneCall.Clone3(args, size);
            call = call with
            {
                ArgsPointer = UserPointer.For(argsState, UserPointer.ArgsField),
                ReadableBytes = readable,
                TailNonZeroAt = tail,
            };
            return (call, cgroup);
        }

        private ContextOptions ParseContext()
        {
            var c = new ContextOptions();
            if (Value(o.Uid) is { } uid)
            {
                c = c with { Uid = ArgText.UInt32("--uid", uid) };
            }
            if (Value(o.Caps) is { } caps)
            {
                c = c with { Caps = Capabilities.TryParse(caps, out ulong set, out var e) ? set : throw new UsageException("--caps: " + e) };
            }
            if (Value(o.DropCaps) is { } drop)
            {
                c = c with { DropCaps = Capabilities.TryParse(drop, out ulong set, out var e) ? set : throw new UsageException("--drop-caps: " + e) };
            }
            if (Value(o.UserNsLevel) is { } ul)
            {
                c = c with { UserNsLevel = ArgText.Count("--userns-level", ul, 10_000) };
            }
            if (r.GetValue(o.UserNsUnmapped))
            {
                if (c.UserNsLevel == 0)
                {
                    throw new UsageException("--userns-unmapped needs a user namespace, but --userns-level 0 is the initial one (which maps every uid)");
                }
                c = c with { UserNsUnmapped = true };
            }
            if (Value(o.PidNsLevel) is { } pl)
            {
                c = c with { PidNsLevel = ArgText.Count("--pid-ns-level", pl, 10_000) };
            }
            if (Value(o.Unshared) is { } unshared)
            {
                foreach (var part in unshared.Split([',', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    string n = part.ToLowerInvariant();
                    n = n.StartsWith("clone_", StringComparison.Ordinal) ? n["clone_".Length..] : n;
                    c = n switch
                    {
                        "newpid" or "pid" => c with { UnsharedPid = true },
                        "newtime" or "time" => c with { UnsharedTime = true },
                        _ => throw new UsageException($"--unshared '{part}': expected newpid or newtime"),
                    };
                }
            }
            c = c with
            {
                AsInit = r.GetValue(o.AsInit),
                PidNsInitExited = r.GetValue(o.PidNsInitExited),
                Chrooted = r.GetValue(o.Chrooted),
                Subreaper = r.GetValue(o.Subreaper),
                SchedDeadline = r.GetValue(o.SchedDeadline),
            };
            if (Value(o.RlimitNproc) is { } rl)
            {
                c = c with { RlimitNproc = ArgText.Limit("--rlimit-nproc", rl) };
            }
            if (r.GetValue(o.NsLimit) is { Length: > 0 } limits)
            {
                var values = new long?[NamespaceTypes.Count];
                foreach (var item in limits)
                {
                    foreach (var pair in item.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        int eq = pair.IndexOf('=', StringComparison.Ordinal);
                        if (eq <= 0 || !NamespaceTypes.TryParse(pair[..eq], out var type))
                        {
                            throw new UsageException($"--ns-limit '{pair}': expected TYPE=N with TYPE one of user, mnt, uts, ipc, pid, cgroup, net, time");
                        }
                        ulong max = ArgText.Limit("--ns-limit " + pair[..eq], pair[(eq + 1)..]);
                        values[(int)type] = max >= long.MaxValue ? long.MaxValue : (long)max;
                    }
                }
                c = c with { NsLimits = [.. values] };
            }
            if (Value(o.Kernel) is { } kernel)
            {
                c = c with { Kernel = KernelVersion.TryParse(kernel, out var v) ? v : throw new UsageException($"--kernel '{kernel}': expected X.Y or X.Y.Z") };
            }
            return c;
        }
    }
}
