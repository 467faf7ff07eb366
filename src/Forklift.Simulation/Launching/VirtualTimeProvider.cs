namespace Forklift.Simulation.Launching;

/// <summary>
/// The simulated machine's clock as a <see cref="TimeProvider"/>: <see cref="SimKernel.Now"/> ticks, one tick a
/// millisecond, counted from <see cref="Epoch"/>. Timers made here (<c>Task.Delay(t, provider)</c>,
/// <c>new CancellationTokenSource(t, provider)</c>, <c>task.WaitAsync(t, provider)</c>) fire in virtual time,
/// when the launcher's driver reaches their instant (see <see cref="SimulatedProcessLauncher.Run(Func{Task})"/>),
/// on the driver's thread; a due time is rounded up to the next whole tick, so a timer never fires early.
/// </summary>
public sealed class VirtualTimeProvider : TimeProvider
{
    private readonly SimulatedProcessLauncher _launcher;

    internal VirtualTimeProvider(SimulatedProcessLauncher launcher) => _launcher = launcher;

    /// <summary>The wall-clock time of virtual time 0: the Unix epoch.</summary>
    public static DateTimeOffset Epoch => DateTimeOffset.UnixEpoch;

    /// <summary>Virtual time since the machine started.</summary>
    public TimeSpan Elapsed => TimeSpan.FromMilliseconds(_launcher.Kernel.Now);

    /// <inheritdoc/>
    public override DateTimeOffset GetUtcNow() => Epoch + Elapsed;

    /// <inheritdoc/>
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>Ticks per second of <see cref="GetTimestamp"/>: 1000 (a tick is a millisecond).</summary>
    public override long TimestampFrequency => 1000;

    /// <inheritdoc/>
    public override long GetTimestamp() => _launcher.Kernel.Now;

    /// <inheritdoc/>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new VirtualTimer(_launcher, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }
}

/// <summary>A timer of the virtual clock; its schedule lives in the launcher's timer queue.</summary>
internal sealed class VirtualTimer : ITimer
{
    private readonly SimulatedProcessLauncher _launcher;
    private readonly TimerCallback _callback;
    private readonly object? _state;
    // ExecutionContext flows into the callback as it does for the system's timers (AsyncLocal values).
    private readonly ExecutionContext? _context = ExecutionContext.Capture();

    public VirtualTimer(SimulatedProcessLauncher launcher, TimerCallback callback, object? state)
    {
        _launcher = launcher;
        _callback = callback;
        _state = state;
    }

    /// <summary>Bumped by every Change and Dispose: queue entries of an older version are ignored.</summary>
    public int Version { get; private set; }

    public long Period { get; private set; }

    public bool Disposed { get; private set; }

    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        Check(dueTime, nameof(dueTime));
        Check(period, nameof(period));
        return _launcher.UnderGate(() =>
        {
            if (Disposed)
            {
                return false;
            }
            Version++;
            Period = period == Timeout.InfiniteTimeSpan ? 0 : SimulatedProcessLauncher.ToTicks(period);
            if (dueTime != Timeout.InfiniteTimeSpan)
            {
                _launcher.EnqueueTimer(this, _launcher.Kernel.Now + SimulatedProcessLauncher.ToTicks(dueTime));
            }
            return true;
        });
    }

    public void Fire()
    {
        if (Period > 0)
        {
            _launcher.EnqueueTimer(this, _launcher.Kernel.Now + Period);
        }
        if (_context is null)
        {
            _callback(_state);
        }
        else
        {
            ExecutionContext.Run(_context, static s => { var t = (VirtualTimer)s!; t._callback(t._state); }, this);
        }
    }

    public void Dispose() => _launcher.UnderGate(() =>
    {
        Disposed = true;
        Version++;
        return true;
    });

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private static void Check(TimeSpan t, string name)
    {
        if (t != Timeout.InfiniteTimeSpan && t < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, t, "A timer's time must be positive, zero or Timeout.InfiniteTimeSpan.");
        }
    }
}
