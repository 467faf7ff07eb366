using Forklift.Abi;
using Forklift.Processes;
using Forklift.Spawning;

namespace Forklift.Tests.Spawning;

/// <summary>
/// <see cref="ChildProcessBase"/> as an extension point: a child on a kernel of the test's own (it records the
/// signals it is sent and dies of those it does not ignore) gets the same wait, stop and signal rules as the
/// real and the simulated ones.
/// </summary>
public sealed class ChildProcessBaseSpecs
{
    private const int SIGTERM = 15;
    private const int SIGKILL = 9;

    /// <summary>A child on a toy kernel: signals go into a list; a signal it does not ignore ends it at once.</summary>
    private sealed class ToyChild(Command command, params int[] ignored) : ChildProcessBase(command, 4242, null, null, null)
    {
        private readonly TaskCompletionSource<ExitStatus> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<int> Sent { get; } = [];

        public Errno RefuseWith { get; set; }

        protected override Task<ExitStatus> Exit => _exit.Task;

        protected override bool SignalCore(int signal)
        {
            lock (Sent)
            {
                if (_exit.Task.IsCompleted)
                    return SignalOutcome(signal, Errno.ESRCH);
                if (RefuseWith != Errno.None)
                    return SignalOutcome(signal, RefuseWith);
                Sent.Add(signal);
                if (signal != 0 && !ignored.Contains(signal))
                    _exit.TrySetResult(ExitStatus.Killed(signal));
                return true;
            }
        }

        public override void Dispose() => Kill();

        public override ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static readonly Command Program = new("/toy/program");

    [Fact(Timeout = 30_000)]
    public async Task A_child_that_ignores_its_stop_signal_is_killed_once_the_stop_timeout_has_passed()
    {
        var child = new ToyChild(Program, SIGTERM);

        var status = await child.StopAsync(TimeSpan.FromMilliseconds(20));

        Assert.Equal([SIGTERM, SIGKILL], child.Sent);
        Assert.Equal(SIGKILL, status.Signal);
        Assert.True(child.HasExited);
        Assert.Same(status, child.ExitStatus);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_child_that_obeys_its_stop_signal_is_not_killed()
    {
        var child = new ToyChild(Program.WithGracefulStop(2, TimeSpan.FromSeconds(30)));

        var status = await child.StopAsync();

        Assert.Equal([2], child.Sent);
        Assert.Equal(2, status.Signal);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_forceful_cancellation_kills_the_child_and_the_wait_throws_with_that_token()
    {
        var child = new ToyChild(Program, SIGTERM);
        using var forceful = new CancellationTokenSource();
        using var graceful = new CancellationTokenSource();
        var wait = child.WaitForExitAsync(forceful.Token, graceful.Token);
        Assert.False(wait.IsCompleted);

        await forceful.CancelAsync();
        await graceful.CancelAsync(); // too late: the first cancellation wins

        var e = await Assert.ThrowsAsync<OperationCanceledException>(() => wait);
        Assert.Equal(forceful.Token, e.CancellationToken);
        Assert.Equal([SIGKILL], child.Sent);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_graceful_cancellation_sends_the_stop_signal_first()
    {
        var child = new ToyChild(Program);
        using var graceful = new CancellationTokenSource();
        var wait = child.WaitForExitAsync(gracefulCancellation: graceful.Token);

        await graceful.CancelAsync();

        var e = await Assert.ThrowsAsync<OperationCanceledException>(() => wait);
        Assert.Equal(graceful.Token, e.CancellationToken);
        Assert.Equal([SIGTERM], child.Sent);
    }

    [Fact]
    public void Signals_are_checked_before_the_kernel_sees_them_and_a_gone_child_answers_false()
    {
        var child = new ToyChild(Program, 10);

        Assert.Throws<ArgumentOutOfRangeException>(() => child.Signal(Signals.Max + 1));
        Assert.Empty(child.Sent);
        Assert.True(child.Signal(10));
        child.RefuseWith = Errno.EPERM;
        var e = Assert.Throws<ForkliftException>(() => child.Signal(10));
        Assert.Contains("pidfd_send_signal(SIGUSR1) to process 4242 failed: EPERM", e.Message);
        child.RefuseWith = Errno.None;
        Assert.True(child.Kill());
        Assert.False(child.Signal(0));
        Assert.Equal([10, SIGKILL], child.Sent);
    }

    [Fact]
    public void A_stream_that_is_not_a_pipe_says_how_to_get_one()
    {
        var child = new ToyChild(Program);

        var e = Assert.Throws<InvalidOperationException>(() => child.StandardOutput);
        Assert.Contains("WithStandardOutput(Stdio.Pipe)", e.Message);
        Assert.Equal("pid 4242 (/toy/program)", child.ToString());
    }
}
