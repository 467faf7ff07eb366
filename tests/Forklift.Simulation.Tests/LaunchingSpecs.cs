using System.Diagnostics;
using System.Text;
using Forklift.Abi;
using Forklift.Processes;
using Forklift.Simulation.Launching;
using Forklift.Simulation.Programs;
using Forklift.Spawning;
using Xunit.Abstractions;

namespace Forklift.Simulation.Tests;

/// <summary>The simulated launcher on its own: what the model honours, pidfd semantics, the driver, virtual time.</summary>
public sealed class LaunchingSpecs(ITestOutputHelper output)
{
    private static SimulatedProcessLauncher NewLauncher(SimKernelOptions? options = null)
    {
        var launcher = new SimulatedProcessLauncher(options);
        SimulatedTestee.Register(launcher);
        return launcher;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Starting: the plan's options as the model honours them, and the real launcher's errors.

    [Fact]
    public void A_started_child_is_the_hosts_child_and_runs_the_registered_program()
    {
        var l = NewLauncher();

        var child = l.Start(Testee.Run("sleep", "10"));

        Assert.Equal(1, SimKernel.PidIn(l.Host.RealParent!, l.Host)); // the host is init's child
        Assert.Equal(2, SimKernel.PidIn(l.Host, l.Host));
        Assert.Equal(3, child.Pid);
        Assert.Same(l.Host, child.Task.RealParent);
        Assert.Equal(Testee.Path, child.Task.ProgramPath);
        Assert.Equal(new SpawnPath(UsedClone3: true, Errno.None, FastPath: true), child.SpawnPath);
        Assert.False(child.HasExited);
        Assert.Equal(TaskState.Running, l.Host.State); // released from vfork by the exec
    }

    [Fact]
    public void Only_the_requested_fds_survive_into_the_child()
    {
        var l = NewLauncher();
        l.WriteFile("/etc/motd", "hi");

        var child = l.Start(Testee.Run("sleep", "10").WithStandardOutput(Stdio.Pipe).WithStandardInput(Stdio.Null)
            .WithFileDescriptor(5, Stdio.File("/var/log/five")));

        var open = Enumerable.Range(0, child.Task.Files.Capacity).Where(fd => child.Task.Files.Get(fd) is not null).ToArray();
        Assert.Equal([0, 1, 2, 5], open);
        Assert.Equal("/dev/null", child.Task.Files.Get(0)!.Path);
        Assert.StartsWith("pipe:[", child.Task.Files.Get(1)!.Path);
        Assert.Equal("/dev/console", child.Task.Files.Get(2)!.Path);
        Assert.Equal("/var/log/five", child.Task.Files.Get(5)!.Path);
        Assert.All(open, fd => Assert.False(child.Task.Files.IsCloexec(fd)));
        // The host keeps its pidfd and the read end of the pipe, nothing else of the child's.
        Assert.Equal(3 + 2, l.Host.Files.Count);
    }

    [Fact]
    public void Files_are_truncated_appended_and_read_as_the_command_says()
    {
        var l = NewLauncher();
        l.WriteFile("/tmp/in", "from a file\n");
        l.WriteFile("/tmp/out", "old content\n");
        l.WriteFile("/tmp/log", "first\n");

        l.Run(async () =>
        {
            await Testee.Run("echo").WithStandardInput(Stdio.File("/tmp/in", StdioFileMode.Read))
                .WithStandardOutput(Stdio.File("/tmp/out")).ExecuteAsync(l);
            await Testee.Run("argv", "second").WithStandardOutput(Stdio.File("/tmp/log", StdioFileMode.Append)).ExecuteAsync(l);
            await Testee.Run("argv").WithStandardOutput(Stdio.Null).ExecuteAsync(l);
        });

        Assert.Equal("from a file\n", l.ReadFile("/tmp/out"));
        Assert.Equal($"first\n{Testee.Path}\nargv\nsecond\n", l.ReadFile("/tmp/log"));
        Assert.Equal("", l.ReadFile("/dev/null"));
    }

    [Fact]
    public void Inherited_streams_write_to_the_hosts_console()
    {
        var l = NewLauncher();

        var status = l.Run(() => Rig.Echo("to the console").ExecuteAsync(l));

        Assert.Equal(0, status.ExitCode);
        Assert.Equal("to the console\n", l.ConsoleOutput);
    }

    [Fact]
    public void A_failing_step_is_reported_as_the_real_launcher_reports_it_and_the_child_is_reaped()
    {
        var l = NewLauncher();

        var e = Assert.Throws<SpawnException>(() => l.Start(Testee.Run("echo").WithStandardInput(Stdio.File("/no/such/file", StdioFileMode.Read))));

        Assert.Equal("Open(fd 0)", e.Step);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("/no/such/file", e.Object);
        Assert.Equal("The file, or its directory, does not exist.", e.Hint);
        Assert.Equal(3, e.Pid);
        Assert.Equal(TaskState.Reaped, l.Kernel.FindTask(3)?.State ?? TaskState.Reaped);
        Assert.Empty(l.Host.Children);
        Assert.Equal(3, l.Host.Files.Count); // its pidfd is closed again
    }

    [Fact]
    public void What_the_model_does_not_have_is_refused_with_ENOSYS_or_the_errno_Linux_gives()
    {
        var l = NewLauncher();

        var mask = Assert.Throws<SpawnException>(() => l.Start(Testee.Run("sleep", "1").WithBlockedSignals(10)));
        var tty = Assert.Throws<SpawnException>(() => l.Start(Testee.Run("sleep", "1").WithNewSession(controllingTerminal: 0)));
        var handle = Assert.Throws<CommandException>(() => l.Start(Testee.Run("sleep", "1").WithStandardOutput(Stdio.FromHandle(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false)))));

        Assert.Equal(("Signals", Errno.ENOSYS), (mask.Step, mask.Errno));
        Assert.Equal(("SetCtty(fd 0)", Errno.ENOTTY), (tty.Step, tty.Errno));
        Assert.Equal("StandardOutput", handle.Option);
    }

    [Fact]
    public void The_clone_model_refuses_before_anything_is_created()
    {
        var l = NewLauncher(new SimKernelOptions { InitUid = 1000 }); // no capabilities

        var e = Assert.Throws<CloneRefusedException>(() => l.Start(Testee.Run("sleep", "1").WithCloneFlags(CloneFlags.NewNet)));

        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Equal("Clone3", e.Step);
        Assert.Empty(l.Host.Children);
    }

    [Fact]
    public void Clone_flags_the_model_allows_take_effect()
    {
        var l = NewLauncher();

        var child = l.Start(Testee.Run("sleep", "10").WithCloneFlags(CloneFlags.NewPid | CloneFlags.NewUts));

        Assert.Equal(1, child.Task.Pid.Nr); // init of its own pid namespace
        Assert.Equal(3, child.Pid);         // as the host sees it
        Assert.NotSame(l.Host.Ns.Uts, child.Task.Ns.Uts);
        Assert.Same(l.Host.Ns.Net, child.Task.Ns.Net);
    }

    [Fact]
    public void A_legacy_clone_resets_the_handlers_by_hand()
    {
        var l = NewLauncher();

        var child = l.Start(Testee.Run("sleep", "10").WithCloneEntry(CloneEntryPolicy.LegacyClone).WithIgnoredSignals(10));

        Assert.Equal(new SpawnPath(UsedClone3: false, Errno.None, FastPath: true), child.SpawnPath);
        Assert.Equal(SignalAction.Default, child.Task.Sighand.Get(15)); // the host handles SIGTERM; the child does not
        Assert.Equal(SignalAction.Ignore, child.Task.Sighand.Get(10));
    }

    [Fact]
    public void Session_process_group_and_credentials_are_set_in_the_child()
    {
        var l = NewLauncher();

        var leader = l.Start(Testee.Run("sleep", "10").WithNewSession());
        var member = l.Start(Testee.Run("sleep", "10").WithProcessGroup(0).WithUser(1000).WithResourceLimit(ResourceLimit.Nofile, 64, 64));

        Assert.True(leader.Task.Group.SessionLeader);
        Assert.Equal(leader.Pid, leader.Task.Group.Session.NrAtLevel(0));
        Assert.Equal(member.Pid, member.Task.Group.Pgrp.NrAtLevel(0));
        Assert.Equal(1000u, member.Task.Cred.Uid);
        Assert.Equal(64, member.Task.Group.RlimitNofile);
    }

    [Fact]
    public void A_sibling_is_the_child_of_the_hosts_parent_and_its_status_is_still_read()
    {
        var l = NewLauncher();

        var status = l.Run(async () =>
        {
            await using var child = l.Start(Testee.Run("exit", "4").AsSibling());
            Assert.Same(l.Kernel.Init, child.Task.RealParent);
            return await child.WaitForExitAsync();
        });

        Assert.Equal(4, status.ExitCode);
        Assert.Equal(2, l.Kernel.ProcessCount); // init and the host: init reaped the sibling
    }

    [Fact]
    public void A_custom_exit_signal_does_not_hurt_the_host()
    {
        var l = NewLauncher();

        var status = l.Run(() => Testee.Run("exit", "0").WithExitSignal(10).ExecuteAsync(l));

        Assert.Equal(0, status.ExitCode);
        Assert.True(l.Host.Alive);
    }

    [Fact]
    public void Names_are_looked_up_in_the_hosts_PATH_and_the_paths_tried_are_reported()
    {
        var l = NewLauncher();
        l.Programs.Register("/opt/tools/bin/hello", ctx => [ctx.Exit(7)]);
        l.WriteFile("/usr/bin/hello", "#!/bin/sh\n"); // a file, but not a program: EACCES, remembered
        l.Environment["PATH"] = "/usr/bin:/bin";

        var e = Assert.Throws<SpawnException>(() => l.Start(new Command("hello")));
        l.Environment["PATH"] = "/usr/bin:/opt/tools/bin";
        var status = l.Run(() => new Command("hello").ExecuteAsync(l));

        Assert.Equal((Errno.EACCES, "/usr/bin/hello"), (e.Errno, e.Object));
        Assert.Equal([new ExecAttempt("/usr/bin/hello", Errno.EACCES), new ExecAttempt("/bin/hello", Errno.ENOENT)], e.ExecAttempts.ToArray());
        Assert.Equal(7, status.ExitCode);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Signals through the pidfd, stopping, disposing.

    [Fact]
    public void A_signal_to_a_reaped_child_fails_and_never_reaches_the_task_that_got_its_pid()
    {
        // pid_max 320: after 319 the numbers wrap to 300 (RESERVED_PIDS), so a pid from 300 up comes back soon.
        var l = NewLauncher(new SimKernelOptions { PidMax = 320 });
        SimulatedChildProcess? old = null, reuser = null;

        l.Run(async () =>
        {
            for (int i = 0; i < 1000 && reuser is null; i++)
            {
                var c = l.Start(Testee.Run("sleep", "100000"));
                if (old is null && c.Pid >= 300)
                {
                    old = c; // reaped below, kept as a handle
                }
                else if (old is not null && c.Pid == old.Pid)
                {
                    reuser = c;
                    break;
                }
                c.Kill();
                await c.WaitForExitAsync();
                if (c != old)
                {
                    c.Dispose(); // its pidfd too: the host's fds are limited (RLIMIT_NOFILE)
                }
            }
        });

        Assert.NotNull(reuser);
        Assert.False(old!.Kill());
        Assert.False(old.Signal(0));
        l.Advance(TimeSpan.FromSeconds(1));
        Assert.False(reuser!.HasExited);
        Assert.Equal(TaskState.Running, reuser.Task.State);
        Assert.True(reuser.Signal(0));
    }

    [Fact]
    public void Signals_are_checked_and_delivered()
    {
        var l = NewLauncher();
        var child = l.Start(Testee.Run("sleep", "100000"));

        Assert.Throws<ArgumentOutOfRangeException>(() => child.Signal(65));
        Assert.True(child.Signal(0));
        Assert.True(child.Signal(3)); // SIGQUIT: core by default
        var status = l.Run(() => child.WaitForExitAsync());
        child.Dispose();

        Assert.Equal(3, status.Signal);
        Assert.False(status.CoreDumped); // the model writes no cores (RLIMIT_CORE=0 behaviour)
        Assert.Equal(ExitStatusSource.Simulated, status.Source);
        Assert.Throws<ObjectDisposedException>(() => child.Signal(0));
    }

    [Fact]
    public void A_program_that_ignores_SIGTERM_itself_is_killed_after_the_bound_in_virtual_time()
    {
        var l = NewLauncher();
        l.Programs.Register("/usr/bin/stubborn", Stubborn);

        var (status, elapsed) = l.Run(async () =>
        {
            using var child = l.Start(new Command("/usr/bin/stubborn"));
            // Let it run first: a SIGTERM before it ignores the signal would kill it (as on Linux).
            await Task.Delay(TimeSpan.FromSeconds(1), l.TimeProvider);
            long start = l.TimeProvider.GetTimestamp();
            var s = await child.StopAsync(TimeSpan.FromMinutes(2));
            return (s, l.TimeProvider.GetElapsedTime(start));
        });

        Assert.Equal(9, status.Signal);
        Assert.Equal(TimeSpan.FromMinutes(2), elapsed);

        static IEnumerable<ProgramStep> Stubborn(ProgramContext ctx)
        {
            ctx.Ignore(15);
            while (true)
            {
                yield return ctx.Sleep(TimeSpan.FromHours(1));
            }
        }
    }

    [Fact]
    public void A_program_that_handles_SIGTERM_says_goodbye_and_exits()
    {
        var l = NewLauncher();
        l.Programs.Register("/usr/bin/polite", Polite);

        var (status, text, at) = l.Run(async () =>
        {
            using var child = l.Start(new Command("/usr/bin/polite").WithStandardOutput(Stdio.Pipe));
            var reading = new StreamReader(child.StandardOutput).ReadToEndAsync();
            await Task.Delay(TimeSpan.FromSeconds(10), l.TimeProvider);
            var s = await child.StopAsync();
            return (s, await reading, l.TimeProvider.Elapsed);
        });

        Assert.Equal(0, status.ExitCode);
        Assert.Equal("working\nbye\n", text);
        Assert.Equal(TimeSpan.FromSeconds(10), at);

        static IEnumerable<ProgramStep> Polite(ProgramContext ctx)
        {
            bool stop = false;
            ctx.Handle(15, (_, _) => stop = true);
            ctx.Write(1, "working\n");
            while (!stop)
            {
                yield return ctx.Sleep(TimeSpan.FromMinutes(1)); // EINTR when the handler runs
            }
            ctx.Write(1, "bye\n");
            yield return ctx.Exit(0);
        }
    }

    [Fact]
    public void A_graceful_cancellation_stops_the_child_and_throws_with_the_token()
    {
        var l = NewLauncher();

        var (e, status) = l.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3), l.TimeProvider);
            using var child = l.Start(Testee.Run("sleep", "100000"));
            var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => child.WaitForExitAsync(gracefulCancellation: cts.Token));
            Assert.Equal(cts.Token, ex.CancellationToken);
            return (ex, child.ExitStatus);
        });

        Assert.Contains("was stopped", e.Message);
        Assert.Equal(15, status!.Signal);
    }

    [Fact]
    public void Disposing_kills_or_detaches_as_the_command_says_and_the_host_still_reaps()
    {
        var l = NewLauncher();

        var (killed, detached) = l.Run(async () =>
        {
            var k = l.Start(Testee.Run("sleep", "100000"));
            var d = l.Start(Testee.Run("sleep", "5000").WithDisposeBehavior(ChildDisposal.Detach));
            await k.DisposeAsync();
            d.Dispose();
            await Task.Delay(TimeSpan.FromSeconds(6), l.TimeProvider);
            return (k, d);
        });

        Assert.Equal(9, killed.ExitStatus!.Signal);
        Assert.Equal(0, detached.ExitStatus!.ExitCode); // ran to its end, then was reaped
        Assert.Equal(TaskState.Reaped, detached.Task.State);
        Assert.Empty(l.Host.Children);
        Assert.Equal(3, l.Host.Files.Count); // pidfds closed
    }

    // ---------------------------------------------------------------------------------------------------------
    // Streams.

    [Fact]
    public void A_megabyte_of_output_is_captured_whole()
    {
        var l = NewLauncher();

        var result = l.Run(() => Testee.Run("write-out", "1048576").ExecuteBufferedAsync(l));

        Assert.Equal(1048576, result.StandardOutputBytes.Length);
        Assert.True(result.StandardOutputBytes.Select((b, i) => b == (byte)('a' + i % 26)).All(x => x));
    }

    [Fact]
    public void Writing_to_a_child_that_closed_its_input_is_a_broken_pipe()
    {
        var l = NewLauncher();

        var e = l.Run(async () =>
        {
            using var child = l.Start(Testee.Run("exit", "0").WithStandardInput(Stdio.Pipe));
            await child.WaitForExitAsync();
            return await Assert.ThrowsAsync<IOException>(() => child.StandardInput.WriteAsync(new byte[] { 1 }).AsTask());
        });

        Assert.Contains("EPIPE", e.Message);
    }

    [Fact]
    public void A_program_writing_into_a_pipe_nobody_reads_dies_of_SIGPIPE()
    {
        var l = NewLauncher();
        l.Programs.Register("/usr/bin/yes", Yes);

        var status = l.Run(async () =>
        {
            using var child = l.Start(new Command("/usr/bin/yes").WithStandardOutput(Stdio.Pipe));
            var buffer = new byte[2];
            int n = await child.StandardOutput.ReadAsync(buffer);
            Assert.Equal(2, n);
            await child.StandardOutput.DisposeAsync();
            return await child.WaitForExitAsync();
        });

        Assert.Equal(13, status.Signal);

        static IEnumerable<ProgramStep> Yes(ProgramContext ctx)
        {
            while (true)
            {
                ctx.WriteText(1, "y\n");
                yield return ctx.Sleep(1);
            }
        }
    }

    [Fact]
    public void A_synchronous_read_drives_the_simulation()
    {
        var l = NewLauncher();

        var child = l.Start(Testee.Run("argv", "sync").WithStandardOutput(Stdio.Pipe));
        string text = new StreamReader(child.StandardOutput).ReadToEnd();

        Assert.Equal($"{Testee.Path}\nargv\nsync\n", text);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Programs that spawn, environment.

    [Fact]
    public void A_program_can_spawn_and_wait_for_children_of_its_own()
    {
        var l = NewLauncher();
        l.Programs.Register("/usr/bin/parallel", Parallel);

        var (text, status) = l.Run(async () =>
        {
            var r = await new Command("/usr/bin/parallel").ExecuteBufferedAsync(l);
            return (r.StandardOutput, r.ExitStatus);
        });

        Assert.Equal(0, status.ExitCode);
        Assert.Equal("both done at 300\n", text);

        static IEnumerable<ProgramStep> Parallel(ProgramContext ctx)
        {
            ctx.Spawn(Testee.Path, "sleep", "200");
            ctx.Spawn(Testee.Path, "sleep", "300");
            yield return ctx.Wait();
            yield return ctx.Wait();
            ctx.Write(1, $"both done at {ctx.Kernel.Now}\n");
            yield return ctx.Exit(0);
        }
    }

    [Fact]
    public void The_environment_is_the_hosts_with_the_commands_changes()
    {
        var l = NewLauncher();
        l.Environment["FROM_HOST"] = "1";
        l.Environment["DROPPED"] = "x";

        var text = l.Run(async () => (await Testee.Run("env").WithEnvironmentVariable("ADDED", "2").WithoutEnvironmentVariable("DROPPED").ExecuteBufferedAsync(l)).StandardOutput);

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("FROM_HOST=1", lines);
        Assert.Contains("ADDED=2", lines);
        Assert.Contains("PATH=/usr/local/bin:/usr/bin:/bin", lines);
        Assert.DoesNotContain(lines, x => x.StartsWith("DROPPED=", StringComparison.Ordinal));
    }

    // ---------------------------------------------------------------------------------------------------------
    // The driver: determinism, deadlocks, waiting without Run, speed.

    [Fact]
    public void The_same_code_gives_the_same_trace_pids_and_times()
    {
        string Trace()
        {
            var l = NewLauncher();
            var sb = new StringBuilder();
            l.Kernel.Trace = line => sb.AppendLine(line);
            l.Run(async () =>
            {
                var a = l.Start(Testee.Run("sleep", "30"));
                var b = l.Start(Testee.Run("echo").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe));
                var echoed = new StreamReader(b.StandardOutput).ReadToEndAsync();
                await b.StandardInput.WriteAsync("x"u8.ToArray());
                await Task.Delay(TimeSpan.FromMilliseconds(10), l.TimeProvider);
                await b.StandardInput.DisposeAsync();
                await Task.WhenAll(a.WaitForExitAsync(), b.WaitForExitAsync(), echoed);
                sb.AppendLine($"done at {l.Kernel.Now}: {await echoed}");
            });
            return sb.ToString();
        }

        string first = Trace();
        Assert.Equal(first, Trace());
        Assert.Contains("done at 30: x", first);
    }

    [Fact]
    public void Waiting_for_what_cannot_happen_is_reported_as_a_deadlock()
    {
        var l = NewLauncher();
        l.IdleTimeout = TimeSpan.FromMilliseconds(50);

        var e = Assert.Throws<SimulationDeadlockException>(() => l.Run(async () =>
        {
            using var child = l.Start(Testee.Run("echo").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe));
            // Reads the output to its end before closing the input: the echo never sees its end of file.
            await new StreamReader(child.StandardOutput).ReadToEndAsync();
        }));

        Assert.Contains($"process 3 ({Testee.Path}) reads pipe:[", e.Message);
        Assert.Contains("the host reads pipe:[", e.Message);
    }

    [Fact]
    public async Task Without_Run_each_awaited_operation_drives_the_simulation()
    {
        var l = NewLauncher();

        var result = await Testee.Run("argv", "eager").ExecuteBufferedAsync(l);
        using var sleeper = l.Start(Testee.Run("sleep", "60000"));
        var status = await sleeper.WaitForExitAsync();

        Assert.Equal($"{Testee.Path}\nargv\neager\n", result.StandardOutput);
        Assert.Equal(0, status.ExitCode);
        Assert.Equal(TimeSpan.FromMinutes(1), l.TimeProvider.Elapsed);
    }

    [Fact]
    public void Host_code_that_polls_with_Task_Yield_lets_due_programs_run()
    {
        var l = NewLauncher();

        int polls = l.Run(async () =>
        {
            using var child = l.Start(Testee.Run("exit", "0"));
            int n = 0;
            while (!child.HasExited)
            {
                n++;
                await Task.Yield(); // no virtual time passes, but the program due now runs between the polls
            }
            return n;
        });

        Assert.InRange(polls, 1, 3);
        Assert.Equal(TimeSpan.Zero, l.TimeProvider.Elapsed);
    }

    [Fact]
    public void Work_handed_to_another_thread_is_completed_by_the_driver()
    {
        var l = NewLauncher();

        var status = l.Run(async () =>
        {
            using var child = l.Start(Testee.Run("sleep", "5000"));
            return await Task.Run(() => child.WaitForExitAsync());
        });

        Assert.Equal(0, status.ExitCode);
        Assert.Equal(TimeSpan.FromSeconds(5), l.TimeProvider.Elapsed);
    }

    [Fact]
    public void Virtual_time_is_the_clock_of_the_time_provider_and_can_be_advanced()
    {
        var l = NewLauncher();
        var child = l.Start(Testee.Run("sleep", "1500"));

        l.Advance(TimeSpan.FromSeconds(1));
        bool runningAt1s = !child.HasExited;
        l.Advance(TimeSpan.FromSeconds(1));

        Assert.True(runningAt1s);
        Assert.True(child.HasExited);
        Assert.Equal(VirtualTimeProvider.Epoch + TimeSpan.FromSeconds(2), l.TimeProvider.GetUtcNow());
        Assert.Equal(2000, l.TimeProvider.GetTimestamp());
    }

    // The example of src/Forklift.Simulation/README.md, as it is written there.
    private static async Task<int> Supervise(IProcessLauncher launcher, TimeProvider time, Command worker)
    {
        for (int restarts = 0; ; restarts++)
        {
            await using var child = launcher.Start(worker);
            if ((await child.WaitForExitAsync()).Succeeded)
                return restarts;
            await Task.Delay(TimeSpan.FromSeconds(30), time);
        }
    }

    [Fact]
    public void The_worker_is_restarted_until_it_succeeds()
    {
        var sim = new SimulatedProcessLauncher();
        int runs = 0;
        sim.Programs.Register("/usr/bin/worker", ctx => [ctx.Sleep(TimeSpan.FromSeconds(5)), ctx.Exit(++runs < 3 ? 1 : 0)]);

        int restarts = sim.Run(() => Supervise(sim, sim.TimeProvider, new Command("/usr/bin/worker")));

        Assert.Equal(2, restarts);
        Assert.Equal(TimeSpan.FromSeconds(3 * 5 + 2 * 30), sim.TimeProvider.Elapsed); // 75 s, in about a millisecond
    }

    [Fact]
    public void Starts_and_waits_take_microseconds()
    {
        var l = NewLauncher();
        var command = Testee.Run("exit", "0");
        const int Count = 20_000;
        l.Run(async () =>
        {
            for (int i = 0; i < 500; i++)
            {
                using var c = l.Start(command);
                await c.WaitForExitAsync();
            }
        });

        var wall = Stopwatch.StartNew();
        int ok = l.Run(async () =>
        {
            int n = 0;
            for (int i = 0; i < Count; i++)
            {
                using var c = l.Start(command);
                n += (await c.WaitForExitAsync()).Succeeded ? 1 : 0;
            }
            return n;
        });
        wall.Stop();

        double perSecond = Count / wall.Elapsed.TotalSeconds;
        output.WriteLine($"simulated start + wait: {perSecond:0} per second ({wall.Elapsed.TotalMicroseconds / Count:0.0} us each), virtual time {l.TimeProvider.Elapsed}");
        Assert.Equal(Count, ok);
        Assert.Equal(TimeSpan.Zero, l.TimeProvider.Elapsed); // nothing took virtual time
        Assert.True(perSecond > 1_000, $"{perSecond:0} per second"); // generous: the machine is shared
    }
}
