using System.Collections.Immutable;
using Forklift.Abi;
using Forklift.Processes;
using Forklift.Simulation.Programs;
using Forklift.Spawning;

namespace Forklift.Simulation.Launching;

/// <summary>
/// An <see cref="IProcessLauncher"/> on a simulated machine: commands start C# program behaviours registered
/// by path (<see cref="Programs"/>), in a <see cref="SimKernel"/>, in virtual time. Code written against
/// <see cref="IProcessLauncher"/> and <see cref="IChildProcess"/> runs unchanged; its test wraps it in
/// <see cref="Run{T}(Func{Task{T}})"/>, which drives the simulation and the code's continuations on one thread,
/// deterministically, and lets virtual time jump whenever nothing can run (a 30 s timeout elapses in
/// microseconds).
/// </summary>
/// <remarks>
/// <para>The machine: the global init (pid 1, which reaps whatever it inherits) and the host (pid 2, its child):
/// the simulated counterpart of the .NET process that calls the launcher. Children are the host's, created as
/// the real launcher creates them: the command goes through the same validation, the same clone-model check
/// and the same plan (<c>SpawnPlanBuilder</c>), whose steps run as simulated system calls (see the README's
/// "Testing against the simulated launcher" for what is honoured). Errors are the real launcher's exceptions.</para>
/// <para>Thread safety: every member may be called from any thread (one lock guards the machine), but the
/// simulation advances on one thread at a time: inside <see cref="Run{T}(Func{Task{T}})"/>, or inside a call
/// that has to wait while no <c>Run</c> is active.</para>
/// </remarks>
public sealed partial class SimulatedProcessLauncher : IProcessLauncher, IPipelineKernel<SimulatedChildProcess>
{
    private readonly SimIo _io;
    private readonly Dictionary<int, SimulatedChildProcess> _children = [];   // the host's, by pid, until reaped
    private readonly List<SimulatedChildProcess> _siblings = [];              // CLONE_PARENT children, until reaped

    /// <summary>A machine with an init, a host task and the built-in programs (see <see cref="ProgramRegistry"/>).</summary>
    /// <param name="options">The simulated kernel's settings (default: the reference machine).</param>
    public SimulatedProcessLauncher(SimKernelOptions? options = null)
    {
        Kernel = new SimKernel(options);
        _io = SimIo.Of(Kernel);
        TimeProvider = new VirtualTimeProvider(this);
        _context = new DriverContext(this);
        var init = Kernel.Init;
        if (!Kernel.Fork(init, out var host).Ok || host is null)
        {
            throw new InvalidOperationException("the simulated init could not fork the host task");
        }
        Host = host;
        // The host records every catchable signal instead of dying of it (a real .NET process handles SIGCHLD,
        // SIGTERM, SIGINT...; here a child's exit signal, whatever it is, must not end the simulation). Only its
        // SIGCHLDs matter: they tell the driver to reap.
        for (int sig = 1; sig <= Signals.Max; sig++)
        {
            if (sig is not (9 or 19))
            {
                Kernel.Sigaction(host, sig, SignalAction.Handle);
            }
        }
        // init reaps orphans and the siblings (CLONE_PARENT) of the host: it waits for any child, and pauses
        // when it has none until a SIGCHLD (handled, so the pause ends with EINTR).
        Kernel.StartProgram(init, Reaper, ["/sbin/init"]);
        Kernel.RunDue();
        Environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = ExecResolver.DefaultPath,
            ["HOME"] = "/root",
            ["LANG"] = "C.UTF-8",
        };
    }

    private static IEnumerable<ProgramStep> Reaper(ProgramContext ctx)
    {
        ctx.Handle(Signals.SigChld, static (_, _) => { });
        while (true)
        {
            yield return ctx.Wait(-1, SimWait.All);
            if (ctx.LastResult.Errno == Errno.ECHILD)
            {
                yield return ctx.Pause();
            }
        }
    }

    /// <summary>The simulated kernel (for inspection, traces and scenarios; calls on it bypass the launcher).</summary>
    public SimKernel Kernel { get; }

    /// <summary>The host task: the caller of the launcher on the simulated machine, parent of every child it starts.</summary>
    public SimTask Host { get; }

    /// <summary>The programs commands can run, by path (the kernel's registry).</summary>
    public ProgramRegistry Programs => Kernel.Programs;

    /// <summary>
    /// The virtual clock. Use it wherever the code under test takes a <see cref="System.TimeProvider"/> (timeouts,
    /// delays, cancellation after a time) so that its waits are in virtual time too.
    /// </summary>
    public VirtualTimeProvider TimeProvider { get; }

    /// <summary>
    /// The host's environment: what children inherit (unless a command clears it) and whose PATH resolves
    /// program names. Default: PATH=/usr/local/bin:/usr/bin:/bin, HOME=/root, LANG=C.UTF-8.
    /// </summary>
    public IDictionary<string, string> Environment { get; }

    /// <summary>The host's working directory (relative paths in commands are made absolute against it). Default: /.</summary>
    public string WorkingDirectory
    {
        get => Host.Fs.Cwd;
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            using (Enter())
            {
                Kernel.Chdir(Host, value);
            }
        }
    }

    /// <summary>What programs wrote to the console: the standard streams a command inherits from the host.</summary>
    public string ConsoleOutput
    {
        get
        {
            using (Enter())
            {
                return Kernel.FindFile("/dev/console")?.Content.ToString() ?? "";
            }
        }
    }

    /// <summary>The text of a file of the simulated machine (a <see cref="Stdio.File(string, StdioFileMode)"/> target, say), or null if it does not exist.</summary>
    public string? ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using (Enter())
        {
            return Kernel.FindFile(path)?.Content.ToString();
        }
    }

    /// <summary>Creates (or replaces) a file of the simulated machine with <paramref name="text"/>; a command can then read it.</summary>
    public void WriteFile(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(text);
        using (Enter())
        {
            var r = Kernel.Open(Host, path, SimConst.OCreat | SimConst.OCloexec);
            if (!r.Ok)
            {
                throw new IOException($"cannot create {path} on the simulated machine: {ErrnoInfo.Name(r.Errno)}");
            }
            var file = Host.Files.Get((int)r.Value)!.File!;
            file.Content.Clear().Append(text);
            Kernel.Close(Host, (int)r.Value);
        }
    }

    /// <summary>
    /// Starts <paramref name="command"/> on the simulated machine and returns once its program is exec'd (it first
    /// runs when the simulation next advances). Throws what <see cref="ProcessLauncher.Start(Command)"/> throws:
    /// <see cref="CommandException"/>, <see cref="CloneRefusedException"/>, <see cref="SpawnException"/> (ENOENT
    /// for a path no program is registered at, with every PATH candidate tried; EACCES for a file of the model that
    /// is not a program), and with the same messages.
    /// </summary>
    /// <exception cref="CommandException">The command is invalid, or uses a real handle (<see cref="StdioKind.Handle"/>) the simulated machine cannot see.</exception>
    public SimulatedChildProcess Start(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        using (Enter())
        {
            CommandValidator.Validate(command);
            RefuseHandles(command);
            ProcessLauncher.CheckClone(command, fast: true, Kernel.ContextOf(Host));

            Dictionary<int, int>? childEnds = null;   // child fd -> the host's fd of the child's end
            int[]? parentEnds = null;                 // the host's end of each standard-stream pipe, or -1
            SimPipe?[]? pipes = null;
            bool started = false;
            try
            {
                for (int fd = 0; fd <= 2; fd++)
                {
                    if (StandardStream(command, fd).Kind != StdioKind.Pipe)
                    {
                        continue;
                    }
                    var r = _io.CreatePipe(Host, cloexec: true, out int read, out int write, out var pipe);
                    if (!r.Ok)
                    {
                        throw new SpawnException($"Pipe2(fd {fd})", r.Errno, null, SpawnHints.ForSetup(r.Errno), command.ToString());
                    }
                    (int childEnd, int parentEnd) = fd == 0 ? (read, write) : (write, read);
                    (childEnds ??= [])[fd] = childEnd;
                    (parentEnds ??= [-1, -1, -1])[fd] = parentEnd;
                    (pipes ??= new SimPipe?[3])[fd] = pipe;
                }

                var inputs = new SpawnInputs((System.Collections.IDictionary)new Dictionary<string, string>(Environment, StringComparer.Ordinal),
                    Host.Fs.Cwd, SimKernel.PidIn(Host, Host), SimKernel.PidIn(Host.RealParent!, Host));
                var plan = SpawnPlanBuilder.Build(command, inputs, childEnds ?? s_none, sync: false);
                var environment = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
                foreach (var (name, value) in plan.Environment)
                {
                    environment[name.ToString()] = value.ToString();
                }

                var result = SimulatedStage.Spawn(Kernel, _io, Host, command, plan, environment.ToImmutable());
                SimulatedPipeStream? Stream(int fd) =>
                    parentEnds is null || parentEnds[fd] < 0 ? null : new SimulatedPipeStream(this, pipes![fd]!, parentEnds[fd], readable: fd != 0);
                var child = new SimulatedChildProcess(this, command, result, Stream(0), Stream(1), Stream(2));
                if (result.Child.RealParent == Host)
                {
                    _children.Add(child.Pid, child);
                }
                else
                {
                    _siblings.Add(child);
                }
                started = true;
                return child;
            }
            finally
            {
                // The child has its ends (or failed): the host keeps only its own.
                if (childEnds is not null)
                {
                    foreach (var (_, fd) in childEnds)
                    {
                        Kernel.Close(Host, fd);
                    }
                }
                if (!started && parentEnds is not null)
                {
                    foreach (int fd in parentEnds)
                    {
                        if (fd >= 0)
                        {
                            Kernel.Close(Host, fd);
                        }
                    }
                }
            }
        }
    }

    IChildProcess IProcessLauncher.Start(Command command) => Start(command);

    /// <summary>
    /// Starts a pipeline as <see cref="ProcessLauncher.Start(Pipeline)"/> does: each command's standard output is
    /// the write end of a simulated pipe whose read end is the next command's standard input; the host keeps
    /// neither end. If one fails to start, those already started are killed before the exception propagates.
    /// </summary>
    /// <exception cref="CommandException">A command sets a stream the pipeline connects.</exception>
    public IReadOnlyList<SimulatedChildProcess> Start(Pipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        using (Enter())
        {
            return PipelineStarter.Start(pipeline, this);
        }
    }

    Errno IPipelineKernel<SimulatedChildProcess>.CreatePipe(out int readEnd, out int writeEnd) =>
        _io.CreatePipe(Host, cloexec: true, out readEnd, out writeEnd, out _).Errno;

    void IPipelineKernel<SimulatedChildProcess>.Close(int fd) => Kernel.Close(Host, fd);

    SimulatedChildProcess IPipelineKernel<SimulatedChildProcess>.Start(Command command) => Start(command);

    IReadOnlyList<IChildProcess> IProcessLauncher.Start(Pipeline pipeline) => Start(pipeline);

    private static readonly Dictionary<int, int> s_none = [];

    private static Stdio StandardStream(Command c, int fd) => fd switch
    {
        0 => c.StandardInput,
        1 => c.StandardOutput,
        _ => c.StandardError,
    };

    private static void RefuseHandles(Command c)
    {
        for (int fd = 0; fd <= 2; fd++)
        {
            var s = StandardStream(c, fd);
            if (s.Kind == StdioKind.Handle)
            {
                throw new CommandException(fd == 0 ? "StandardInput" : fd == 1 ? "StandardOutput" : "StandardError", HandleMessage);
            }
        }
        foreach (var (fd, s) in c.FileDescriptors)
        {
            if (s.Kind == StdioKind.Handle)
            {
                throw new CommandException($"FileDescriptors[{fd}]", HandleMessage);
            }
        }
    }

    private const string HandleMessage =
        "is a SafeHandle, which holds a real fd the simulated machine cannot see: use Stdio.Pipe, Stdio.File or Stdio.Null";

    /// <summary>A duration as kernel ticks (milliseconds), rounded up so that nothing happens early.</summary>
    internal static long ToTicks(TimeSpan t) => t <= TimeSpan.Zero ? 0 : (t.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;

    /// <summary>Called by the driver when the host has been told of a child's exit (SIGCHLD): reaps every exited child.</summary>
    private void ReapChildren(List<Action> completions)
    {
        while (true)
        {
            var r = Kernel.Waitid(Host, WaitConst.PAll, 0, WaitConst.WExited | WaitConst.WNohang | WaitConst.WAll, out var info);
            if (!r.Ok || info.Pid == 0)
            {
                break;
            }
            if (_children.Remove(info.Pid, out var child))
            {
                var status = new ExitStatus(info.Status, ExitStatusSource.Simulated);
                completions.Add(() => child.Exited(status));
            }
        }
    }

    // A sibling's parent (init) reaps it; its status is then read back from the task, as PIDFD_INFO_EXIT gives a
    // real sibling's status once its own parent has reaped it.
    private void CollectSiblings(List<Action> completions)
    {
        for (int i = _siblings.Count - 1; i >= 0; i--)
        {
            var child = _siblings[i];
            var t = child.Task;
            if (t.State != TaskState.Reaped)
            {
                continue;
            }
            _siblings.RemoveAt(i);
            int raw = t.Group.GroupExit ? t.Group.GroupExitCode : t.ExitCode;
            var status = new ExitStatus(raw, ExitStatusSource.Simulated);
            completions.Add(() => child.Exited(status));
        }
    }
}
