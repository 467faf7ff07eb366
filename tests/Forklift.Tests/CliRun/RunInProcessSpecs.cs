using Forklift.Abi;
using Forklift.Cli.Run;
using Forklift.Tests.Interop;
using Forklift.Tests.Spawning;
using Forklift.Tests.Support;

namespace Forklift.Tests.CliRun;

/// <summary>
/// <c>forklift run</c> in-process (<c>Program.Run</c>) on the real kernel: each option checked from inside the child
/// through a testee mode whose output goes to a file (<c>--stdout FILE</c>: the in-process child's inherited fds are
/// the test host's), exit codes, failure lines and <c>--verbose</c>. No child and no pipe or pidfd is left over.
/// </summary>
[Collection(HostResourceCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RunInProcessSpecs
{
    /// <summary>Runs the testee in <paramref name="mode"/> with <paramref name="options"/>, stdout to a file; returns that output.</summary>
    private static async Task<string> ChildSays(string[] options, params string[] mode)
    {
        using var dir = new TempDir(worldWritable: true);
        await using var guard = RunKit.Guard();
        var outcome = await RunKit.RunTestee([.. options, "--stdout", dir.File("out")], mode);
        outcome.Exits(0);
        Assert.Equal("", outcome.Err);
        return dir.Read("out").TrimEnd('\n');
    }

    [Theory(Timeout = 30_000)]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(255)]
    public async Task Run_exits_with_the_child_exit_code(int code)
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.RunTestee([], "exit", code.ToString());

        outcome.Exits(code);
        Assert.Equal("", outcome.Err);
    }

    [Theory(Timeout = 30_000)]
    [InlineData("KILL", 9)]
    [InlineData("TERM", 15)]
    [InlineData("SEGV", 11)]
    public async Task Run_exits_128_plus_N_when_signal_N_killed_the_child(string signal, int number)
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.RunTestee([], "kill-self", signal);

        outcome.Exits(128 + number);
    }

    [Fact(Timeout = 30_000)]
    public async Task Clear_env_and_env_give_the_child_exactly_the_variables_asked_for()
    {
        string env = await ChildSays(["--clear-env", "--env", "A=1", "--env", "B=x=y", "--env", "EMPTY="], "env");

        Assert.Equal(["A=1", "B=x=y", "EMPTY="], env.Split('\n').Order());
    }

    [Fact(Timeout = 30_000)]
    public async Task Unset_env_removes_an_inherited_variable_and_keeps_the_others()
    {
        Assert.NotNull(Environment.GetEnvironmentVariable("PATH"));

        string[] env = (await ChildSays(["--unset-env", "PATH", "--env", "FORKLIFT_CLIRUN=yes"], "env")).Split('\n');

        Assert.DoesNotContain(env, line => line.StartsWith("PATH=", StringComparison.Ordinal));
        Assert.Contains("FORKLIFT_CLIRUN=yes", env);
        Assert.True(env.Length > 2, "the other inherited variables are still there");
    }

    [Fact(Timeout = 30_000)]
    public async Task Cwd_sets_the_child_working_directory()
    {
        using var dir = new TempDir();

        Assert.Equal(dir.Path, await ChildSays(["--cwd", dir.Path], "cwd"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Stdin_and_stdout_files_connect_the_child_to_files()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("in"), "through the child\n");
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.RunTestee(["--stdin", dir.File("in"), "--stdout", dir.File("out")], "echo");

        outcome.Exits(0);
        Assert.Equal("through the child\n", dir.Read("out"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Stdout_truncates_a_file_and_append_adds_to_it()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("out"), "old content that is longer\n");
        await using var guard = RunKit.Guard();

        (await RunKit.RunTestee(["--stdout", dir.File("out")], "write-out", "3")).Exits(0);
        Assert.Equal("abc", dir.Read("out"));
        (await RunKit.RunTestee(["--stdout", "append:" + dir.File("out")], "write-out", "2")).Exits(0);
        Assert.Equal("abcab", dir.Read("out"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Stderr_goes_to_its_own_file_and_null_discards_or_gives_end_of_file()
    {
        using var dir = new TempDir();
        await using var guard = RunKit.Guard();

        (await RunKit.RunTestee(["--stdout", "null", "--stderr", dir.File("err")], "write-both", "5")).Exits(0);
        Assert.Equal("ABCDE", dir.Read("err"));
        (await RunKit.RunTestee(["--stdin", "null", "--stdout", dir.File("out"), "--stderr", "inherit"], "echo")).Exits(0);
        Assert.Equal("", dir.Read("out"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Umask_sets_the_child_umask()
    {
        Assert.Equal("0027", await ChildSays(["--umask", "027"], "umask"));
        Assert.Equal("0777", await ChildSays(["--umask", "0777"], "umask"));
    }

    [Theory(Timeout = 30_000)]
    [InlineData("NOFILE=100:200", "NOFILE", "100 200")]
    [InlineData("nofile=64", "NOFILE", "64 64")]
    [InlineData("RLIMIT_CORE=0:unlimited", "CORE", "0 unlimited")]
    [InlineData("CPU=unlimited", "CPU", "unlimited unlimited")]
    public async Task Rlimit_sets_the_child_soft_and_hard_limits(string option, string name, string expected)
    {
        Assert.Equal(expected, await ChildSays(["--rlimit", option], "rlimit", name));
    }

    [Fact(Timeout = 30_000)]
    public async Task Several_rlimits_apply_together()
    {
        var options = new[] { "--rlimit", "NOFILE=50:60", "--rlimit", "FSIZE=4096" };

        Assert.Equal("50 60", await ChildSays(options, "rlimit", "NOFILE"));
        Assert.Equal("4096 4096", await ChildSays(options, "rlimit", "FSIZE"));
    }

    [Fact(Timeout = 30_000)]
    public async Task No_new_privs_sets_the_bit_and_it_is_off_without_it()
    {
        Assert.Equal("1", await ChildSays(["--no-new-privs"], "nnp"));
        Assert.Equal("0", await ChildSays([], "nnp"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Argv0_is_what_the_child_sees_as_its_name()
    {
        string[] argv = (await ChildSays(["--argv0", "renamed by forklift"], "argv")).Split('\n');

        Assert.Equal(["renamed by forklift", "argv"], argv);
    }

    [Fact(Timeout = 30_000)]
    public async Task Setsid_makes_the_child_lead_a_session_and_pgid_only_a_process_group()
    {
        var session = Fields(await ChildSays(["--setsid"], "pgid-sid"));
        Assert.Equal(session["pid"], session["sid"]);
        Assert.Equal(session["pid"], session["pgid"]);

        var group = Fields(await ChildSays(["--pgid"], "pgid-sid"));
        Assert.Equal(group["pid"], group["pgid"]);
        Assert.NotEqual(group["pid"], group["sid"]);

        static Dictionary<string, string> Fields(string line) =>
            line.Split(' ').Select(f => f.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
    }

    [Fact(Timeout = 30_000)]
    public async Task Pdeathsig_sets_the_parent_death_signal()
    {
        Assert.Equal("10", await ChildSays(["--pdeathsig", "USR1"], "pdeathsig"));
        Assert.Equal("9", await ChildSays(["--pdeathsig", "SIGKILL"], "pdeathsig"));
    }

    [KernelFact(Timeout = 30_000)]
    public async Task Uid_gid_and_groups_set_the_child_credentials()
    {
        Assert.Equal("uid=65534,65534,65534 gid=65533,65533,65533 groups=100,65533",
            await ChildSays(["--uid", "65534", "--gid", "65533", "--groups", "100,65533"], "ids"));
        Assert.Equal("uid=65534,65534,65534 gid=65534,65534,65534 groups=",
            await ChildSays(["--uid", "65534", "--gid", "65534"], "ids"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_missing_program_exits_127_naming_every_PATH_directory_tried()
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.InProcess("run", "--", "forklift-clirun-no-such-program");

        string line = RunKit.FailsWith(outcome, RunCommand.NotFoundExit, "forklift: Execve: ENOENT: forklift-clirun-no-such-program: ");
        foreach (var dir in Environment.GetEnvironmentVariable("PATH")!.Split(':', StringSplitOptions.RemoveEmptyEntries))
            Assert.Contains(dir.TrimEnd('/'), line);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_missing_path_exits_127_with_the_step_errno_and_path()
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.InProcess("run", "--", "/no/such");

        RunKit.FailsWith(outcome, 127, "forklift: Execve: ENOENT: /no/such: No such file or directory");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_file_that_is_not_executable_exits_126()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("data"), "not a program\n");
        File.SetUnixFileMode(dir.File("data"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.InProcess("run", "--", dir.File("data"));

        RunKit.FailsWith(outcome, RunCommand.NotExecutableExit, $"forklift: Execve: EACCES: {dir.File("data")}: ");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_failed_setup_step_exits_125_naming_the_step_and_its_object()
    {
        await using var guard = RunKit.Guard();

        var cwd = await RunKit.InProcess("run", "--cwd", "/no/such/dir", "--", Testee.Path, "exit", "0");
        RunKit.FailsWith(cwd, RunCommand.StartFailedExit, "forklift: Chdir: ENOENT: /no/such/dir: ");

        var stdin = await RunKit.InProcess("run", "--stdin", "/no/such/input", "--", Testee.Path, "exit", "0");
        RunKit.FailsWith(stdin, RunCommand.StartFailedExit, "forklift: Open(fd 0): ENOENT: /no/such/input");
    }

    [Fact(Timeout = 30_000)]
    public async Task Verbose_prints_the_plan_the_path_taken_the_pid_the_clone_duration_and_the_exit_with_rusage()
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.RunTestee(["--verbose", "--rlimit", "CORE=0"], "exit", "3");

        outcome.Exits(3);
        string err = outcome.Err;
        Assert.All(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith("forklift: ", line));
        Assert.Contains("plan: clone3 with flags CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_CLEAR_SIGHAND, exit signal SIGCHLD", err);
        Assert.Contains("legacy clone if clone3 returns ENOSYS", err);
        Assert.Contains("step 1: SetRlimit(CORE) 0/0", err);
        Assert.Contains($"plan: exec candidates: {Testee.Path}", err);
        Assert.Matches(@"pid \d+ created by clone3, fast path, clone call \d+ µs", err);
        Assert.Matches(@"pid \d+ exited with code 3 after", err);
        Assert.Contains("rusage: user ", err);
        Assert.Contains("exiting with 3", err);
    }

    [Fact(Timeout = 30_000)]
    public async Task Verbose_says_when_legacy_clone_was_asked_for()
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.RunTestee(["--verbose", "--no-clone3"], "exit", "0");

        outcome.Exits(0);
        Assert.Contains("plan: legacy clone only (--no-clone3)", outcome.Err);
        Assert.Contains("created by legacy clone (--no-clone3)", outcome.Err);
    }

    [Fact(Timeout = 30_000)]
    public async Task Clone_flags_reach_the_kernel_after_the_model_allowed_them()
    {
        await using var guard = RunKit.Guard();

        var outcome = await RunKit.RunTestee(["--verbose", "--clone-flags", "IO|SYSVSEM"], "exit", "0");

        outcome.Exits(0);
        Assert.Contains("CLONE_SYSVSEM", outcome.Err);
        Assert.Contains("CLONE_IO", outcome.Err);
    }

    [Fact(Timeout = 30_000)]
    public async Task Clone3_EPERM_without_the_fallback_exits_125_naming_clone3_EPERM_and_the_option()
    {
        await using var guard = RunKit.Guard();
        var services = new RunServices(() => s_eperm.Value);

        var outcome = await RunKit.InProcess(services, "run", "--", Testee.Path, "exit", "7");

        string line = RunKit.FailsWith(outcome, RunCommand.StartFailedExit, "forklift: Clone3: EPERM: ");
        Assert.Contains("--clone3-eperm-fallback", line);
    }

    [Fact(Timeout = 30_000)]
    public async Task Clone3_EPERM_with_the_fallback_starts_the_child_by_legacy_clone_and_says_why()
    {
        await using var guard = RunKit.Guard();
        var services = new RunServices(() => s_eperm.Value);

        var outcome = await RunKit.InProcess(services, "run", "--verbose", "--clone3-eperm-fallback", "--", Testee.Path, "exit", "7");

        outcome.Exits(7);
        Assert.Contains("legacy clone if clone3 returns ENOSYS or EPERM", outcome.Err);
        Assert.Matches(@"pid \d+ created by legacy clone because clone3 returned EPERM", outcome.Err);
    }

    // One launcher (and reactor thread) for every test that needs clone3 to say EPERM.
    private static readonly Lazy<Processes.ProcessLauncher> s_eperm = new(() => Clone3FailsSystemCalls.Launcher(Errno.EPERM));
}
