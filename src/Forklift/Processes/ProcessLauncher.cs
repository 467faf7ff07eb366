using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Rules;
using Forklift.Spawning;

namespace Forklift.Processes;

/// <summary>
/// Starts commands on the real kernel: validates the command, checks the clone request against the clone model
/// (<see cref="CloneRules.Evaluate"/>, with the caller's context read once and cached), creates the parent's
/// pipes, compiles the plan, calls the native stage and returns a live <see cref="ChildProcess"/> (or throws).
/// Thread-safe; one reactor thread per launcher watches every child it started. <see cref="Default"/> serves
/// most programs.
/// </summary>
public sealed unsafe class ProcessLauncher : IProcessLauncher, IPipelineKernel<ChildProcess>
{
    private static readonly Lazy<ProcessLauncher> s_default = new(() => new ProcessLauncher());

    private readonly ISystemCalls _system;
    private readonly Lazy<CallerContext> _context;
    private readonly Lazy<Reactor> _reactor;
    private readonly Func<int> _readParentPid; // one delegate: the inputs of two starts compare equal

    // The commands already validated and checked against the clone model, with the context they were checked
    // for, and the last plan model built for them. A Command is immutable, so the same instance started again
    // (the common case: one command, many starts) needs neither check again; a command with a handle source is
    // not kept (whether the handle is open is checked per start). Weak keys: this does not keep commands alive.
    private readonly ConditionalWeakTable<Command, CommandCache> _checked = new();

    // The entry of the command started last, looked at before the table: one reference comparison for the
    // command started again and again (it keeps that one command alive).
    private volatile CommandCache? _lastStarted;

    /// <summary>A launcher for this process, whose clone requests are checked against its live context.</summary>
    public ProcessLauncher()
        : this(LinuxSystemCalls.Instance, CallerContextReader.Live)
    {
    }

    /// <summary>
    /// A launcher whose clone requests are checked against <paramref name="callerContext"/> instead of the live
    /// one (to see what another caller would be refused; the kernel still has the last word).
    /// </summary>
    public ProcessLauncher(CallerContext callerContext)
        : this(LinuxSystemCalls.Instance, () => callerContext)
    {
        ArgumentNullException.ThrowIfNull(callerContext);
    }

    internal ProcessLauncher(ISystemCalls system, Func<CallerContext> context)
    {
        _system = system;
        _context = new Lazy<CallerContext>(context, LazyThreadSafetyMode.ExecutionAndPublication);
        _reactor = new Lazy<Reactor>(() => new Reactor(system), LazyThreadSafetyMode.ExecutionAndPublication);
        _readParentPid = system.GetParentPid;
    }

    /// <summary>The shared launcher of this process (real system calls, live caller context).</summary>
    public static ProcessLauncher Default => s_default.Value;

    /// <summary>The caller context clone requests are checked against (read on first use, then cached).</summary>
    public CallerContext CallerContext => _context.Value;

    internal Reactor Reactor => _reactor.Value;

    internal ISystemCalls SystemCalls => _system;

    /// <summary>
    /// Starts <paramref name="command"/> and returns once it has exec'd. Children with a parent-death signal are
    /// created by a dedicated long-lived thread (the signal is tied to the creating thread).
    /// </summary>
    /// <exception cref="CommandException">The command is invalid; nothing was created.</exception>
    /// <exception cref="CloneRefusedException">The clone model says the kernel would refuse; nothing was created.</exception>
    /// <exception cref="SpawnException">A step failed; any child created was reaped.</exception>
    public ChildProcess Start(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!command.Isolation.IsEmpty || command.Cgroup is not null)
        {
            // Isolated or placed commands are checked at every start and never cached: their parent work (maps,
            // namespace files, the init's fd, the group's directory) is per start.
            CommandValidator.Validate(command);
            if (!command.Isolation.IsEmpty)
                command = PrepareIsolation(command);
            bool full = !command.ParentActions.IsEmpty || NeedsFullPath(command);
            CheckClone(command, fast: !full, CallerContext);
            var isolated = command;
            return command.ParentDeathSignal != 0
                ? SpawnerThread.Run(() => StartCore(isolated, full, null))
                : StartCore(isolated, full, null);
        }
        bool sync = !command.ParentActions.IsEmpty;
        var context = CallerContext;
        var cache = _lastStarted;
        if (cache is null || !ReferenceEquals(cache.Command, command) || !ReferenceEquals(cache.CheckedFor, context))
        {
            if (!_checked.TryGetValue(command, out cache) || !ReferenceEquals(cache.CheckedFor, context))
            {
                CommandValidator.Validate(command);
                CheckClone(command, fast: !sync, context);
                cache = null;
                if (!UsesHandles(command))
                {
                    cache = new CommandCache(command, context);
                    _checked.AddOrUpdate(command, cache);
                }
            }
            if (cache is not null)
                _lastStarted = cache;
        }
        return command.ParentDeathSignal != 0
            ? SpawnerThread.Run(() => StartCore(command, sync, cache))
            : StartCore(command, sync, cache);
    }

    IChildProcess IProcessLauncher.Start(Command command) => Start(command);

    /// <summary>Adds the parent's part of the isolation: id maps that need the parent's privilege.</summary>
    private static Command PrepareIsolation(Command command)
    {
        var iso = command.Isolation;
        if (Isolation.IsolationPlanner.ParentWritesMaps(iso, Isolation.HostFacts.EffectiveUserId(), Isolation.HostFacts.EffectiveGroupId()))
        {
            var mapping = iso.UserMapping!;
            command = command.WithParentAction("IdMaps", ctx => Isolation.IsolationPlanner.WriteMapsFromParent(mapping, ctx.Pid));
        }
        return command;
    }

    private static bool NeedsFullPath(Command command) =>
        !command.Isolation.IsEmpty &&
        Isolation.IsolationPlanner.NeedsFullPath(command.Isolation, Isolation.HostFacts.EffectiveUserId(), Isolation.HostFacts.EffectiveGroupId());

    /// <summary>
    /// Starts a pipeline: each command's standard output is the write end of a pipe whose read end is the next
    /// command's standard input; the parent closes both ends once the two children have them. The first
    /// command's standard input and the last one's output are as those commands say. If one fails to start,
    /// the children already started are killed (and reaped) before the exception propagates.
    /// </summary>
    /// <exception cref="CommandException">A command sets a stream the pipeline connects.</exception>
    public IReadOnlyList<ChildProcess> Start(Pipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        return PipelineStarter.Start(pipeline, this);
    }

    Errno IPipelineKernel<ChildProcess>.CreatePipe(out int readEnd, out int writeEnd)
    {
        int rc = _system.Pipe2(out readEnd, out writeEnd);
        return rc < 0 ? (Errno)(-rc) : Errno.None;
    }

    void IPipelineKernel<ChildProcess>.Close(int fd) => _system.Close(fd);

    ChildProcess IPipelineKernel<ChildProcess>.Start(Command command) => Start(command);

    IReadOnlyList<IChildProcess> IProcessLauncher.Start(Pipeline pipeline) => Start(pipeline);

    /// <summary>
    /// Checks what the stage will ask the kernel for against the clone model: clone3 as the stage builds it
    /// (CLONE_PIDFD, CLONE_CLEAR_SIGHAND, CLONE_VM|CLONE_VFORK with its own stack on the fast path), and the
    /// legacy clone it falls back to when the model says clone3 is missing (or the command asks for clone only).
    /// </summary>
    /// <exception cref="CloneRefusedException">The model refuses.</exception>
    internal static void CheckClone(Command c, bool fast, CallerContext context)
    {
        bool sibling = c.Sibling || (c.CloneFlags & CloneFlags.Parent) != 0;
        var flags = c.CloneFlags | (sibling ? CloneFlags.Parent : 0) | CloneFlags.Pidfd
                    | (fast ? CloneFlags.Vm | CloneFlags.Vfork : 0) | Isolation.IsolationPlanner.CloneFlagsOf(c.Isolation);
        ulong exitSignal = (ulong)(c.ExitSignal ?? (sibling ? 0 : Signals.SigChld));
        ulong pidfd = UserPointer.Valid(UserPointer.PidfdField);
        ulong stack = fast ? UserPointer.Valid(UserPointer.ArgsField + 1) : 0;

        // A v2 group is a CLONE_INTO_CGROUP target for clone3: the model checks it (a busy, threaded-domain-invalid
        // or unwritable group is refused here, before the call). The legacy clone cannot carry it; the stage emulates
        // it there (the child writes the group's cgroup.procs first), so the legacy check goes without the flag.
        var group = c.Cgroup?.UnifiedDirectoryHandle is not null ? c.Cgroup : null;
        if (c.CloneEntry != CloneEntryPolicy.LegacyClone)
        {
            var args = new CloneArgs
            {
                Flags = flags | CloneFlags.ClearSighand | (group is null ? 0 : CloneFlags.IntoCgroup),
                Pidfd = pidfd,
                ExitSignal = exitSignal,
                Stack = stack,
                StackSize = fast ? 64 * 1024UL : 0,
                SetTidValues = [.. c.Isolation.SetTid],
                SetTid = c.Isolation.SetTid.IsEmpty ? 0 : UserPointer.Valid(UserPointer.SetTidField),
                SetTidSize = (ulong)c.Isolation.SetTid.Length,
                Cgroup = group is null ? 0 : (ulong)group.UnifiedDirectoryHandle!.DangerousGetHandle(),
            };
            var target = group?.UnifiedTarget ?? default;
            var verdict = CloneRules.Evaluate(CloneCall.Clone3(args, (ulong)Clone3Struct.SmallestSize(args)), context, target); // the stage's size
            if (verdict.Allowed)
                return;
            if (verdict.Errno != Errno.ENOSYS)
                throw new CloneRefusedException("Clone3", verdict, c.ToString());
        }

        var legacy = new CloneArgs { Flags = flags, Pidfd = pidfd, ParentTid = pidfd, ExitSignal = exitSignal, Stack = stack, SetTidValues = [] };
        if (!LegacyCloneRegisters.TryFromArgs(legacy, out var registers, out var why))
            throw new CommandException("CloneFlags", $"legacy clone cannot express this request: {why}");
        var legacyVerdict = CloneRules.Evaluate(CloneCall.Legacy(registers), context);
        if (!legacyVerdict.Allowed)
            throw new CloneRefusedException("Clone", legacyVerdict, c.ToString());
    }

    private ChildProcess StartCore(Command c, bool sync, CommandCache? cache)
    {
        // Made only when the command has pipes or handles (a plain command allocates none of them).
        List<int>? toClose = null;   // every fd created here that is not handed over by the end
        int[]? parentEnds = null;    // the parent's end of each standard-stream pipe, or -1
        Dictionary<int, int>? parentFds = null;
        List<SafeHandle>? references = null;
        int[]? joinFds = null;       // the parent's fd of each namespace join
        try
        {
            if (!c.Isolation.Joins.IsEmpty)
                joinFds = OpenJoins(c, ref toClose, ref references);
            for (int fd = 0; fd <= 2; fd++)
            {
                if (StandardStream(c, fd).Kind != StdioKind.Pipe)
                    continue;
                int rc = _system.Pipe2(out int read, out int write);
                if (rc < 0)
                    throw new SpawnException($"Pipe2(fd {fd})", (Errno)(-rc), null, SpawnHints.ForSetup((Errno)(-rc)), c.ToString());
                toClose ??= [];
                toClose.Add(read);
                toClose.Add(write);
                (int childEnd, int parentEnd) = fd == 0 ? (read, write) : (write, read);
                rc = _system.SetNonBlocking(parentEnd);
                if (rc < 0)
                    throw new SpawnException($"SetNonBlocking(fd {fd})", (Errno)(-rc), null, null, c.ToString());
                (parentFds ??= [])[fd] = childEnd;
                (parentEnds ??= [-1, -1, -1])[fd] = parentEnd;
            }
            for (int fd = 0; fd <= 2; fd++)
                AddHandle(fd, StandardStream(c, fd), ref parentFds, ref references);
            if (SpawnPlanBuilder.OpensFilesInParent(c))
                OpenFiles(c, ref parentFds, ref toClose);
            if (c.Cgroup?.UnifiedDirectoryHandle is { } cgroupHandle)
            {
                // The CLONE_INTO_CGROUP fd: kept open (and its number unrecycled) until the clone is done.
                Hold(cgroupHandle, ref references);
            }
            if (!c.FileDescriptors.IsEmpty)
            {
                foreach (var (fd, stdio) in c.FileDescriptors)
                    AddHandle(fd, stdio, ref parentFds, ref references);
            }

            var inputs = SpawnInputs.Capture(_readParentPid);
            int initFd = -1;
            if (c.Isolation.UsesInit)
            {
                // opened here, before any mount of the child's could cover the file; the child execs it by fd
                initFd = Isolation.ProcFiles.Open(inputs.InitPath, 0x80000 /* O_RDONLY|O_CLOEXEC */, 0);
                if (initFd < 0)
                    throw new SpawnException("Init", (Errno)(-initFd), inputs.InitPath, SpawnHints.ForStep(SpawnOp.Init, (Errno)(-initFd)), c.ToString());
                (toClose ??= []).Add(initFd);
            }
            var model = parentFds is null && cache is not null && joinFds is null && initFd < 0
                ? cache.Model(c, inputs, sync)
                : SpawnPlanBuilder.Build(c, inputs, parentFds ?? s_noParentFds, sync, joinFds, initFd);
            using var plan = SpawnPlan.Create(model);
            var result = FlSpawnResult.Empty;
            long called = Stopwatch.GetTimestamp(); // timed here: the stage's own clock reads are system calls
            int spawned = _system.Spawn(plan.Native, &result);
            var callDuration = Stopwatch.GetElapsedTime(called);
            if (spawned != 0)
                throw Failure(c, plan, result, fast: !sync);
            if (sync)
                RunParentActions(c, plan, &result);

            // The child has exec'd: it holds its ends; the parent keeps the others.
            var pidfd = new SafePidfdHandle(result.Pidfd, _system);
            var path = new SpawnPath(result.UsedClone3 == 1, (Errno)result.Clone3Errno, FastPath: !sync);
            ChildExitWatch watch;
            try
            {
                watch = ChildExitWatch.Start(_system, Reactor, pidfd, result.Pid);
            }
            catch
            {
                // Cannot watch it: do not leave it running unwatched or as a zombie.
                _system.PidfdSendSignal(result.Pidfd, 9);
                _system.PidfdWait(result.Pidfd, ChildExitWatch.WAll, out _, default);
                pidfd.Dispose();
                throw;
            }
            ChildPipeStream? stdin = null, stdout = null, stderr = null;
            if (parentEnds is not null)
            {
                stdin = Stream(0);
                stdout = Stream(1);
                stderr = Stream(2);
            }
            return new ChildProcess(_system, c, result.Pid, pidfd, path, callDuration, watch,
                stdin, stdout, stderr);

            ChildPipeStream? Stream(int fd)
            {
                if (parentEnds[fd] < 0)
                    return null;
                toClose!.Remove(parentEnds[fd]);
                return new ChildPipeStream(_system, Reactor, parentEnds[fd], readable: fd != 0);
            }
        }
        finally
        {
            if (toClose is not null)
            {
                foreach (int fd in toClose)
                    _system.Close(fd);
            }
            if (references is not null)
            {
                foreach (var handle in references)
                    handle.DangerousRelease();
            }
        }
    }

    private static readonly Dictionary<int, int> s_noParentFds = [];

    /// <summary>Opens the command's file streams here (see <see cref="SpawnPlanBuilder.OpensFilesInParent"/>).</summary>
    private static void OpenFiles(Command c, ref Dictionary<int, int>? parentFds, ref List<int>? toClose)
    {
        var cwd = new SpawnInputs(new System.Collections.Hashtable(), System.Environment.CurrentDirectory, 0, 0);
        for (int fd = 0; fd <= 2; fd++)
            Open(fd, StandardStream(c, fd), ref parentFds, ref toClose);
        foreach (var (fd, stdio) in c.FileDescriptors)
            Open(fd, stdio, ref parentFds, ref toClose);

        void Open(int target, Stdio stdio, ref Dictionary<int, int>? parentFds, ref List<int>? toClose)
        {
            if (stdio.Kind != StdioKind.File)
                return;
            string path = SpawnPlanBuilder.FilePath(stdio, cwd);
            int opened = Isolation.ProcFiles.Open(path, SpawnPlanBuilder.FileFlags(stdio) | 0x80000 /* O_CLOEXEC */, SpawnPlanBuilder.FileMode);
            if (opened < 0)
                throw new SpawnException($"Open(fd {target})", (Errno)(-opened), path,
                    SpawnHints.ForStep(SpawnOp.Open, (Errno)(-opened)), c.ToString());
            (toClose ??= []).Add(opened);
            (parentFds ??= [])[target] = opened;
        }
    }

    /// <summary>The fd of each join: a namespace file opened here (closed after the spawn), or a caller's handle.</summary>
    private static int[] OpenJoins(Command c, ref List<int>? toClose, ref List<SafeHandle>? references)
    {
        var joins = c.Isolation.Joins;
        var fds = new int[joins.Length];
        for (int i = 0; i < joins.Length; i++)
        {
            var j = joins[i];
            if (j.Handle is { } handle)
            {
                fds[i] = Hold(handle, ref references);
                continue;
            }
            int fd = Isolation.ProcFiles.OpenReadOnly(j.Path!);
            if (fd < 0)
                throw new SpawnException($"OpenNamespace({Isolation.NamespaceKinds.Format(j.Kinds)})", (Errno)(-fd), j.Path,
                    (Errno)(-fd) == Errno.ENOENT ? "No such namespace file: /proc/PID/ns/TYPE of a live process, or a bind-mounted namespace file." : null,
                    c.ToString());
            (toClose ??= []).Add(fd);
            fds[i] = fd;
        }
        return fds;
    }

    /// <summary>For a handle source: a reference that keeps its fd open and unrecycled until the child has it.</summary>
    private static void AddHandle(int fd, Stdio stdio, ref Dictionary<int, int>? parentFds, ref List<SafeHandle>? references)
    {
        if (stdio.Kind != StdioKind.Handle)
            return;
        (parentFds ??= [])[fd] = Hold(stdio.Handle!, ref references);
    }

    /// <summary>Takes a reference that keeps <paramref name="handle"/>'s fd open and unrecycled until the spawn is done
    /// (released in StartCore's finally); returns the fd.</summary>
    private static int Hold(SafeHandle handle, ref List<SafeHandle>? references)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        (references ??= []).Add(handle);
        return (int)handle.DangerousGetHandle();
    }

    /// <summary>The full path: the child waits at FL_OP_WAIT_PARENT; run the parent's work, then let it go on.</summary>
    private void RunParentActions(Command c, SpawnPlan plan, FlSpawnResult* result)
    {
        var context = new ParentActionContext(result->Pid, result->Pidfd);
        foreach (var action in c.ParentActions)
        {
            try
            {
                action.Run(context);
            }
            catch (Exception e)
            {
                int pid = result->Pid;
                _system.SpawnRelease(result, plan.Native, go: false); // the child gives up without exec and is reaped
                CloseFailedPidfd(result);
                if (e is Isolation.ParentStepException step)
                    throw new SpawnException(step.Step, step.Errno, step.Object,
                        (step.Hint is null ? "" : step.Hint + " ") + "The child gave up before exec and was reaped.",
                        c.ToString(), pid, new SpawnPath(result->UsedClone3 == 1, (Errno)result->Clone3Errno, false), innerException: e);
                throw new SpawnException($"ParentAction({action.Name})", Errno.None, null,
                    "The parent's work between clone and exec failed; the child gave up before exec and was reaped.",
                    c.ToString(), pid, new SpawnPath(result->UsedClone3 == 1, (Errno)result->Clone3Errno, false), innerException: e);
            }
        }
        if (_system.SpawnRelease(result, plan.Native, go: true) != 0)
        {
            var failure = Failure(c, plan, *result, fast: false);
            CloseFailedPidfd(result);
            throw failure;
        }
    }

    private void CloseFailedPidfd(FlSpawnResult* result)
    {
        if (result->Pidfd >= 0)
        {
            _system.Close(result->Pidfd);
            result->Pidfd = -1;
        }
    }

    /// <summary>Maps a failed <c>fl_spawn</c>/<c>fl_spawn_release</c> result to the exception naming its step.</summary>
    internal static SpawnException Failure(Command c, SpawnPlan plan, in FlSpawnResult result, bool fast)
    {
        var errno = (Errno)result.ErrorErrno;
        string commandLine = c.ToString();
        SpawnPath? path = result.Pid > 0 || result.ErrorStep == SpawnStepCode.Clone
            ? new SpawnPath(result.UsedClone3 == 1, (Errno)result.Clone3Errno, fast)
            : null;
        var steps = plan.Model.Steps;
        switch (result.ErrorStep)
        {
            case SpawnStepCode.Clone when result.Pid > 0 && (plan.Model.CloneFlags & (ulong)CloneFlags.IntoCgroup) != 0:
                // After a legacy clone the child enters the v2 group itself (spawn_child.c, join_cgroup) and reports a
                // failure there at FL_STEP_CLONE.
                return new SpawnException("CgroupPlace(unified)", errno, c.Cgroup?.UnifiedDirectory, SpawnHints.ForCgroup(errno), commandLine, result.Pid, path);
            case SpawnStepCode.Clone:
                bool legacy = (plan.Model.Flags & SpawnPlanFlags.NoClone3) != 0 || result.Clone3Errno != 0;
                string? hint = SpawnHints.ForClone(errno)
                    ?? ((plan.Model.CloneFlags & (ulong)CloneFlags.IntoCgroup) != 0 ? SpawnHints.ForCgroup(errno) : null);
                return new CloneFailedException(legacy ? "Clone" : "Clone3", errno, Errno.None, hint, commandLine, path);
            case SpawnStepCode.Exec:
                var attempts = plan.ExecAttempts();
                int index = result.ErrorDetail;
                bool searched = !c.Program.Contains('/');
                string? obj = searched && errno == Errno.ENOENT ? c.Program
                    : index >= 0 && index < plan.Model.ExecPaths.Length ? plan.Model.ExecPaths[index] : null;
                return new SpawnException("Execve", errno, obj, SpawnHints.ForExec(errno, searched, c.Program), commandLine, result.Pid, path, attempts);
            case SpawnStepCode.Setup:
                return new SpawnException("Setup", errno, null, SpawnHints.ForSetup(errno), commandLine, result.Pid, path);
            case SpawnStepCode.Signals:
                return new SpawnException("Signals", errno, null, null, commandLine, result.Pid, path);
            case SpawnStepCode.Sync:
                return new SpawnException("Sync", errno, null, null, commandLine, result.Pid, path);
            case >= 0 when result.ErrorStep < steps.Length:
                var step = steps[result.ErrorStep];
                return new SpawnException(step.Name, errno, step.Object, SpawnHints.ForStep(step.Op, errno), commandLine, result.Pid, path);
            default:
                return new SpawnException($"Step({result.ErrorStep})", errno, null, null, commandLine, result.Pid, path);
        }
    }

    /// <summary>What the launcher remembers about one command instance (see <c>_checked</c>).</summary>
    private sealed class CommandCache(Command command, CallerContext checkedFor)
    {
        private Built? _last;

        /// <summary>The command (the table's key; a value may refer to its key without keeping it alive).</summary>
        public Command Command { get; } = command;

        /// <summary>The caller context the command was validated and clone-checked for.</summary>
        public CallerContext CheckedFor { get; } = checkedFor;

        /// <summary>
        /// The plan model for a start without parent fds: the last one built, when it was built from equal inputs
        /// (record equality: the same environment snapshot, which <see cref="CallerEnvironment"/> keeps while the
        /// environment is unchanged, the same pids, and the current directory read by neither or by both). The
        /// builder is a pure function of the command, the inputs, the parent fds and the path, and the model is
        /// immutable, so reusing it gives the child exactly the plan a new build would.
        /// </summary>
        public PlanModel Model(Command c, SpawnInputs inputs, bool sync)
        {
            var last = Volatile.Read(ref _last);
            if (last is not null && last.Sync == sync && last.Inputs.Equals(inputs))
                return last.Model;
            var model = SpawnPlanBuilder.Build(c, inputs, s_noParentFds, sync);
            Volatile.Write(ref _last, new Built(inputs, sync, model));
            return model;
        }

        private sealed record Built(SpawnInputs Inputs, bool Sync, PlanModel Model);
    }

    private static bool UsesHandles(Command c)
    {
        if (c.StandardInput.Kind == StdioKind.Handle || c.StandardOutput.Kind == StdioKind.Handle || c.StandardError.Kind == StdioKind.Handle)
            return true;
        foreach (var (_, stdio) in c.FileDescriptors)
        {
            if (stdio.Kind == StdioKind.Handle)
                return true;
        }
        return false;
    }

    private static Stdio StandardStream(Command c, int fd) => fd switch
    {
        0 => c.StandardInput,
        1 => c.StandardOutput,
        _ => c.StandardError,
    };
}
