using System.Diagnostics;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Interop;

namespace Forklift.Tests.Spawning;

/// <summary>Waiting, cancelling, stopping, signalling and disposing children; living next to System.Diagnostics.Process.</summary>
[Collection(HostResourceCollection.Name)]
public sealed class LifecycleSpecs
{
    [Fact(Timeout = 30_000)]
    public async Task I_can_cancel_a_wait_and_the_child_is_killed_and_reaped()
    {
        await using var guard = SpawnGuard.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        using var child = Testee.Run("sleep", "20000").Start();

        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => child.WaitForExitAsync(cts.Token));

        Assert.Equal(cts.Token, e.CancellationToken);
        Assert.True(child.HasExited);
        Assert.Equal(9, child.ExitStatus!.Signal);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_cancel_a_wait_gracefully_and_the_child_gets_the_stop_signal_first()
    {
        await using var guard = SpawnGuard.Start();
        using var cts = new CancellationTokenSource();
        using var polite = Testee.Run("sleep", "20000").Start();
        using var stubborn = Testee.Run("sleep", "20000").WithIgnoredSignals(15).WithGracefulStop(15, TimeSpan.FromMilliseconds(300)).Start();

        var politeWait = polite.WaitForExitAsync(gracefulCancellation: cts.Token);
        var stubbornWait = stubborn.WaitForExitAsync(gracefulCancellation: cts.Token);
        var stopwatch = Stopwatch.StartNew();
        cts.Cancel();
        var e1 = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => politeWait);
        var e2 = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stubbornWait);

        Assert.Equal(cts.Token, e1.CancellationToken);
        Assert.Equal(cts.Token, e2.CancellationToken);
        Assert.Equal(15, polite.ExitStatus!.Signal);
        Assert.Equal(9, stubborn.ExitStatus!.Signal); // SIGTERM ignored: SIGKILL after the bound
        Assert.True(stopwatch.ElapsedMilliseconds >= 250, $"{stopwatch.ElapsedMilliseconds} ms");
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_stop_a_child_gracefully_with_a_bound()
    {
        await using var guard = SpawnGuard.Start();
        using var child = Testee.Run("sleep", "20000").Start();
        using var deaf = Testee.Run("sleep", "20000").WithIgnoredSignals(15).Start();

        var status = await child.StopAsync(TimeSpan.FromSeconds(5));
        var forced = await deaf.StopAsync(TimeSpan.FromMilliseconds(200));

        Assert.Equal(15, status.Signal);
        Assert.Equal(9, forced.Signal);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_signal_a_running_child_and_signalling_after_exit_returns_false()
    {
        await using var guard = SpawnGuard.Start();
        using var child = Testee.Run("sigwait", "USR1").WithStandardOutput(Stdio.Pipe).Start();
        var reader = new StreamReader(child.StandardOutput);
        Assert.Equal("ready", await reader.ReadLineAsync());

        Assert.True(child.Signal(0));
        Assert.True(child.Signal(10));
        var status = await child.WaitForExitAsync();

        Assert.Equal(0, status.ExitCode);
        Assert.False(child.Signal(15));
        Assert.False(child.Kill());
        Assert.Throws<ArgumentOutOfRangeException>(() => child.Signal(65));
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_get_the_status_of_a_child_that_exits_before_start_returns()
    {
        await using var guard = SpawnGuard.Start();

        // exit 0 happens within the vfork window: the pidfd is readable before the reactor ever sees it.
        var children = Enumerable.Range(0, 50).Select(i => Testee.Run("exit", (i % 7).ToString()).Start()).ToList();
        var statuses = await Task.WhenAll(children.Select(c => c.WaitForExitAsync()));

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (int?)(i % 7)), statuses.Select(s => s.ExitCode));
        children.ForEach(c => c.Dispose());
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_dispose_a_running_child_and_it_is_killed()
    {
        await using var guard = SpawnGuard.Start();
        var child = Testee.Run("sleep", "20000").Start();
        int pid = child.Pid;

        child.Dispose();
        var status = await child.WaitForExitAsync();

        Assert.Equal(9, status.Signal);
        Assert.True(await Eventually.True(() => !Host.Exists(pid)));
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_detach_a_child_on_dispose_and_it_is_still_reaped_when_it_exits()
    {
        await using var guard = SpawnGuard.Start();
        var child = Testee.Run("sleep", "300").WithDisposeBehavior(ChildDisposal.Detach).Start();
        int pid = child.Pid;

        child.Dispose();
        bool runningAfterDispose = Host.Exists(pid) && !child.HasExited;
        var status = await child.WaitForExitAsync();

        Assert.True(runningAfterDispose);
        Assert.Equal(0, status.ExitCode);
        Assert.True(await Eventually.True(() => !Host.Exists(pid)), "no zombie");
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_dispose_a_running_child_asynchronously_and_it_is_reaped_when_the_call_returns()
    {
        await using var guard = SpawnGuard.Start();
        var child = Testee.Run("sleep", "20000").Start();

        await child.DisposeAsync();

        Assert.True(child.HasExited);
        Assert.DoesNotContain(child.Pid, Host.Children());
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_use_Process_first_and_then_Forklift()
    {
        using (var before = Process.Start(new ProcessStartInfo(Testee.Path, "exit 4") { RedirectStandardOutput = true })!)
        {
            await before.WaitForExitAsync();
            Assert.Equal(4, before.ExitCode);
        }
        await using var guard = SpawnGuard.Start();

        var status = await Testee.Run("exit", "5").ExecuteAsync();

        Assert.Equal(5, status.ExitCode);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_use_Forklift_first_and_then_Process()
    {
        ExitStatus status;
        await using (SpawnGuard.Start()) // ends before Process creates its runtime-wide SIGCHLD pipe
            status = await Testee.Run("exit", "5").ExecuteAsync();

        using var after = Process.Start(new ProcessStartInfo(Testee.Path, "write-out 3") { RedirectStandardOutput = true })!;
        var output = await after.StandardOutput.ReadToEndAsync();
        await after.WaitForExitAsync();

        Assert.Equal(5, status.ExitCode);
        Assert.Equal("abc", output);
        Assert.Equal(0, after.ExitCode);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_run_Process_and_Forklift_children_at_the_same_time_and_each_gets_its_own_status()
    {
        using (Process.Start(Testee.Path, "exit 0")!)
        {
        }
        await using var guard = SpawnGuard.Start();

        var ours = Enumerable.Range(0, 40).Select(i => Task.Run(() => Testee.Run("exit", (i % 5).ToString()).ExecuteAsync())).ToList();
        var theirs = Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            using var p = Process.Start(new ProcessStartInfo(Testee.Path, $"exit {i % 3}"))!;
            await p.WaitForExitAsync();
            return p.ExitCode;
        })).ToList();
        var ourStatuses = await Task.WhenAll(ours);
        var theirCodes = await Task.WhenAll(theirs);

        Assert.Equal(Enumerable.Range(0, 40).Select(i => (int?)(i % 5)), ourStatuses.Select(s => s.ExitCode));
        Assert.All(ourStatuses, s => Assert.Equal(ExitStatusSource.Waited, s.Source));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => i % 3), theirCodes);
    }
}
