using System.Globalization;
using Forklift.Abi;

namespace Forklift.Simulation.Programs;

/// <summary>A program: a C# iterator that makes system calls through its context and yields blocking steps.</summary>
/// <param name="ctx">The running program's context.</param>
public delegate IEnumerable<ProgramStep> ProgramBody(ProgramContext ctx);

/// <summary>What a program step asks for.</summary>
public enum StepKind
{
    /// <summary>Sleep in virtual time (<c>nanosleep</c>).</summary>
    Sleep,
    /// <summary><c>wait4(pid, options)</c>, blocking unless WNOHANG.</summary>
    Wait,
    /// <summary><c>exit_group(code)</c>.</summary>
    Exit,
    /// <summary><c>execve(path, argv)</c>.</summary>
    Exec,
    /// <summary><c>pause()</c>: until a handled signal (or death).</summary>
    Pause,
    /// <summary>Let other programs run at the same virtual time.</summary>
    Yield,
}

/// <summary>A blocking step yielded by a program. Build with the <see cref="ProgramContext"/> methods.</summary>
public readonly record struct ProgramStep(StepKind Kind, long Ticks = 0, int Pid = -1, int Options = 0, int Code = 0,
    string? Path = null, IReadOnlyList<string>? Argv = null);

/// <summary>Programs by path. Built-ins: /bin/true, /bin/false, /bin/exit N, /bin/sleep N, /bin/echo ..., /bin/pause, /sbin/init.</summary>
public sealed class ProgramRegistry
{
    private readonly Dictionary<string, ProgramBody> _programs = new(StringComparer.Ordinal);

    /// <summary>Registers (or replaces) the program at <paramref name="path"/>.</summary>
    public void Register(string path, ProgramBody body) => _programs[path] = body;

    /// <summary>Finds a program.</summary>
    public bool TryGet(string path, out ProgramBody body) => _programs.TryGetValue(path, out body!);

    /// <summary>The registered paths, sorted.</summary>
    public IReadOnlyList<string> Paths => _programs.Keys.Order(StringComparer.Ordinal).ToArray();

    internal void RegisterBuiltins()
    {
        Register("/bin/true", c => [c.Exit(0)]);
        Register("/bin/false", c => [c.Exit(1)]);
        Register("/bin/exit", c => [c.Exit(c.Args.Count > 1 ? int.Parse(c.Args[1], CultureInfo.InvariantCulture) : 0)]);
        Register("/bin/sleep", Sleep);
        Register("/bin/echo", Echo);
        Register("/bin/pause", Pause);
        Register("/sbin/init", Reaper);
    }

    private static IEnumerable<ProgramStep> Sleep(ProgramContext c)
    {
        yield return c.Sleep(c.Args.Count > 1 ? long.Parse(c.Args[1], CultureInfo.InvariantCulture) : 0);
        yield return c.Exit(0);
    }

    private static IEnumerable<ProgramStep> Echo(ProgramContext c)
    {
        c.Write(1, string.Join(' ', c.Args.Skip(1)) + "\n");
        yield return c.Exit(0);
    }

    private static IEnumerable<ProgramStep> Pause(ProgramContext c)
    {
        while (true)
        {
            yield return c.Pause();
        }
    }

    // An init: reaps every child (__WALL) forever.
    private static IEnumerable<ProgramStep> Reaper(ProgramContext c)
    {
        while (true)
        {
            yield return c.Wait(-1, SimWait.All);
            if (c.LastResult.Errno == Errno.ECHILD)
            {
                yield return c.Pause();
            }
        }
    }
}

/// <summary>Short names for wait options used by programs.</summary>
public static class SimWait
{
    /// <summary><c>__WALL</c>.</summary>
    public const int All = WaitConst.WAll;
}

/// <summary>
/// The view a running program has: its task, its argv, the result of its last call, and the calls it can make.
/// Calls that return at once are methods (Fork, Spawn, Write, Kill, ...); calls that block or end the program are
/// steps to yield (Sleep, Wait, Exit, Exec, Pause).
/// </summary>
public sealed class ProgramContext
{
    internal ProgramContext(SimKernel kernel, SimTask task, IReadOnlyList<string> args)
    {
        Kernel = kernel;
        Task = task;
        Args = args;
    }

    /// <summary>The machine.</summary>
    public SimKernel Kernel { get; }
    /// <summary>The task running the program.</summary>
    public SimTask Task { get; internal set; }
    /// <summary>argv.</summary>
    public IReadOnlyList<string> Args { get; }
    /// <summary>The result of the last call or step.</summary>
    public SysResult LastResult { get; internal set; }
    /// <summary>What the last wait reported.</summary>
    public WaitInfo LastWait { get; internal set; }

    /// <summary><c>fork()</c>; the child runs <paramref name="child"/> (or nothing: it stays idle until killed).</summary>
    public SysResult Fork(ProgramBody? child = null)
    {
        var r = Kernel.Fork(Task, out var c);
        if (c is not null && child is not null)
        {
            Kernel.StartProgram(c, child, Args);
        }
        return LastResult = r;
    }

    /// <summary>fork + execve in the child (like posix_spawn); the pid, or the fork's error.</summary>
    public SysResult Spawn(string path, params string[] args)
    {
        var r = Kernel.Fork(Task, out var c);
        if (c is not null)
        {
            var e = Kernel.Execve(c, path, [path, .. args]);
            if (!e.Ok)
            {
                Kernel.ExitGroup(c, 127);
            }
        }
        return LastResult = r;
    }

    /// <summary><c>write(fd, text)</c>.</summary>
    public SysResult Write(int fd, string text) => LastResult = Kernel.Write(Task, fd, text);

    /// <summary><c>kill(pid, sig)</c>.</summary>
    public SysResult Kill(int pid, int sig) => LastResult = Kernel.Kill(Task, pid, sig);

    /// <summary><c>getpid()</c>.</summary>
    public int Getpid() => (int)Kernel.Getpid(Task).Value;

    /// <summary>Ignores a signal (SIG_IGN).</summary>
    public SysResult Ignore(int sig) => LastResult = Kernel.Sigaction(Task, sig, SignalAction.Ignore);

    /// <summary>Installs a handler; it runs when the signal is delivered.</summary>
    public SysResult Handle(int sig, Action<ProgramContext, int> handler) =>
        LastResult = Kernel.Sigaction(Task, sig, SignalAction.Handle, handler: handler);

    /// <summary>A step: sleep <paramref name="ticks"/> of virtual time.</summary>
    public ProgramStep Sleep(long ticks) => new(StepKind.Sleep, Ticks: ticks);
    /// <summary>A step: <c>wait4(pid, options)</c>; the result is in <see cref="LastResult"/> and <see cref="LastWait"/>.</summary>
    public ProgramStep Wait(int pid = -1, int options = 0) => new(StepKind.Wait, Pid: pid, Options: options);
    /// <summary>A step: <c>exit_group(code)</c>.</summary>
    public ProgramStep Exit(int code) => new(StepKind.Exit, Code: code);
    /// <summary>A step: <c>execve(path, argv)</c> (on failure the program goes on with the errno in <see cref="LastResult"/>).</summary>
    public ProgramStep Exec(string path, params string[] args) => new(StepKind.Exec, Path: path, Argv: [path, .. args]);
    /// <summary>A step: <c>pause()</c>.</summary>
    public ProgramStep Pause() => new(StepKind.Pause);
    /// <summary>A step: let others run first.</summary>
    public ProgramStep Yield() => new(StepKind.Yield);
}

/// <summary>A program running in a task: its iterator, advanced by the kernel's event loop.</summary>
internal sealed class ProgramRun
{
    private readonly IEnumerator<ProgramStep> _steps;
    private bool _done;

    public ProgramRun(SimKernel kernel, SimTask task, ProgramBody body, IReadOnlyList<string> argv)
    {
        Context = new ProgramContext(kernel, task, argv);
        _steps = body(Context).GetEnumerator();
    }

    public ProgramContext Context { get; }

    public void Resume(SysResult r, WaitInfo w)
    {
        Context.LastResult = r;
        Context.LastWait = w;
    }

    // Runs the program until it blocks, yields, exits or execs.
    public static void Step(SimKernel k, SimTask t)
    {
        var run = t.Program;
        if (run is null || run._done || t.State != TaskState.Running || t.Block is not null || t.Exiting)
        {
            return;
        }
        int generation = t.Generation;
        while (true)
        {
            bool more;
            try
            {
                more = run._steps.MoveNext();
            }
            catch (SimulationException) when (t.Generation != generation || !t.Alive)
            {
                return; // the program killed or replaced itself mid-step
            }
            if (t.Generation != generation || !t.Alive || t.Program != run)
            {
                return;
            }
            if (!more)
            {
                run._done = true;
                k.ExitGroup(t, 0); // returning from main
                return;
            }
            var s = run._steps.Current;
            switch (s.Kind)
            {
                case StepKind.Exit:
                    run._done = true;
                    k.ExitGroup(t, s.Code);
                    return;
                case StepKind.Exec:
                    var e = k.Execve(t, s.Path!, s.Argv);
                    if (e.Ok)
                    {
                        run._done = true;
                        return;
                    }
                    run.Context.LastResult = e;
                    break;
                case StepKind.Sleep:
                    k.BlockSleep(t, s.Ticks);
                    return;
                case StepKind.Pause:
                    k.BlockPause(t);
                    return;
                case StepKind.Yield:
                    k.Schedule(t, k.Now);
                    return;
                case StepKind.Wait:
                    var r = k.Wait4(t, s.Pid, s.Options, out var info);
                    if (r.Blocked)
                    {
                        return;
                    }
                    run.Resume(r, info);
                    break;
            }
            if (t.Generation != generation || !t.Alive || t.State != TaskState.Running)
            {
                return;
            }
        }
    }
}
