using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Forklift.Simulation.Launching;

// The driver: how the simulated machine, the host's async code and virtual time take turns.
//
// One step of the driver does the first of these that can be done, in this order:
//   1. the kernel's program steps and timers due at the current virtual time (SimKernel.RunDue);
//   2. the launcher's bookkeeping: pipes (blocked program reads woken, the host's pending reads completed),
//      exits (the host reaps on SIGCHLD, siblings are collected) and the completions of the tasks the host
//      awaits, run here, outside any kernel call (a continuation that runs synchronously may start, signal or
//      wait at once);
//   3. the host's posted continuations (the batch queued so far, FIFO): code awaiting under Run resumes here;
//   4. the host's timers (VirtualTimeProvider) due now, in due order;
//   5. otherwise virtual time jumps to the next instant anything is due (a kernel event or a host timer).
// So within an instant, programs run before the host's code sees their effects, and the host's timers fire
// only once programs and host code have nothing left to do at that instant: a child that exits at t=30 s is
// reaped before a 30 s timeout fires. Host code takes no virtual time: time moves only when the host waits.
// When nothing at all is due and the awaited work is not done, the driver waits (in real time, IdleTimeout)
// for work another thread might post, then reports a deadlock.
public sealed partial class SimulatedProcessLauncher
{
    private readonly Lock _gate = new();
    private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _posted = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly PriorityQueue<(VirtualTimer Timer, int Version), (long Due, long Seq)> _timers = new();
    private readonly List<Action> _completions = [];
    private readonly HashSet<Task> _outstanding = [];
    private readonly DriverContext _context;
    private long _timerSeq;
    private int _driverThread = -1;
    private bool _eager;
    private bool _inKernel;

    /// <summary>
    /// How long (in real time) the driver waits, when nothing in the simulation can happen, for work posted from
    /// another thread (a continuation after real I/O, say) before it reports a deadlock. Default: 2 seconds.
    /// </summary>
    public TimeSpan IdleTimeout
    {
        get => _idleTimeout;
        set
        {
            if (value < TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The idle timeout must be positive, zero or Timeout.InfiniteTimeSpan.");
            }
            _idleTimeout = value;
        }
    }

    private TimeSpan _idleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs <paramref name="body"/> (the code under test) on this thread with the simulation: the body's awaits
    /// resume on this thread (a single-threaded <see cref="SynchronizationContext"/>), the simulated programs run
    /// between them, and virtual time jumps whenever neither can go on. Returns once the body's task is complete
    /// (its exception is rethrown). Deterministic: the same body on the same machine gives the same pids,
    /// outputs and virtual times.
    /// </summary>
    /// <exception cref="SimulationDeadlockException">The body waits for something that can never happen (a child that never exits, a pipe nobody closes).</exception>
    public void Run(Func<Task> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        Run(async () =>
        {
            await body();
            return true;
        });
    }

    /// <inheritdoc cref="Run(Func{Task})"/>
    public T Run<T>(Func<Task<T>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (Volatile.Read(ref _driverThread) == System.Environment.CurrentManagedThreadId)
        {
            throw new InvalidOperationException("Run cannot be nested: the simulation is already driven on this thread (await the work instead).");
        }
        if (!BeginDrive(eager: false))
        {
            throw new InvalidOperationException("Another thread is driving this simulation; it can be driven by one thread at a time.");
        }
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(_context);
        try
        {
            Task<T> task;
            using (Enter())
            {
                task = body();
            }
            DriveUntil(() => task.IsCompleted, task);
            return task.GetAwaiter().GetResult();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            EndDrive();
        }
    }

    /// <summary>
    /// Lets <paramref name="duration"/> of virtual time pass with nothing awaited: programs run, timers fire,
    /// exits are collected, as they would while the host did something else.
    /// </summary>
    public void Advance(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        Run(() => Task.Delay(duration, TimeProvider));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Entry from the API: the lock, and a guard against programs calling the host's launcher.

    internal Lock.Scope Enter()
    {
        var scope = _gate.EnterScope();
        if (_inKernel)
        {
            scope.Dispose();
            throw new InvalidOperationException("A simulated program cannot use the host's launcher: use its ProgramContext (Fork, Spawn, Kill...).");
        }
        return scope;
    }

    internal bool UnderGate(Func<bool> action)
    {
        bool result;
        using (Enter())
        {
            result = action();
        }
        Poke();
        return result;
    }

    /// <summary>Tells an idle driver on another thread that something changed.</summary>
    internal void Poke()
    {
        int driver = Volatile.Read(ref _driverThread);
        if (driver != -1 && driver != System.Environment.CurrentManagedThreadId)
        {
            _wake.Release();
        }
    }

    /// <summary>
    /// Completes a host-visible task later, at the driver's next bookkeeping step (outside kernel calls and
    /// outside the host's own code, so that its continuations run on the driver's terms).
    /// </summary>
    internal void Defer(Action completion)
    {
        using (Enter())
        {
            _completions.Add(completion);
        }
        Poke();
    }

    internal bool OnDriverThread => Volatile.Read(ref _driverThread) == System.Environment.CurrentManagedThreadId;

    private bool BeginDrive(bool eager)
    {
        if (Interlocked.CompareExchange(ref _driverThread, System.Environment.CurrentManagedThreadId, -1) != -1)
        {
            return false;
        }
        _eager = eager;
        return true;
    }

    private void EndDrive()
    {
        _eager = false;
        Volatile.Write(ref _driverThread, -1);
    }

    /// <summary>
    /// What an asynchronous operation of the launcher, a child or a stream returns for <paramref name="task"/>:
    /// under <see cref="Run{T}"/> the task itself (the driver completes it); with no driver at all, the
    /// simulation is driven here until the task is complete (and until whatever its completion started on this
    /// thread is complete too), so a test that awaits a child without <c>Run</c> works as long as it waits for
    /// one thing at a time.
    /// </summary>
    internal Task<T> Drive<T>(Task<T> task)
    {
        if (task.IsCompleted)
        {
            return task;
        }
        if (OnDriverThread)
        {
            if (_eager)
            {
                _outstanding.Add(task);
            }
            return task;
        }
        if (!BeginDrive(eager: true))
        {
            Poke();
            return task; // another thread drives: it will complete it
        }
        try
        {
            DriveUntil(() => task.IsCompleted && NothingOutstanding(), task);
        }
        catch (SimulationDeadlockException e) when (!task.IsCompleted)
        {
            return Task.FromException<T>(e);
        }
        finally
        {
            _outstanding.Clear();
            EndDrive();
        }
        return task;
    }

    internal Task Drive(Task task) => Drive(Wrap(task));

    private static async Task<bool> Wrap(Task task)
    {
        await task.ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Blocks until <paramref name="done"/> holds by driving the simulation on this thread (nested, when this
    /// thread already drives it). False, without waiting, when another thread drives: the caller then waits for
    /// its asynchronous counterpart.
    /// </summary>
    internal bool TryDriveSync(Func<bool> done)
    {
        if (done())
        {
            return true;
        }
        if (OnDriverThread)
        {
            // A synchronous wait inside Run: a nested drive on the same thread (the simulation cannot advance
            // otherwise; continuations still run in order, from this point of the stack).
            DriveUntil(done, null);
            return true;
        }
        if (!BeginDrive(eager: true))
        {
            return false;
        }
        try
        {
            DriveUntil(() => done() && NothingOutstanding(), null);
        }
        finally
        {
            _outstanding.Clear();
            EndDrive();
        }
        return true;
    }

    private bool NothingOutstanding()
    {
        _outstanding.RemoveWhere(t => t.IsCompleted);
        return _outstanding.Count == 0;
    }

    // ---------------------------------------------------------------------------------------------------------
    // The loop.

    private void DriveUntil(Func<bool> done, Task? awaited)
    {
        // The driver's own work (kernel steps, completions, timers) runs with no synchronization context: a
        // continuation that does not capture one (ConfigureAwait(false), library code) then runs inline, on this
        // thread, instead of being sent to the thread pool (the runtime does not inline under a foreign context);
        // one that captured the Run context is posted to it. Only the posted callbacks run under the Run context.
        var saved = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            DriveLoop(done, awaited);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(saved);
        }
    }

    private void DriveLoop(Func<bool> done, Task? awaited)
    {
        while (true)
        {
            using (Enter())
            {
                if (done())
                {
                    return;
                }
                if (Step())
                {
                    continue;
                }
                // Eager drives stop at the first idle moment once their own task is done.
                if (_eager && awaited is { IsCompleted: true })
                {
                    return;
                }
            }
            if (done())
            {
                return;
            }
            if (!_wake.Wait(IdleTimeout))
            {
                using (Enter())
                {
                    if (done() || Step())
                    {
                        continue;
                    }
                    if (_eager && awaited is { IsCompleted: true })
                    {
                        return;
                    }
                    throw new SimulationDeadlockException(DescribeDeadlock());
                }
            }
        }
    }

    /// <summary>One unit of progress (see the order at the top of this file); false when nothing can happen.</summary>
    private bool Step()
    {
        long now = Kernel.Now;
        if (Kernel.NextEventTime is { } due && due <= now)
        {
            InKernel(static k => k.RunDue());
            return true;
        }
        if (Reconcile())
        {
            return true;
        }
        if (RunPosted())
        {
            return true;
        }
        if (FireDueTimers())
        {
            return true;
        }
        long? next = Kernel.NextEventTime;
        if (NextTimer() is { } t && (next is null || t < next))
        {
            next = t;
        }
        if (next is { } at)
        {
            long delta = Math.Max(0, at - now);
            InKernel(k => k.Advance(delta));
            return true;
        }
        return false;
    }

    private void InKernel(Action<SimKernel> action)
    {
        _inKernel = true;
        try
        {
            action(Kernel);
        }
        finally
        {
            _inKernel = false;
        }
    }

    private bool RunPosted()
    {
        int n = _posted.Count;
        if (n == 0)
        {
            return false;
        }
        SynchronizationContext.SetSynchronizationContext(_context);
        try
        {
            for (int i = 0; i < n && _posted.TryDequeue(out var item); i++)
            {
                item.Callback(item.State);
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(null);
        }
        return true;
    }

    // Pipes, exits and the host-visible completions they cause.
    private bool Reconcile()
    {
        bool progress = _io.Service(_completions);
        // /dev/null swallows what is written to it (the model's file would keep it).
        if (Kernel.FindFile("/dev/null") is { Content.Length: > 0 } devNull)
        {
            devNull.Content.Clear();
        }
        if (Host.Group.Delivered is { Count: > 0 } delivered)
        {
            bool sigchld = delivered.Contains(Abi.Signals.SigChld);
            delivered.Clear();
            if (sigchld)
            {
                ReapChildren(_completions);
            }
        }
        if (_siblings.Count > 0)
        {
            CollectSiblings(_completions);
        }
        if (_completions.Count == 0)
        {
            return progress;
        }
        var run = _completions.ToArray();
        _completions.Clear();
        foreach (var completion in run)
        {
            completion();
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Timers of the virtual clock.

    internal void EnqueueTimer(VirtualTimer timer, long due) => _timers.Enqueue((timer, timer.Version), (due, ++_timerSeq));

    private long? NextTimer()
    {
        while (_timers.TryPeek(out var e, out var key))
        {
            if (e.Timer.Version == e.Version && !e.Timer.Disposed)
            {
                return key.Due;
            }
            _timers.Dequeue(); // changed or disposed since
        }
        return null;
    }

    private bool FireDueTimers()
    {
        bool fired = false;
        long now = Kernel.Now;
        while (NextTimer() is { } due && due <= now)
        {
            var (timer, _) = _timers.Dequeue();
            timer.Fire();
            fired = true;
        }
        return fired;
    }

    // ---------------------------------------------------------------------------------------------------------
    // The synchronization context of Run.

    private sealed class DriverContext(SimulatedProcessLauncher launcher) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
            launcher._posted.Enqueue((d, state));
            launcher.Poke();
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            if (launcher.OnDriverThread)
            {
                d(state);
                return;
            }
            using var done = new ManualResetEventSlim();
            Post(s =>
            {
                try
                {
                    d(s);
                }
                finally
                {
                    done.Set();
                }
            }, state);
            done.Wait();
        }

        public override SynchronizationContext CreateCopy() => this;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Deadlock report.

    private string DescribeDeadlock()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"The simulation is idle at t={Kernel.Now} ms and the awaited work cannot complete: nothing is scheduled, no timer is pending, and no other thread posted work for {IdleTimeout.TotalSeconds:0.#} s.");
        foreach (var line in _io.DescribeWaiters())
        {
            sb.Append("\n  ").Append(line);
        }
        foreach (var p in Kernel.Processes())
        {
            if (p == Kernel.Init || p == Host || p.State == TaskState.Reaped)
            {
                continue;
            }
            sb.Append(CultureInfo.InvariantCulture, $"\n  process {SimKernel.Label(p)} ({p.ProgramPath ?? "no program"}): {SimKernel.Describe(p)}");
        }
        foreach (var c in _children.Values)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\n  the host has not reaped process {c.Pid} ({c.Command.Program}) yet");
        }
        return sb.ToString();
    }
}

/// <summary>The code driven by a <see cref="SimulatedProcessLauncher"/> waits for something that can never happen.</summary>
public sealed class SimulationDeadlockException : InvalidOperationException
{
    /// <summary>An exception with a description of what is blocked.</summary>
    public SimulationDeadlockException(string message)
        : base(message)
    {
    }
}
