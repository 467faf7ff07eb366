using Forklift.Abi;
using Forklift.Interop;
using Forklift.Processes;
using Forklift.Rules;
using Forklift.Spawning;

namespace Forklift.Tests.Spawning;

/// <summary>
/// Against the recording fake: what the launcher asks of the kernel and in which order, how each answer becomes
/// an exception or a status, and that every fd it made is closed on every path. In the host-resource collection:
/// one test changes the process's PATH.
/// </summary>
[Collection(Forklift.Tests.Interop.HostResourceCollection.Name)]
public sealed class LauncherFakeSpecs : IDisposable
{
    private readonly RecordingSystemCalls _fake = new();

    public void Dispose() => _fake.Dispose();

    private ProcessLauncher Launcher(CallerContext? context = null) => new(_fake, () => context ?? CallerContext.Root);

    [Fact(Timeout = 10_000)]
    public async Task I_can_see_pipes_made_spawned_watched_and_the_child_ends_closed_in_that_order()
    {
        var child = Launcher().Start(new Command("/bin/prog").WithStandardInput(Stdio.Pipe).WithStandardOutput(Stdio.Pipe));

        Assert.Equal(
            ["pipe2() = [100, 101]", "fcntl(101, O_NONBLOCK)", "pipe2() = [102, 103]", "fcntl(102, O_NONBLOCK)", "fl_spawn",
             "epoll_create1() = 105", "epoll_ctl(ADD, 104, 0x40000001)", "close(100)", "close(103)"],
            _fake.Calls);
        Assert.Contains("DUP2 a=100 b=0 c=0", _fake.LastPlan);
        Assert.Contains("DUP2 a=103 b=1 c=0", _fake.LastPlan);
        Assert.Equal(4242, child.Pid);

        _fake.WaitResult = (1, 3 << 8);
        _fake.MakeReady(104);
        var status = await child.WaitForExitAsync();
        child.Dispose();

        Assert.Equal(3, status.ExitCode);
        Assert.Equal(["waitid(pidfd 104)", "epoll_ctl(DEL, 104)", "close(101)", "close(102)", "close(104)"], _fake.Calls.Skip(9));
        Assert.Equal([105], _fake.OpenFds); // only the reactor's epoll fd
    }

    [Fact]
    public void A_command_started_again_is_still_refused_once_its_handle_is_closed()
    {
        // The launcher remembers commands it has checked, but never one with a handle: that check is per start.
        var launcher = Launcher();
        var handle = File.OpenHandle("/dev/null");
        var command = new Command("/bin/prog").WithStandardOutput(Stdio.FromHandle(handle));
        launcher.Start(command).Dispose();
        launcher.Start(command).Dispose();

        handle.Dispose();
        var e = Assert.Throws<CommandException>(() => launcher.Start(command));

        Assert.Equal("StandardOutput", e.Option);
        Assert.Equal(2, _fake.Calls.Count(c => c == "fl_spawn"));
    }

    [Fact]
    public void A_command_checked_by_one_launcher_is_checked_again_by_another_with_another_context()
    {
        var command = new Command("/bin/prog").WithCloneFlags(CloneFlags.NewPid);
        Launcher().Start(command).Dispose();

        var unprivileged = CallerContext.Root with { Uid = 1000, IsGlobalRoot = false, Capabilities = 0 };
        var e = Assert.Throws<CloneRefusedException>(() => Launcher(unprivileged).Start(command));

        Assert.Equal(Errno.EPERM, e.Errno);
    }

    [Fact]
    public void I_can_see_a_failing_pipe2_close_what_was_made_and_never_spawn()
    {
        _fake.Fail("pipe2", Errno.EMFILE, nth: 2);

        var e = Assert.Throws<SpawnException>(() => Launcher().Start(new Command("/bin/prog").WithStandardOutput(Stdio.Pipe).WithStandardError(Stdio.Pipe)));

        Assert.Equal("Pipe2(fd 2)", e.Step);
        Assert.Equal(Errno.EMFILE, e.Errno);
        Assert.Contains("too many open files", e.Hint, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["pipe2() = [100, 101]", "fcntl(100, O_NONBLOCK)", "pipe2() = -EMFILE", "close(100)", "close(101)"], _fake.Calls);
        Assert.Empty(_fake.OpenFds);
    }

    [Fact]
    public unsafe void I_can_see_a_failing_step_named_with_its_object_and_hint()
    {
        _fake.OnSpawn = (plan, result) =>
        {
            *result = FlSpawnResult.Empty;
            result->Pid = 77;
            result->ErrorErrno = (int)Errno.ENOENT;
            result->ErrorStep = 0; // the first step: Chdir
            return -1;
        };

        var e = Assert.Throws<SpawnException>(() => Launcher().Start(new Command("/bin/prog").WithWorkingDirectory("/no/such").WithStandardOutput(Stdio.Pipe)));

        Assert.Equal("Chdir", e.Step);
        Assert.Equal("/no/such", e.Object);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal(77, e.Pid);
        Assert.Equal("The working directory does not exist.", e.Hint);
        Assert.Contains("failed at Chdir (/no/such): ENOENT (No such file or directory).", e.Message);
        Assert.Empty(_fake.OpenFds);
    }

    [Fact]
    public unsafe void I_can_see_every_PATH_candidate_with_its_errno_when_exec_fails()
    {
        string? saved = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", "/x:/y:/z");
        try
        {
            _fake.OnSpawn = (plan, result) =>
            {
                plan->ExecErrnos[0] = (int)Errno.ENOENT;
                plan->ExecErrnos[1] = (int)Errno.EACCES;
                plan->ExecErrnos[2] = (int)Errno.ENOENT;
                *result = FlSpawnResult.Empty;
                result->Pid = 78;
                result->ErrorErrno = (int)Errno.EACCES;
                result->ErrorStep = SpawnStepCode.Exec;
                result->ErrorDetail = 1;
                return -1;
            };

            var e = Assert.Throws<SpawnException>(() => Launcher().Start(new Command("tool")));

            Assert.Equal("Execve", e.Step);
            Assert.Equal("/y/tool", e.Object);
            Assert.Equal([new ExecAttempt("/x/tool", Errno.ENOENT), new ExecAttempt("/y/tool", Errno.EACCES), new ExecAttempt("/z/tool", Errno.ENOENT)], e.ExecAttempts.ToArray());
            Assert.Contains("Tried: /x/tool (ENOENT), /y/tool (EACCES), /z/tool (ENOENT).", e.Message);
            Assert.Contains("chmod +x", e.Hint);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
        }
    }

    [Fact]
    public unsafe void I_can_see_when_the_kernel_refuses_a_clone_the_model_allowed()
    {
        _fake.OnSpawn = (plan, result) =>
        {
            *result = FlSpawnResult.Empty;
            result->ErrorErrno = (int)Errno.EPERM;
            result->ErrorStep = SpawnStepCode.Clone;
            return -1;
        };

        var e = Assert.Throws<CloneFailedException>(() => Launcher().Start(new Command("/bin/prog")));

        Assert.Equal("Clone3", e.Step);
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Equal(Errno.None, e.PredictedErrno);
        Assert.Contains("The model allowed this; the kernel said EPERM.", e.Message);
        Assert.Contains("Clone3WithFallbackOnEperm", e.Hint);
    }

    [Fact]
    public void I_can_see_a_request_the_model_refuses_never_reach_the_kernel()
    {
        var unprivileged = CallerContext.Root with { Uid = 1000, IsGlobalRoot = false, Capabilities = 0 };

        var e = Assert.Throws<CloneRefusedException>(() => Launcher(unprivileged).Start(new Command("/bin/prog").WithCloneFlags(CloneFlags.NewNet)));

        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Equal("Clone3", e.Step);
        Assert.Contains(e.Rule.Name, e.Message);
        Assert.Empty(_fake.Calls);
    }

    [Fact]
    public void I_can_see_the_model_follow_the_stage_to_legacy_clone_when_clone3_is_missing()
    {
        var oldKernel = CallerContext.Root with { Kernel = new KernelVersion(5, 2, 0) };

        Launcher(oldKernel).Start(new Command("/bin/prog")).Dispose();
        var e = Assert.Throws<CommandException>(() => Launcher(oldKernel).Start(new Command("/bin/prog").WithCloneFlags(CloneFlags.NewTime)));

        Assert.Contains("fl_spawn", _fake.Calls);
        Assert.Equal("CloneFlags", e.Option); // CLONE_NEWTIME is clone3-only
    }

    [Fact]
    public void I_can_see_the_fallback_policy_in_the_plan_flags()
    {
        Launcher().Start(new Command("/bin/prog").WithCloneEntry(CloneEntryPolicy.Clone3WithFallbackOnEperm)).Dispose();
        var eperm = _fake.LastPlan;
        Launcher().Start(new Command("/bin/prog").WithCloneEntry(CloneEntryPolicy.LegacyClone)).Dispose();
        var legacy = _fake.LastPlan;

        Assert.StartsWith("version=1 flags=Fast, FallbackOnEperm, ResetSignals", eperm);
        Assert.StartsWith("version=1 flags=Fast, NoClone3, ResetSignals", legacy);
    }

    [Fact(Timeout = 10_000)]
    public async Task I_can_get_the_status_back_from_the_pidfd_when_someone_else_reaped_the_child()
    {
        var child = Launcher().Start(new Command("/bin/prog"));
        _fake.WaitResult = (-(int)Errno.ECHILD, 0);
        _fake.ExitInfoResult = (1, 0x0300);

        _fake.MakeReady(child.Pidfd.DangerousGetHandle().ToInt32());
        var status = await child.WaitForExitAsync();

        Assert.Equal(3, status.ExitCode);
        Assert.Equal(ExitStatusSource.PidfdExitInfo, status.Source);
        Assert.Null(status.ResourceUsage);
    }

    [Fact(Timeout = 10_000)]
    public async Task I_am_told_clearly_when_the_status_is_lost()
    {
        var child = Launcher().Start(new Command("/bin/prog"));
        _fake.WaitResult = (-(int)Errno.ECHILD, 0);
        _fake.ExitInfoResult = (-(int)Errno.ENOTTY, 0);

        _fake.MakeReady(child.Pidfd.DangerousGetHandle().ToInt32());
        var e = await Assert.ThrowsAsync<ExitStatusUnavailableException>(() => child.WaitForExitAsync());

        Assert.Equal(Errno.ECHILD, e.WaitErrno);
        Assert.Equal(Errno.ENOTTY, e.ExitInfoErrno);
        Assert.Contains("Linux 6.15+", e.Message);
        Assert.True(child.HasExited);
        Assert.Null(child.ExitStatus);
    }

    [Fact(Timeout = 10_000)]
    public async Task I_can_signal_through_the_pidfd_only_and_get_false_after_the_exit()
    {
        var child = Launcher().Start(new Command("/bin/prog"));
        int pidfd = child.Pidfd.DangerousGetHandle().ToInt32();

        bool sent = child.Signal(15);
        _fake.SignalResult = -(int)Errno.ESRCH;
        bool exitedMeanwhile = child.Signal(15);
        _fake.MakeReady(pidfd);
        await child.WaitForExitAsync();
        int before = _fake.Calls.Count;
        bool afterReap = child.Kill();

        Assert.True(sent);
        Assert.False(exitedMeanwhile);
        Assert.False(afterReap);
        Assert.Equal(before, _fake.Calls.Count); // reaped: no system call at all
        Assert.Equal(2, _fake.Calls.Count(c => c == $"pidfd_send_signal({pidfd}, 15)"));
    }

    [Fact]
    public void I_can_see_a_failing_parent_action_send_the_child_away_without_exec()
    {
        var command = new Command("/bin/prog").WithParentAction("maps", _ => throw new InvalidOperationException("no"));

        var e = Assert.Throws<SpawnException>(() => Launcher().Start(command));

        Assert.Equal("ParentAction(maps)", e.Step);
        Assert.Contains("WAIT_PARENT", _fake.LastPlan);
        Assert.StartsWith("version=1 flags=Sync, ResetSignals", _fake.LastPlan);
        Assert.Equal(["fl_spawn", "fl_spawn_release(go=0)"], _fake.Calls);
        Assert.Empty(_fake.OpenFds);
    }

    [Fact]
    public void I_can_see_parent_actions_run_between_spawn_and_release()
    {
        var seen = new List<string>();
        var command = new Command("/bin/prog").WithParentAction("one", ctx => seen.Add($"one {ctx.Pid} {string.Join(",", _fake.Calls)}"));

        using var child = Launcher().Start(command);

        Assert.Equal(["one 4242 fl_spawn"], seen);
        Assert.Equal("fl_spawn_release(go=1)", _fake.Calls[1]);
    }

    [Fact]
    public void I_can_see_children_with_a_parent_death_signal_created_by_the_long_lived_spawner_thread()
    {
        using var plain = Launcher().Start(new Command("/bin/prog"));
        int plainThread = _fake.SpawnThreadId;
        using var bound = Launcher().Start(new Command("/bin/prog").WithParentDeathSignal(9));

        Assert.Equal(Environment.CurrentManagedThreadId, plainThread);
        Assert.Equal(SpawnerThread.ManagedThreadId, _fake.SpawnThreadId);
    }

    [Fact]
    public unsafe void I_can_see_on_the_handle_that_the_stage_fell_back_to_legacy_clone_and_why()
    {
        _fake.OnSpawn = (plan, result) =>
        {
            *result = FlSpawnResult.Empty;
            result->Pid = 4243;
            result->Pidfd = 150;
            result->Ok = 1;
            result->UsedClone3 = 0;
            result->Clone3Errno = (int)Errno.EPERM; // what a seccomp profile blocking clone3 returns
            return 0;
        };

        using var child = Launcher().Start(new Command("/bin/prog").WithCloneEntry(CloneEntryPolicy.Clone3WithFallbackOnEperm));

        Assert.Equal(new SpawnPath(UsedClone3: false, Errno.EPERM, FastPath: true), child.SpawnPath);
        Assert.Equal("clone (clone3 said EPERM), fast path", child.SpawnPath.ToString());
    }
}
