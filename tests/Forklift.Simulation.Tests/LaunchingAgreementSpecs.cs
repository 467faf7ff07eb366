using System.Text;
using Forklift.Processes;
using Forklift.Spawning;
using Xunit.Abstractions;

namespace Forklift.Simulation.Tests;

/// <summary>
/// The same small supervisor code, written against <see cref="IProcessLauncher"/> only, run on the real kernel
/// and on the simulated one: each test body is one static method, and both kernels must give the same
/// observable results. On the simulated kernel the waits happen in virtual time: a 30 s timeout, a 5 s stop
/// bound, 1 s back-offs pass in milliseconds of wall time, and the virtual clock shows exactly how long they took.
/// </summary>
public sealed class LaunchingAgreementSpecs(ITestOutputHelper output)
{
    public static TheoryData<string> Kernels => Rig.Kernels;

    // ---------------------------------------------------------------------------------------------------------
    // The code under test: a tiny supervisor, as a user of Forklift would write it.

    /// <summary>Runs a command and returns what it printed, with its status.</summary>
    private static async Task<(string Output, ExitStatus Status)> Capture(IProcessLauncher launcher, Command command)
    {
        var result = await command.ExecuteBufferedAsync(launcher);
        return (result.StandardOutput, result.ExitStatus);
    }

    /// <summary>Waits for the child up to <paramref name="timeout"/>; if it is still running then, stops it gracefully.</summary>
    private static async Task<(bool TimedOut, ExitStatus Status)> WaitThenStop(IProcessLauncher launcher, TimeProvider time, Command command,
        TimeSpan timeout, TimeSpan bound)
    {
        using var child = launcher.Start(command);
        try
        {
            return (false, await child.WaitForExitAsync().WaitAsync(timeout, time));
        }
        catch (TimeoutException)
        {
            return (true, await child.StopAsync(bound));
        }
    }

    /// <summary>Restarts the command after each failure (with a back-off), at most <paramref name="maxRestarts"/> times.</summary>
    private static async Task<(int Restarts, ExitStatus Final)> Supervise(IProcessLauncher launcher, TimeProvider time, Command command,
        TimeSpan backoff, int maxRestarts)
    {
        for (int restarts = 0; ; restarts++)
        {
            await using var child = launcher.Start(command);
            var status = await child.WaitForExitAsync();
            if (status.Succeeded || restarts == maxRestarts)
            {
                return (restarts, status);
            }
            await Task.Delay(backoff, time);
        }
    }

    /// <summary>Runs a pipeline whose last stage's output is captured; returns it with every stage's status.</summary>
    private static async Task<(string Output, ExitStatus[] Statuses)> RunPipeline(IProcessLauncher launcher, Pipeline pipeline)
    {
        var children = launcher.Start(pipeline);
        try
        {
            using var reader = new StreamReader(children[^1].StandardOutput, Encoding.UTF8);
            string text = await reader.ReadToEndAsync();
            var statuses = await Task.WhenAll(children.Select(c => c.WaitForExitAsync()));
            return (text, statuses);
        }
        finally
        {
            foreach (var c in children)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>Feeds text to a child's standard input, closes it, and reads back what the child printed.</summary>
    private static async Task<(string Output, ExitStatus Status)> RoundTrip(IProcessLauncher launcher, Command command, string input)
    {
        using var child = launcher.Start(command.WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe));
        var reading = new StreamReader(child.StandardOutput, Encoding.UTF8).ReadToEndAsync();
        await child.StandardInput.WriteAsync(Encoding.UTF8.GetBytes(input));
        await child.StandardInput.DisposeAsync();
        string text = await reading;
        return (text, await child.WaitForExitAsync());
    }

    // ---------------------------------------------------------------------------------------------------------
    // The tests: the same bodies on both kernels.

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_command_runs_and_its_output_is_captured(string kernel)
    {
        using var rig = Rig.Create(kernel);

        var (text, status) = await rig.Run(() => Capture(rig.Launcher, Rig.Echo("hello", "world")));

        Assert.Equal("hello world\n", text);
        Assert.Equal(0, status.ExitCode);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task Arguments_environment_and_working_directory_reach_the_program(string kernel)
    {
        using var rig = Rig.Create(kernel);
        var argv = Testee.Run("argv", "one", "two words").WithArgumentZero("zero");
        var env = Testee.Run("env").WithClearedEnvironment().WithEnvironmentVariable("GREETING", "hi").WithEnvironmentVariable("B", "2");
        var cwd = Testee.Run("cwd").WithWorkingDirectory("/tmp");
        var umask = Testee.Run("umask").WithUmask((UnixFileMode)0x3f); // 077

        var outputs = await rig.Run(async () => new[]
        {
            (await Capture(rig.Launcher, argv)).Output,
            (await Capture(rig.Launcher, env)).Output,
            (await Capture(rig.Launcher, cwd)).Output,
            (await Capture(rig.Launcher, umask)).Output,
        });

        Assert.Equal("zero\nargv\none\ntwo words\n", outputs[0]);
        Assert.Equal(["B=2", "GREETING=hi"], outputs[1].Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        Assert.Equal("/tmp\n", outputs[2]);
        Assert.Equal("0077\n", outputs[3]);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task Exit_codes_and_deaths_by_signal_are_reported(string kernel)
    {
        using var rig = Rig.Create(kernel);

        var statuses = await rig.Run(async () => new[]
        {
            await Testee.Run("exit", "3").ExecuteAsync(rig.Launcher),
            await Testee.Run("kill-self", "TERM").ExecuteAsync(rig.Launcher),
            await Testee.Run("kill-self", "SIGINT").WithIgnoredSignals(2).ExecuteAsync(rig.Launcher),
        });

        Assert.Equal(3, statuses[0].ExitCode);
        Assert.Equal(15, statuses[1].Signal);
        Assert.Null(statuses[1].ExitCode);
        Assert.False(statuses[1].CoreDumped);
        Assert.Equal(2, statuses[2].Signal); // the program resets the disposition itself: SIGINT kills it anyway
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_wait_times_out_and_the_child_is_stopped_gracefully(string kernel)
    {
        using var rig = Rig.Create(kernel);
        var sleeper = Rig.Sleep(rig.Timeout * 100);

        var ((timedOut, status), timing) = await rig.Run(() => Timing.Of(rig.Time, () =>
            WaitThenStop(rig.Launcher, rig.Time, sleeper, rig.Timeout, rig.StopBound)));

        output.WriteLine($"{kernel}: timeout {rig.Timeout.TotalMilliseconds} ms, {timing}");
        Assert.True(timedOut);
        Assert.Equal(15, status.Signal); // the stop signal was enough
        Assert.True(timing.Clock >= rig.Timeout, timing.ToString());
        if (rig.IsSimulated)
        {
            Assert.Equal(rig.Timeout, timing.Clock); // the child died of SIGTERM at once, in virtual time
            Assert.True(timing.Wall < rig.Timeout / 10, timing.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_child_that_ignores_SIGTERM_is_killed_after_the_bound(string kernel)
    {
        using var rig = Rig.Create(kernel);
        var stubborn = Rig.Sleep(rig.Timeout * 100).WithIgnoredSignals(15);

        var ((timedOut, status), timing) = await rig.Run(() => Timing.Of(rig.Time, () =>
            WaitThenStop(rig.Launcher, rig.Time, stubborn, rig.Timeout, rig.StopBound)));

        output.WriteLine($"{kernel}: timeout {rig.Timeout.TotalMilliseconds} ms + bound {rig.StopBound.TotalMilliseconds} ms, {timing}");
        Assert.True(timedOut);
        Assert.Equal(9, status.Signal);
        Assert.True(timing.Clock >= rig.Timeout + rig.StopBound, timing.ToString());
        if (rig.IsSimulated)
        {
            Assert.Equal(rig.Timeout + rig.StopBound, timing.Clock);
            Assert.True(timing.Wall < (rig.Timeout + rig.StopBound) / 10, timing.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_cancelled_wait_kills_the_child(string kernel)
    {
        using var rig = Rig.Create(kernel);

        var (signal, sameToken) = await rig.Run(async () =>
        {
            using var cts = new CancellationTokenSource(rig.Timeout, rig.Time);
            using var child = rig.Launcher.Start(Rig.Sleep(rig.Timeout * 100));
            var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => child.WaitForExitAsync(cts.Token));
            var status = await child.WaitForExitAsync();
            return (status.Signal, e.CancellationToken == cts.Token);
        });

        Assert.Equal(9, signal);
        Assert.True(sameToken);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_failing_program_is_restarted_until_it_succeeds(string kernel)
    {
        using var rig = Rig.Create(kernel);

        var ((restarts, final), timing) = await rig.Run(() => Timing.Of(rig.Time, () =>
            Supervise(rig.Launcher, rig.Time, rig.Flaky(failures: 2), rig.Backoff, maxRestarts: 5)));

        output.WriteLine($"{kernel}: 2 back-offs of {rig.Backoff.TotalMilliseconds} ms, {timing}");
        Assert.Equal(2, restarts);
        Assert.Equal(0, final.ExitCode);
        Assert.True(timing.Clock >= 2 * rig.Backoff, timing.ToString());
        if (rig.IsSimulated)
        {
            Assert.Equal(2 * rig.Backoff, timing.Clock); // the programs themselves take no virtual time
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_two_stage_pipeline_passes_data_from_one_to_the_other(string kernel)
    {
        using var rig = Rig.Create(kernel);
        var pipeline = Rig.Echo("hello", "pipeline").PipeTo(Rig.Upcase().WithStandardOutput(Stdio.Pipe));

        var (text, statuses) = await rig.Run(() => RunPipeline(rig.Launcher, pipeline));

        Assert.Equal("HELLO PIPELINE\n", text);
        Assert.All(statuses, s => Assert.Equal(0, s.ExitCode));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task Standard_input_reaches_the_program_and_its_end_is_seen(string kernel)
    {
        using var rig = Rig.Create(kernel);
        string input = string.Concat(Enumerable.Range(0, 2000).Select(i => $"line {i}\n"));

        var (text, status) = await rig.Run(() => RoundTrip(rig.Launcher, Testee.Run("echo"), input));

        Assert.Equal(input, text);
        Assert.Equal(0, status.ExitCode);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public async Task A_missing_program_fails_the_start_with_the_paths_tried(string kernel)
    {
        using var rig = Rig.Create(kernel);

        var e = await rig.Run(() => Task.FromResult(Assert.Throws<SpawnException>(() => rig.Launcher.Start(new Command("no-such-program-xyz")))));

        Assert.Equal("Execve", e.Step);
        Assert.Equal(Abi.Errno.ENOENT, e.Errno);
        Assert.Equal("no-such-program-xyz", e.Object);
        Assert.All(e.ExecAttempts, a => Assert.Equal(Abi.Errno.ENOENT, a.Errno));
        Assert.StartsWith("Starting 'no-such-program-xyz' failed at Execve (no-such-program-xyz): ENOENT", e.Message);
    }

    [Fact]
    public void Exec_failures_carry_the_same_step_errno_object_hint_and_message_on_both_kernels()
    {
        string dir = Directory.CreateTempSubdirectory("forklift-exec-").FullName;
        try
        {
            string file = Path.Combine(dir, "not-executable");
            File.WriteAllText(file, "data\n"); // 0644: no x bit, so EACCES even for root
            var simulated = new Launching.SimulatedProcessLauncher();
            simulated.WriteFile(file, "data\n");
            simulated.Environment["PATH"] = System.Environment.GetEnvironmentVariable("PATH") ?? "";
            Command[] commands = [new(file), new(Path.Combine(dir, "missing")), new("no-such-program-xyz")];

            foreach (var command in commands)
            {
                var real = Assert.Throws<SpawnException>(() => ProcessLauncher.Default.Start(command));
                var sim = Assert.Throws<SpawnException>(() => simulated.Start(command));

                output.WriteLine(sim.Message);
                Assert.Equal((real.Step, real.Errno, real.Object, real.Hint), (sim.Step, sim.Errno, sim.Object, sim.Hint));
                Assert.Equal(real.ExecAttempts.ToArray(), sim.ExecAttempts.ToArray());
                Assert.Equal(real.Message, sim.Message);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
