using Forklift.Abi;
using Forklift.Processes;
using Forklift.Spawning;
using Forklift.Tests.Interop;
using Forklift.Tests.Support;

namespace Forklift.Tests.Spawning;

/// <summary>What a started child gets: status, streams, environment, directory, argv, and the failures of each step.</summary>
[Collection(HostResourceCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SpawnSpecs
{
    [Theory(Timeout = 30_000)]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(42)]
    [InlineData(255)]
    public async Task I_can_start_a_child_and_get_its_exit_code(int code)
    {
        await using var guard = SpawnGuard.Start();

        using var child = Testee.Run("exit", code.ToString()).Start();
        var status = await child.WaitForExitAsync();

        Assert.True(child.Pid > 0);
        Assert.False(child.Pidfd.IsInvalid);
        Assert.Equal(code, status.ExitCode);
        Assert.Null(status.Signal);
        Assert.Equal(ExitStatusSource.Waited, status.Source);
        Assert.NotNull(status.ResourceUsage);
        Assert.True(child.HasExited);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_see_that_a_child_was_killed_by_a_signal()
    {
        await using var guard = SpawnGuard.Start();

        var status = await Testee.Run("kill-self", "TERM").ExecuteAsync();

        Assert.Null(status.ExitCode);
        Assert.Equal(15, status.Signal);
        Assert.False(status.CoreDumped);
        Assert.Equal("killed by SIGTERM", status.ToString());
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_see_the_core_dump_flag_of_a_child_killed_by_SIGABRT()
    {
        await using var guard = SpawnGuard.Start();

        var status = await Testee.Run("kill-self", "ABRT").WithResourceLimit(ResourceLimit.Core, 0, 0).ExecuteAsync();

        Assert.Equal(6, status.Signal); // no core with RLIMIT_CORE 0: the flag stays clear
        Assert.False(status.CoreDumped);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_see_how_the_child_was_created()
    {
        await using var guard = SpawnGuard.Start();

        using var viaClone3 = Testee.Run("exit", "0").Start();
        using var viaClone = Testee.Run("exit", "0").WithCloneEntry(CloneEntryPolicy.LegacyClone).Start();
        await viaClone3.WaitForExitAsync();
        await viaClone.WaitForExitAsync();

        Assert.Equal(new SpawnPath(UsedClone3: true, Errno.None, FastPath: true), viaClone3.SpawnPath);
        Assert.False(viaClone.SpawnPath.UsedClone3);
        Assert.True(viaClone3.CloneCallDuration > TimeSpan.Zero);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_pass_arguments_and_override_argv0()
    {
        await using var guard = SpawnGuard.Start();

        var plain = await Testee.OutputOf(Testee.Run("argv", "a b", "", "ünï"));
        var renamed = await Testee.OutputOf(Testee.Run("argv", "x").WithArgumentZero("custom-name"));

        Assert.Equal($"{Testee.Path}\nargv\na b\n\nünï", plain);
        Assert.Equal("custom-name\nargv\nx", renamed);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_set_unset_and_clear_environment_variables()
    {
        await using var guard = SpawnGuard.Start();
        Environment.SetEnvironmentVariable("FORKLIFT_INHERITED", "from-parent");
        Environment.SetEnvironmentVariable("FORKLIFT_REMOVED", "gone");

        var inherited = (await Testee.OutputOf(Testee.Run("env")
            .WithEnvironmentVariable("FORKLIFT_SET", "a=b")
            .WithoutEnvironmentVariable("FORKLIFT_REMOVED"))).Split('\n');
        var cleared = (await Testee.OutputOf(Testee.Run("env").WithEnvironment(e => e.Clear().Set("ONLY", "1")))).Split('\n');

        Assert.Contains("FORKLIFT_INHERITED=from-parent", inherited);
        Assert.Contains("FORKLIFT_SET=a=b", inherited);
        Assert.DoesNotContain(inherited, line => line.StartsWith("FORKLIFT_REMOVED=", StringComparison.Ordinal));
        Assert.Equal(["ONLY=1"], cleared);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_change_made_with_SetEnvironmentVariable_reaches_the_next_child_as_with_Process_Start()
    {
        await using var guard = SpawnGuard.Start();
        string name = $"FORKLIFT_NEXT_{Guid.NewGuid():N}";
        var command = Testee.Run("env");
        try
        {
            Environment.SetEnvironmentVariable(name, "first");
            var set = (await Testee.OutputOf(command)).Split('\n');
            Environment.SetEnvironmentVariable(name, "second");
            var changed = (await Testee.OutputOf(command)).Split('\n');
            Environment.SetEnvironmentVariable(name, null);
            var removed = (await Testee.OutputOf(command)).Split('\n');

            Assert.Contains($"{name}=first", set);
            Assert.Contains($"{name}=second", changed);
            Assert.DoesNotContain(changed, line => line == $"{name}=first");
            Assert.DoesNotContain(removed, line => line.StartsWith(name + "=", StringComparison.Ordinal));
            // The child gets what Process.Start would give it: the managed environment, each variable once.
            var expected = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .Select(e => $"{e.Key}={e.Value}").Order(StringComparer.Ordinal);
            Assert.Equal(expected, removed.Order(StringComparer.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact] // synchronous (one thread's allocations), so no xunit timeout; /bin/true cannot hang
    public void A_start_allocates_at_most_1_KB_on_the_calling_thread()
    {
        // The figure (Process.Start: about 18 KB). Warmed up first (JIT tiers, pools, the reactor), then
        // the average over many starts of a plain command with the inherited environment.
        var command = new Command("/bin/true");
        for (int i = 0; i < 50; i++)
        {
            using var warm = command.Start();
            warm.WaitForExit();
        }
        const int Starts = 100;
        long allocated = 0;
        for (int i = 0; i < Starts; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var child = command.Start();
            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            child.WaitForExit();
            child.Dispose();
        }

        Assert.True(allocated / Starts <= 1024, $"{allocated / Starts} bytes allocated per start");
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_set_the_working_directory()
    {
        await using var guard = SpawnGuard.Start();
        var dir = Directory.CreateTempSubdirectory("forklift-cwd-").FullName;
        try
        {
            Assert.Equal(dir, await Testee.OutputOf(Testee.Run("cwd").WithWorkingDirectory(dir)));
            Assert.Equal(Environment.CurrentDirectory, await Testee.OutputOf(Testee.Run("cwd")));
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_connect_standard_streams_to_null_files_fds_and_handles()
    {
        await using var guard = SpawnGuard.Start();
        var dir = Directory.CreateTempSubdirectory("forklift-stdio-").FullName;
        try
        {
            var outFile = Path.Combine(dir, "out");
            var inFile = Path.Combine(dir, "in");
            await File.WriteAllTextAsync(inFile, "from a file\n");

            await Testee.Run("write-out", "10").WithStandardOutput(Stdio.File(outFile)).ExecuteAsync();
            await Testee.Run("write-out", "3").WithStandardOutput(Stdio.File(outFile, StdioFileMode.Append)).ExecuteAsync();
            var truncated = await File.ReadAllTextAsync(outFile);
            var echoed = await Testee.OutputOf(Testee.Run("echo").WithStandardInput(Stdio.File(inFile, StdioFileMode.Read)));
            var fromNull = await Testee.OutputOf(Testee.Run("echo").WithStandardInput(Stdio.Null));
            var toNull = await Testee.Run("write-out", "1000").WithStandardOutput(Stdio.Null).ExecuteAsync();

            using (var handle = File.OpenHandle(Path.Combine(dir, "by-handle"), FileMode.Create, FileAccess.Write))
                await Testee.Run("write-out", "5").WithStandardOutput(Stdio.FromHandle(handle)).ExecuteAsync();
            using (var stream = new FileStream(Path.Combine(dir, "by-fd"), FileMode.Create, FileAccess.Write))
                await Testee.Run("write-out", "4").WithStandardOutput(Stdio.FromFileDescriptor((int)stream.SafeFileHandle.DangerousGetHandle())).ExecuteAsync();

            Assert.Equal("abcdefghijabc", truncated);
            Assert.Equal("from a file", echoed);
            Assert.Equal("", fromNull);
            Assert.True(toNull.Succeeded);
            Assert.Equal("abcde", await File.ReadAllTextAsync(Path.Combine(dir, "by-handle")));
            Assert.Equal("abcd", await File.ReadAllTextAsync(Path.Combine(dir, "by-fd")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_swap_standard_output_and_error()
    {
        await using var guard = SpawnGuard.Start();
        var dir = Directory.CreateTempSubdirectory("forklift-swap-").FullName;
        try
        {
            using var a = File.OpenHandle(Path.Combine(dir, "a"), FileMode.Create, FileAccess.Write);
            using var b = File.OpenHandle(Path.Combine(dir, "b"), FileMode.Create, FileAccess.Write);
            // Parent fds chosen to collide with the targets: stdout from what will be fd 2's source and back.
            await Testee.Run("write-both", "3")
                .WithStandardOutput(Stdio.FromHandle(a))
                .WithStandardError(Stdio.FromHandle(b))
                .ExecuteAsync();

            Assert.Equal("abc", await File.ReadAllTextAsync(Path.Combine(dir, "a")));
            Assert.Equal("ABC", await File.ReadAllTextAsync(Path.Combine(dir, "b")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_open_1000_inheritable_fds_and_the_child_sees_only_0_1_2_and_the_ones_I_asked_for()
    {
        await using var guard = SpawnGuard.Start();
        var open = new List<FileStream>();
        try
        {
            // FileStream fds are close-on-exec; make them inheritable, as fds from careless native code would be.
            for (int i = 0; i < 1000; i++)
            {
                var stream = new FileStream("/dev/null", FileMode.Open, FileAccess.Read);
                open.Add(stream);
                Assert.True(Fcntl.ClearCloexec((int)stream.SafeFileHandle.DangerousGetHandle()));
            }
            int someFd = (int)open[500].SafeFileHandle.DangerousGetHandle();

            var fds = await Testee.OutputOf(Testee.Run("fds")
                .WithFileDescriptor(7, Stdio.FromFileDescriptor(someFd))
                .WithFileDescriptor(someFd, Stdio.Inherit)
                .WithFileDescriptor(someFd + 1, Stdio.Null));

            Assert.Equal($"0 1 2 7 {someFd} {someFd + 1}", fds);
        }
        finally
        {
            foreach (var s in open)
                s.Dispose();
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_map_extra_fds_whose_sources_and_targets_collide()
    {
        await using var guard = SpawnGuard.Start();
        var dir = Directory.CreateTempSubdirectory("forklift-fds-").FullName;
        try
        {
            using var x = File.OpenHandle(Path.Combine(dir, "x"), FileMode.Create, FileAccess.ReadWrite);
            using var y = File.OpenHandle(Path.Combine(dir, "y"), FileMode.Create, FileAccess.ReadWrite);
            int fx = (int)x.DangerousGetHandle(), fy = (int)y.DangerousGetHandle();
            // Put x's fd at y's number and y's at x's: each source is the other's target. Then stdout to fd 'fx'.
            var fds = await Testee.OutputOf(Testee.Run("fds")
                .WithFileDescriptor(fx, Stdio.FromFileDescriptor(fy))
                .WithFileDescriptor(fy, Stdio.FromFileDescriptor(fx)));
            await Testee.Run("write-out", "2").WithStandardOutput(Stdio.FromFileDescriptor(fx)).WithFileDescriptor(fx, Stdio.FromFileDescriptor(fy)).ExecuteAsync();

            Assert.Equal($"0 1 2 {Math.Min(fx, fy)} {Math.Max(fx, fy)}", fds);
            Assert.Equal("ab", await File.ReadAllTextAsync(Path.Combine(dir, "x")));
            Assert.Equal("", await File.ReadAllTextAsync(Path.Combine(dir, "y")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_set_umask_signal_mask_and_dispositions()
    {
        await using var guard = SpawnGuard.Start();

        var umask = await Testee.OutputOf(Testee.Run("umask").WithUmask((UnixFileMode)0x3f /* 077 */));
        var signals = (await Testee.OutputOf(Testee.Run("sigmask").WithBlockedSignals(10, 12).WithIgnoredSignals(2))).Split('\n');
        var defaults = (await Testee.OutputOf(Testee.Run("sigmask"))).Split('\n');

        Assert.Equal("0077", umask);
        Assert.Contains("SigBlk:\t0000000000000a00", signals); // SIGUSR1 (10) and SIGUSR2 (12)
        Assert.Contains("SigIgn:\t0000000000000002", signals); // SIGINT only: SIGPIPE was reset
        Assert.Contains("SigBlk:\t0000000000000000", defaults);
        Assert.Contains("SigIgn:\t0000000000000000", defaults);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_keep_sigpipe_ignored_when_I_ask()
    {
        await using var guard = SpawnGuard.Start();

        var signals = (await Testee.OutputOf(Testee.Run("sigmask").WithIgnoredSignals(13))).Split('\n');

        Assert.Contains("SigIgn:\t0000000000001000", signals);
    }

    [KernelFact(Timeout = 30_000)]
    public async Task I_can_set_uid_gid_groups_rlimits_and_no_new_privs()
    {
        await using var guard = SpawnGuard.Start();

        var ids = await Testee.OutputOf(Testee.Run("ids").WithUser(65534).WithGroup(65533).WithSupplementaryGroups(5, 6));
        var dropped = await Testee.OutputOf(Testee.Run("ids").WithUser(65534));
        var nofile = await Testee.OutputOf(Testee.Run("rlimit", "NOFILE").WithResourceLimit(ResourceLimit.Nofile, 64, 128));
        var core = await Testee.OutputOf(Testee.Run("rlimit", "CORE").WithResourceLimit(ResourceLimit.Core, 0, ResourceLimitValue.Infinity));
        var nnp = await Testee.OutputOf(Testee.Run("nnp").WithNoNewPrivileges());

        Assert.Equal("uid=65534,65534,65534 gid=65533,65533,65533 groups=5,6", ids);
        Assert.EndsWith("groups=", dropped); // a uid change drops the caller's groups
        Assert.Equal("64 128", nofile);
        Assert.Equal("0 unlimited", core);
        Assert.Equal("1", nnp);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_start_a_child_in_a_new_session_or_process_group()
    {
        await using var guard = SpawnGuard.Start();

        var session = await Testee.OutputOf(Testee.Run("pgid-sid").WithNewSession());
        var group = await Testee.OutputOf(Testee.Run("pgid-sid").WithProcessGroup(0));

        var s = Fields(session);
        var g = Fields(group);
        Assert.Equal(s["pid"], s["sid"]);
        Assert.Equal(s["pid"], s["pgid"]);
        Assert.Equal("no", s["ctty"]);
        Assert.Equal(g["pid"], g["pgid"]);
        Assert.NotEqual(g["pid"], g["sid"]);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_give_a_child_in_a_new_session_a_controlling_terminal()
    {
        await using var guard = SpawnGuard.Start();
        using var pty = Pty.Open();
        var (_, slave) = pty;

        var result = await Testee.Run("pgid-sid")
            .WithStandardInput(Stdio.FromHandle(slave))
            .WithNewSession(controllingTerminal: 0)
            .ExecuteBufferedAsync();
        var fields = Fields(result.StandardOutput.TrimEnd('\n'));

        Assert.True(result.ExitStatus.Succeeded, result.StandardError);
        Assert.Equal("yes", fields["ctty"]);
        Assert.Equal(fields["pid"], fields["sid"]);
    }

    [KernelFact(Timeout = 30_000)]
    public async Task I_can_pass_raw_clone_flags_and_the_child_starts_in_new_namespaces()
    {
        await using var guard = SpawnGuard.Start();

        var ids = await Testee.OutputOf(Testee.Run("pgid-sid").WithCloneFlags(CloneFlags.NewPid | CloneFlags.NewUts | CloneFlags.NewIpc).WithNewSession());
        var ppid = await Testee.OutputOf(Testee.Run("ppid").WithCloneFlags(CloneFlags.NewPid).WithParentDeathSignal(9));

        Assert.StartsWith("pid=1 pgid=1 sid=1", ids); // init of its own pid namespace
        Assert.Equal("0", ppid);                      // its parent lives outside that namespace
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_choose_the_exit_signal_and_the_child_is_still_reaped()
    {
        await using var guard = SpawnGuard.Start();

        var none = await Testee.Run("exit", "2").WithExitSignal(0).ExecuteAsync();
        var chld = await Testee.Run("exit", "3").WithExitSignal(17).ExecuteAsync();

        Assert.Equal(2, none.ExitCode);
        Assert.Equal(3, chld.ExitCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_get_the_status_from_the_pidfd_when_something_else_reaped_the_child_first()
    {
        await using var guard = SpawnGuard.Start();
        // The real kernel, with one twist: whoever waits first collects the status behind the reactor's back,
        // as .NET's SIGCHLD handling does when the program runs as PID 1.
        var launcher = new ProcessLauncher(new ReapFirstSystemCalls(), global::Forklift.Rules.CallerContextReader.Live);

        using var child = launcher.Start(Testee.Run("exit", "9"));
        var status = await child.WaitForExitAsync();

        Assert.Equal(9, status.ExitCode);
        Assert.Equal(ExitStatusSource.PidfdExitInfo, status.Source);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_give_a_child_a_parent_death_signal_bound_to_this_process()
    {
        await using var guard = SpawnGuard.Start();

        var output = await Testee.OutputOf(Testee.Run("pdeathsig").WithParentDeathSignal(9));
        var ppid = await Testee.OutputOf(Testee.Run("ppid").WithParentDeathSignal(15));
        // Started from a thread that then exits: PR_SET_PDEATHSIG follows the creating thread, so the child must
        // have been created by Forklift's long-lived spawner thread, or it would be killed right here.
        ChildProcess? child = null;
        var starter = new Thread(() => child = Testee.Run("sleep", "10000").WithParentDeathSignal(9).Start());
        starter.Start();
        starter.Join();
        await Task.Delay(300);
        bool aliveAfterStarterExit = !child!.HasExited;
        child.Dispose();
        var status = await child.WaitForExitAsync();

        Assert.Equal("9", output);
        Assert.Equal(Environment.ProcessId.ToString(), ppid);
        Assert.True(aliveAfterStarterExit);
        Assert.Equal(9, status.Signal); // killed by Dispose, not earlier
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_get_the_step_and_hint_when_the_working_directory_is_missing()
    {
        await using var guard = SpawnGuard.Start();

        var e = Assert.Throws<SpawnException>(() => Testee.Run("cwd").WithWorkingDirectory("/nonexistent/forklift").Start());

        Assert.Equal("Chdir", e.Step);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("/nonexistent/forklift", e.Object);
        Assert.Contains("does not exist", e.Hint);
        Assert.True(e.Pid > 0);
        Assert.False(Host.Exists(e.Pid) && Host.Children().Contains(e.Pid), "the failed child is reaped");
    }

    [KernelFact(Timeout = 30_000)]
    public async Task I_can_get_the_step_of_a_failing_rlimit_and_dup2()
    {
        await using var guard = SpawnGuard.Start();

        var rlimit = Assert.Throws<SpawnException>(() => Testee.Run("exit", "0")
            .WithUser(65534).WithResourceLimit(ResourceLimit.Nofile, 1 << 30, 1 << 30).Start());
        var dup = Assert.Throws<SpawnException>(() => Testee.Run("exit", "0").WithStandardOutput(Stdio.FromFileDescriptor(999_999)).Start());
        var open = Assert.Throws<SpawnException>(() => Testee.Run("exit", "0").WithStandardError(Stdio.File("/nonexistent/dir/log")).Start());

        Assert.Equal("SetRlimit(NOFILE)", rlimit.Step);
        Assert.Equal(Errno.EPERM, rlimit.Errno);
        Assert.Equal("Dup2(fd 1)", dup.Step);
        Assert.Equal(Errno.EBADF, dup.Errno);
        Assert.Equal("Open(fd 2)", open.Step);
        Assert.Equal("/nonexistent/dir/log", open.Object);
        Assert.Equal(Errno.ENOENT, open.Errno);
    }

    [Fact(Timeout = 30_000)]
    public async Task One_command_started_again_searches_the_PATH_the_caller_has_at_each_start()
    {
        // The launcher reuses a command's plan while its inputs are equal: a PATH change must still be seen.
        await using var guard = SpawnGuard.Start();
        string? saved = Environment.GetEnvironmentVariable("PATH");
        var command = new Command(System.IO.Path.GetFileName(Testee.Path)).WithArguments("exit", "5");
        try
        {
            Environment.SetEnvironmentVariable("PATH", System.IO.Path.GetDirectoryName(Testee.Path));
            using var first = command.Start();
            var found = await first.WaitForExitAsync();
            Environment.SetEnvironmentVariable("PATH", "/nonexistent-c");
            var e = Assert.Throws<SpawnException>(() => command.Start());
            Environment.SetEnvironmentVariable("PATH", System.IO.Path.GetDirectoryName(Testee.Path));
            using var second = command.Start();
            var again = await second.WaitForExitAsync();

            Assert.Equal(5, found.ExitCode);
            Assert.Equal(Errno.ENOENT, e.Errno);
            Assert.Equal(["/nonexistent-c/forklift-testee"], e.ExecAttempts.Select(a => a.Path));
            Assert.Equal(5, again.ExitCode);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_see_every_PATH_directory_tried_when_a_program_is_not_found()
    {
        await using var guard = SpawnGuard.Start();
        string? saved = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", "/nonexistent-a:/nonexistent-b");
        try
        {
            var e = Assert.Throws<SpawnException>(() => new Command("forklift-no-such-program").Start());

            Assert.Equal("Execve", e.Step);
            Assert.Equal(Errno.ENOENT, e.Errno);
            Assert.Equal(["/nonexistent-a/forklift-no-such-program", "/nonexistent-b/forklift-no-such-program"], e.ExecAttempts.Select(a => a.Path));
            Assert.All(e.ExecAttempts, a => Assert.Equal(Errno.ENOENT, a.Errno));
            Assert.Contains("/nonexistent-a/forklift-no-such-program (ENOENT), /nonexistent-b/forklift-no-such-program (ENOENT)", e.Message);
            Assert.Contains("not found in any PATH directory", e.Hint);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_find_a_program_in_PATH_and_the_default_PATH_when_unset()
    {
        await using var guard = SpawnGuard.Start();
        string? saved = Environment.GetEnvironmentVariable("PATH");
        try
        {
            Environment.SetEnvironmentVariable("PATH", "/nonexistent:" + AppContext.BaseDirectory);
            var found = await new Command("forklift-testee").WithArguments("exit", "7").ExecuteAsync();
            Environment.SetEnvironmentVariable("PATH", null);
            var viaDefault = await new Command("true").ExecuteAsync();

            Assert.Equal(7, found.ExitCode);
            Assert.True(viaDefault.Succeeded);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_get_a_clear_error_when_I_execute_a_directory_a_script_without_shebang_or_a_non_executable_file()
    {
        await using var guard = SpawnGuard.Start();
        var dir = Directory.CreateTempSubdirectory("forklift-exec-").FullName;
        try
        {
            var script = Path.Combine(dir, "script");
            await File.WriteAllTextAsync(script, "echo hello\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var plain = Path.Combine(dir, "plain");
            await File.WriteAllTextAsync(plain, "data");

            var directory = Assert.Throws<SpawnException>(() => new Command(dir).Start());
            var noShebang = Assert.Throws<SpawnException>(() => new Command(script).Start());
            var notExecutable = Assert.Throws<SpawnException>(() => new Command(plain).Start());

            Assert.Equal(("Execve", Errno.EACCES), (directory.Step, directory.Errno));
            Assert.Equal(("Execve", Errno.ENOEXEC), (noShebang.Step, noShebang.Errno));
            Assert.Contains("a script without #!?", noShebang.Hint);
            Assert.Equal(script, noShebang.Object);
            Assert.Equal(("Execve", Errno.EACCES), (notExecutable.Step, notExecutable.Errno));
            Assert.Contains("chmod +x", notExecutable.Hint);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_run_the_full_path_with_a_parent_action_between_clone_and_exec()
    {
        await using var guard = SpawnGuard.Start();
        int seenPid = 0;
        string? seenComm = null;

        using var child = Testee.Run("exit", "3").WithParentAction("look", ctx =>
        {
            seenPid = ctx.Pid;
            seenComm = File.ReadAllText($"/proc/{ctx.Pid}/comm").Trim(); // still our copy: not exec'd yet
        }).Start();
        var status = await child.WaitForExitAsync();

        Assert.Equal(child.Pid, seenPid);
        Assert.NotEqual("forklift-testee", seenComm);
        Assert.False(child.SpawnPath.FastPath);
        Assert.Equal(3, status.ExitCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_see_a_failing_parent_action_abort_the_child_before_exec()
    {
        await using var guard = SpawnGuard.Start();

        var e = Assert.Throws<SpawnException>(() => Testee.Run("exit", "0")
            .WithParentAction("write id maps", _ => throw new InvalidOperationException("boom")).Start());

        Assert.Equal("ParentAction(write id maps)", e.Step);
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.True(e.Pid > 0);
    }

    /// <summary>
    /// Opt-in (FORKLIFT_SIBLING_TEST=1): the sibling's parent is the test runner, which may never reap it, so the
    /// test can leave a zombie there until the runner exits.
    /// </summary>
    [SiblingFact(Timeout = 30_000)]
    public async Task I_can_start_a_sibling_whose_parent_is_my_parent_and_signal_it_through_the_pidfd()
    {
        await using var guard = SpawnGuard.Start();

        using var sibling = Testee.Run("sleep", "10000").AsSibling().WithStandardOutput(Stdio.Null).Start();
        var siblingPpid = File.ReadAllText($"/proc/{sibling.Pid}/stat").Split(')')[1].Split(' ')[2];
        var ourPpid = File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ')[2];
        bool killed = sibling.Kill();
        var outcome = await Record.ExceptionAsync(() => sibling.WaitForExitAsync());

        Assert.Equal(ourPpid, siblingPpid);
        Assert.True(killed);
        Assert.DoesNotContain(sibling.Pid, Host.Children());
        // Either its parent reaped it and the kernel kept the status on the pidfd, or the status is not ours to read.
        Assert.True(outcome is null or ExitStatusUnavailableException, outcome?.ToString());
    }

    private static Dictionary<string, string> Fields(string line) =>
        line.Split(' ').Select(f => f.Split('=')).ToDictionary(p => p[0], p => p[1]);
}

/// <summary>fcntl for tests: making fds inheritable.</summary>
internal static partial class Fcntl
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlInt(int fd, int cmd, int arg);

    public static bool ClearCloexec(int fd) => FcntlInt(fd, 2 /* F_SETFD */, 0) == 0;
}

/// <summary>Runs only with FORKLIFT_SIBLING_TEST=1.</summary>
public sealed class SiblingFactAttribute : FactAttribute
{
    public SiblingFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("FORKLIFT_SIBLING_TEST") != "1")
            Skip = "Set FORKLIFT_SIBLING_TEST=1: a sibling belongs to the test runner, which may keep it as a zombie until it exits.";
    }
}

/// <summary>The real system calls, except that every pidfd wait is preceded by a reap that is not the reactor's.</summary>
internal sealed unsafe class ReapFirstSystemCalls : global::Forklift.Interop.ISystemCalls
{
    private readonly global::Forklift.Interop.ISystemCalls _real = global::Forklift.Interop.LinuxSystemCalls.Instance;

    public int PidfdWait(int pidfd, int options, out int status, Span<long> rusage)
    {
        int stolen;
        global::Forklift.Interop.SpawnNative.PidfdWait(pidfd, 0, &stolen, null); // someone else's waitid
        return _real.PidfdWait(pidfd, options, out status, rusage);
    }

    public int Pipe2(out int readFd, out int writeFd) => _real.Pipe2(out readFd, out writeFd);
    public int SetNonBlocking(int fd) => _real.SetNonBlocking(fd);
    public int Close(int fd) => _real.Close(fd);
    public int Read(int fd, Span<byte> buffer) => _real.Read(fd, buffer);
    public int Write(int fd, ReadOnlySpan<byte> buffer) => _real.Write(fd, buffer);
    public int Poll(int fd, short events, int timeoutMilliseconds) => _real.Poll(fd, events, timeoutMilliseconds);
    public int EpollCreate() => _real.EpollCreate();
    public int EpollCtl(int epollFd, int operation, int fd, uint events, ulong data) => _real.EpollCtl(epollFd, operation, fd, events, data);
    public int EpollWait(int epollFd, Span<global::Forklift.Interop.EpollEvent> events, int timeoutMilliseconds) => _real.EpollWait(epollFd, events, timeoutMilliseconds);
    public int Spawn(global::Forklift.Interop.FlSpawnPlan* plan, global::Forklift.Interop.FlSpawnResult* result) => _real.Spawn(plan, result);
    public int SpawnRelease(global::Forklift.Interop.FlSpawnResult* result, global::Forklift.Interop.FlSpawnPlan* plan, bool go) => _real.SpawnRelease(result, plan, go);
    public int PidfdExitInfo(int pidfd, out int status) => _real.PidfdExitInfo(pidfd, out status);
    public int PidfdSendSignal(int pidfd, int signal) => _real.PidfdSendSignal(pidfd, signal);
    public int GetParentPid() => _real.GetParentPid();
}

/// <summary>A pseudo-terminal pair for the controlling-terminal spec.</summary>
internal static partial class Pty
{
    public sealed class Pair(Microsoft.Win32.SafeHandles.SafeFileHandle master, Microsoft.Win32.SafeHandles.SafeFileHandle slave) : IDisposable
    {
        public void Deconstruct(out Microsoft.Win32.SafeHandles.SafeFileHandle m, out Microsoft.Win32.SafeHandles.SafeFileHandle s)
        {
            m = master;
            s = slave;
        }

        public void Dispose()
        {
            slave.Dispose();
            master.Dispose();
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int Ioctl(int fd, ulong request, int* arg);

    public static unsafe Pair Open()
    {
        const ulong TIOCGPTN = 0x80045430, TIOCSPTLCK = 0x40045431;
        var master = File.OpenHandle("/dev/ptmx", FileMode.Open, FileAccess.ReadWrite);
        int fd = (int)master.DangerousGetHandle();
        int unlock = 0, number = 0;
        Assert.Equal(0, Ioctl(fd, TIOCSPTLCK, &unlock));
        Assert.Equal(0, Ioctl(fd, TIOCGPTN, &number));
        var slave = File.OpenHandle($"/dev/pts/{number}", FileMode.Open, FileAccess.ReadWrite);
        return new Pair(master, slave);
    }
}
