using System.Collections.Immutable;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Simulation.Launching;

/// <summary>
/// The native stage's counterpart on the simulated kernel: it runs the very plan the real launcher hands to
/// <c>fl_spawn</c> (<see cref="SpawnPlanBuilder.Build"/>), with the simulated system calls, in the order
/// native/src/spawn_child.c runs it: clone3 (CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND, the fast path;
/// legacy clone and a handler reset when the plan or the kernel version says so), the plan's steps, then execve
/// of each candidate with execvp's rules. A failing step exits the child with 127, the host reaps it, and the
/// same <see cref="SpawnException"/> as the real launcher's is thrown (step, errno, object, hint).
/// </summary>
internal static class SimulatedStage
{
    private const int OTrunc = 0x200, OAccMode = 3;
    private const int CapSetgid = 6;
    private const int SigKill = 9, SigStop = 19;
    private const ulong StageStackSize = 64 * 1024;

    public readonly record struct Result(SimTask Child, int Pidfd, SpawnPath Path);

    public static Result Spawn(SimKernel k, SimIo io, SimTask host, Command c, PlanModel plan, ImmutableSortedDictionary<string, string> environment)
    {
        string commandLine = c.ToString();
        ulong pidfdAddress = UserPointer.Valid(UserPointer.PidfdField);
        ulong stack = UserPointer.Valid(UserPointer.ArgsField + 1);
        var flags = (CloneFlags)plan.CloneFlags | CloneFlags.Pidfd | CloneFlags.Vm | CloneFlags.Vfork;
        var clone3Errno = Errno.None;
        bool usedClone3 = false;
        SimTask? child = null;

        if ((plan.Flags & SpawnPlanFlags.NoClone3) == 0)
        {
            var args = new CloneArgs
            {
                Flags = flags | CloneFlags.ClearSighand,
                Pidfd = pidfdAddress,
                ExitSignal = plan.ExitSignal,
                Stack = stack,
                StackSize = StageStackSize,
                SetTidValues = [],
            };
            var r = k.Clone3(host, args, out child);
            if (r.Ok)
            {
                usedClone3 = true;
            }
            else if (r.Errno == Errno.ENOSYS || (r.Errno == Errno.EPERM && (plan.Flags & SpawnPlanFlags.FallbackOnEperm) != 0))
            {
                clone3Errno = r.Errno; // spawn.c: fall back to legacy clone
            }
            else
            {
                throw new CloneFailedException("Clone3", r.Errno, Errno.None, SpawnHints.ForClone(r.Errno) ?? r.Detail, commandLine,
                    new SpawnPath(false, Errno.None, true));
            }
        }
        if (child is null)
        {
            var legacy = new CloneArgs { Flags = flags, Pidfd = pidfdAddress, ParentTid = pidfdAddress, ExitSignal = plan.ExitSignal, Stack = stack, SetTidValues = [] };
            if (!LegacyCloneRegisters.TryFromArgs(legacy, out var registers, out var why))
            {
                throw new CommandException("CloneFlags", $"legacy clone cannot express this request: {why}");
            }
            var r = k.CloneLegacy(host, registers, out child);
            if (!r.Ok)
            {
                throw new CloneFailedException("Clone", r.Errno, Errno.None, SpawnHints.ForClone(r.Errno) ?? r.Detail, commandLine,
                    new SpawnPath(false, clone3Errno, true));
            }
            // No CLONE_CLEAR_SIGHAND on this path: caught signals go back to SIG_DFL by hand, ignored ones stay
            // ignored (spawn_child.c, "Signal handlers").
            for (int sig = 1; sig <= Signals.Max; sig++)
            {
                if (sig != SigKill && sig != SigStop && child!.Sighand.Get(sig) == SignalAction.Handle)
                {
                    k.Sigaction(child, sig, SignalAction.Default);
                }
            }
        }

        var path = new SpawnPath(usedClone3, clone3Errno, FastPath: true);
        int pidfd = host.Mm.Read(pidfdAddress);
        int pid = SimKernel.PidIn(child!, host);

        // The plan's steps, in order; a slot holds an fd parked by DupAbove.
        Span<int> slots = stackalloc int[SpawnOp.MaxSlots];
        slots.Fill(-1);
        foreach (var step in plan.Steps)
        {
            var r = RunStep(k, child!, step, slots);
            if (!r.Ok)
            {
                throw Fail(k, host, child!, pidfd, step.Name, r.Errno, step.Object, SpawnHints.ForStep(step.Op, r.Errno) ?? r.Detail, commandLine, pid, path);
            }
        }
        if ((plan.Flags & SpawnPlanFlags.SetSigmask) != 0)
        {
            throw Fail(k, host, child!, pidfd, "Signals", Errno.ENOSYS, null,
                "Signal masks are not modelled by the simulated kernel (every signal is deliverable at once): BlockedSignals cannot be honoured.",
                commandLine, pid, path);
        }

        // Execve, each candidate in order (execvp's rules, as spawn_child.c applies them).
        io.SetEnvironment(child!, environment);
        var paths = plan.ExecPaths;
        var errnos = new Errno[paths.Length];
        int eaccesAt = -1;
        for (int i = 0; i < paths.Length; i++)
        {
            var e = Exec(k, child!, paths[i], plan.Argv);
            if (e == Errno.None)
            {
                return new Result(child!, pidfd, path);
            }
            errnos[i] = e;
            bool last = i + 1 == paths.Length;
            bool goesOn = TryNext(e) || e == Errno.EACCES;
            if (goesOn && !last)
            {
                if (e == Errno.EACCES && eaccesAt < 0)
                {
                    eaccesAt = i;
                }
                continue;
            }
            int index = goesOn && eaccesAt >= 0 ? eaccesAt : i;
            var errno = errnos[index];
            bool searched = !c.Program.Contains('/');
            string? obj = searched && errno == Errno.ENOENT ? c.Program : paths[index];
            var attempts = ImmutableArray.CreateBuilder<ExecAttempt>(paths.Length);
            for (int j = 0; j < paths.Length; j++)
            {
                attempts.Add(new ExecAttempt(paths[j], errnos[j]));
            }
            throw Fail(k, host, child!, pidfd, "Execve", errno, obj, SpawnHints.ForExec(errno, searched, c.Program), commandLine, pid, path,
                attempts.MoveToImmutable());
        }
        throw Fail(k, host, child!, pidfd, "Execve", Errno.EINVAL, null, null, commandLine, pid, path);
    }

    // execve of one candidate: a registered program runs; a file of the model that is not a program cannot be
    // executed (the model's files carry no mode bits: EACCES, as for a file without x); anything else ENOENT.
    private static Errno Exec(SimKernel k, SimTask child, string candidate, ImmutableArray<string> argv)
    {
        // An empty PATH entry gives "./name": relative to the child's working directory at exec time.
        string full = Path.IsPathRooted(candidate) ? candidate : Path.GetFullPath(candidate, child.Fs.Cwd);
        if (!k.Programs.TryGet(full, out _))
        {
            return k.FindFile(full) is not null ? Errno.EACCES : Errno.ENOENT;
        }
        var r = k.Execve(child, full, argv);
        return r.Ok ? Errno.None : r.Errno;
    }

    // execvp's rule for going on to the next candidate (EACCES goes on too, but is remembered).
    private static bool TryNext(Errno e) => e is Errno.ENOENT or Errno.ENOTDIR or Errno.ESTALE or Errno.ENODEV or Errno.ETIMEDOUT;

    // The stage's failure exit: _exit(127) (which releases the vfork parent), the parent reaps the child, closes
    // the pidfd, and reports.
    private static SpawnException Fail(SimKernel k, SimTask host, SimTask child, int pidfd, string step, Errno errno, string? obj,
        string? hint, string commandLine, int pid, SpawnPath path, ImmutableArray<ExecAttempt> attempts = default)
    {
        k.ExitGroup(child, 127);
        if (child.RealParent == host)
        {
            k.Waitid(host, WaitConst.PPidfd, pidfd, WaitConst.WExited | WaitConst.WAll, out _);
        }
        k.Close(host, pidfd);
        return new SpawnException(step, errno, obj, hint, commandLine, pid, path, attempts);
    }

    private static SysResult RunStep(SimKernel k, SimTask child, PlanStep st, Span<int> slots)
    {
        switch (st.Op)
        {
            case SpawnOp.WaitParent:
                return SysResult.NotModelled("parent actions between clone and exec (the full path) are not simulated");
            case SpawnOp.Setsid:
                return k.Setsid(child);
            case SpawnOp.Setpgid:
                return k.Setpgid(child, 0, (int)st.A);
            case SpawnOp.SetRlimit:
                // The model keeps one value per limit: the soft one, which is what the kernel enforces.
                return k.Setrlimit(child, (int)st.A, unchecked((ulong)st.B));
            case SpawnOp.Umask:
                return k.Umask(child, (int)st.A);
            case SpawnOp.SetGroups:
            case SpawnOp.SetResGid:
                // Gids are not modelled: only the permission check of setgroups/setresgid (CAP_SETGID) is made.
                return child.Cred.Capable(child.Cred.UserNs, CapSetgid) ? SysResult.Success(0) : SysResult.Fail(Errno.EPERM);
            case SpawnOp.SetResUid:
                return k.Setuid(child, (uint)st.A);
            case SpawnOp.Chdir:
                return k.Chdir(child, st.Str!);
            case SpawnOp.DupAbove:
            {
                // fcntl(F_DUPFD_CLOEXEC, floor): the lowest free fd at or above the floor.
                int floor = (int)st.B;
                int to = floor;
                while (child.Files.Get(to) is not null)
                {
                    to++;
                }
                var r = k.Dup3(child, (int)st.A, to, SimConst.OCloexec);
                if (r.Ok)
                {
                    slots[(int)st.C] = to;
                }
                return r;
            }
            case SpawnOp.CloseRange:
            {
                int first = Fd(st.A, slots);
                long last = Math.Min(st.B, child.Files.Capacity - 1L);
                bool cloexec = (st.C & FdPlanner.CloseRangeCloexec) != 0;
                for (int fd = first; fd <= last; fd++)
                {
                    if (child.Files.Get(fd) is null || (cloexec && child.Files.IsCloexec(fd)))
                    {
                        continue; // nothing to do (the host's own fds are close-on-exec already)
                    }
                    var r = cloexec ? k.Fcntl(child, fd, SimConst.FSetfd, SimConst.FdCloexec) : k.Close(child, fd);
                    if (!r.Ok)
                    {
                        return r;
                    }
                }
                return SysResult.Success(0);
            }
            case SpawnOp.Dup2:
            {
                int from = Fd(st.A, slots);
                int to = Fd(st.B, slots);
                if (from < 0 || to < 0)
                {
                    return SysResult.Fail(Errno.EBADF);
                }
                // from == to only clears close-on-exec (dup2 would do nothing).
                return from == to ? k.Fcntl(child, from, SimConst.FSetfd, 0) : k.Dup3(child, from, to, 0, dup2: true);
            }
            case SpawnOp.Open:
            {
                int to = Fd(st.A, slots);
                int flags = (int)st.B;
                var r = k.Open(child, st.Str!, flags);
                if (!r.Ok)
                {
                    return r;
                }
                int fd = (int)r.Value;
                // O_TRUNC on a file opened for writing (the model's open does not truncate).
                if ((flags & OTrunc) != 0 && (flags & OAccMode) != 0 && child.Files.Get(fd)?.File is { } file)
                {
                    file.Content.Clear();
                }
                if (fd == to)
                {
                    return SysResult.Success(0);
                }
                r = k.Dup3(child, fd, to, flags & SimConst.OCloexec);
                k.Close(child, fd);
                return r;
            }
            case SpawnOp.SetCtty:
            case SpawnOp.Tcsetpgrp:
                // The model has no terminals: no fd is one.
                return SysResult.Fail(Errno.ENOTTY, "the simulated machine has no terminals");
            case SpawnOp.SignalDefault:
                return k.Sigaction(child, (int)st.A, SignalAction.Default);
            case SpawnOp.SignalIgnore:
                return k.Sigaction(child, (int)st.A, SignalAction.Ignore);
            case SpawnOp.Pdeathsig:
            {
                var r = k.Prctl(child, SimConst.PrSetPdeathsig, st.A);
                // If the parent died before the prctl, nobody will send the signal: the child sends it itself.
                if (r.Ok && st.B != 0 && k.Getppid(child).Value != st.B)
                {
                    k.Kill(child, (int)k.Getpid(child).Value, (int)st.A);
                }
                return r;
            }
            case SpawnOp.NoNewPrivs:
                // Nothing in the model grants privileges at exec beyond uid 0's capabilities, which no_new_privs
                // does not remove: the bit has no observable effect here.
                return SysResult.Success(0);
            default:
                return SysResult.Fail(Errno.EINVAL, $"unknown stage op {st.Op}");
        }
    }

    private static int Fd(long v, Span<int> slots) => v <= -1000 && v > -1000 - SpawnOp.MaxSlots ? slots[(int)(-1000 - v)] : (int)v;
}
