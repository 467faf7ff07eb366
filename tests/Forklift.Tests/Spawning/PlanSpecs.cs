using System.Collections.Immutable;
using Forklift.Abi;
using Forklift.Interop;
using Forklift.Spawning;

namespace Forklift.Tests.Spawning;

/// <summary>Pure: validation, the plan's steps and their order, fd-collision planning, PATH candidates, the native block.</summary>
public sealed class PlanSpecs
{
    private static readonly SpawnInputs Inputs = new(
        new Dictionary<string, string> { ["PATH"] = "/a:/b/:", ["HOME"] = "/root", ["GONE"] = "x" }, "/work", 1000, 999);

    private static PlanModel Build(Command c, IReadOnlyDictionary<int, int>? parentFds = null, bool sync = false)
    {
        CommandValidator.Validate(c);
        return SpawnPlanBuilder.Build(c, Inputs, parentFds ?? new Dictionary<int, int>(), sync);
    }

    public static TheoryData<Command, string> BadCommands() => new()
    {
        { new Command(""), "Program" },
        { new Command("x").WithArguments("ok", "bad\0arg"), "Arguments[1]" },
        { new Command("x").WithArgumentZero("a\0"), "ArgumentZero" },
        { new Command("x").WithEnvironmentVariable("A=B", "1"), "EnvironmentChanges[A=B]" },
        { new Command("x").WithEnvironmentVariable("A", "1\0"), "EnvironmentChanges[A]" },
        { new Command("x").WithWorkingDirectory(""), "WorkingDirectory" },
        { new Command("x").WithStandardOutput(Stdio.FromFileDescriptor(-1)), "StandardOutput" },
        { new Command("x").WithFileDescriptor(-3, Stdio.Null), "FileDescriptors[-3]" },
        { new Command("x").WithStandardOutput(Stdio.Pipe).WithFileDescriptor(1, Stdio.FromFileDescriptor(5)), "FileDescriptors[1]" },
        { new Command("x").WithFileDescriptor(5, Stdio.Pipe), "FileDescriptors[5]" },
        { new Command("x").WithFileDescriptor(5, Stdio.File("")), "FileDescriptors[5]" },
        { new Command("x").WithIgnoredSignals(99), "IgnoredSignals" },
        { new Command("x").WithIgnoredSignals(9), "IgnoredSignals" },
        { new Command("x").WithBlockedSignals(0), "BlockedSignals" },
        { new Command("x").WithParentDeathSignal(65), "ParentDeathSignal" },
        { new Command("x").WithGracefulStop(0, TimeSpan.FromSeconds(1)), "StopSignal" },
        { new Command("x").AsSibling().WithExitSignal(17), "ExitSignal" },
        { new Command("x").WithCloneFlags(CloneFlags.Parent).WithExitSignal(10), "ExitSignal" },
        { new Command("x").WithExitSignal(-1), "ExitSignal" },
        { new Command("x").WithNewSession().WithProcessGroup(0), "ProcessGroup" },
        { new Command("x").WithProcessGroup(null, foregroundTerminal: 0), "ForegroundTerminal" },
        { new Command("x").WithCloneFlags(CloneFlags.Vm | CloneFlags.NewPid), "CloneFlags" },
        { new Command("x").WithCloneFlags(CloneFlags.Files), "CloneFlags" },
        { new Command("x").WithResourceLimit(ResourceLimit.Nofile, 10, 5), "ResourceLimits[NOFILE]" },
        { new Command("x").WithUmask((UnixFileMode)0x400), "Umask" },
        { new Command("x").WithUser(uint.MaxValue), "UserId" },
    };

    [Theory]
    [MemberData(nameof(BadCommands))]
    public void I_cannot_start_a_bad_command_and_nothing_is_created(Command command, string option)
    {
        using var fake = new RecordingSystemCalls();
        var launcher = new Forklift.Processes.ProcessLauncher(fake, () => Forklift.Rules.CallerContext.Root);

        var e = Assert.Throws<CommandException>(() => launcher.Start(command));

        Assert.Equal(option, e.Option);
        Assert.StartsWith(option + ": ", e.Message);
        Assert.Empty(fake.Calls);
    }

    [Fact]
    public void I_can_see_every_option_become_a_step_in_the_documented_order()
    {
        var command = new Command("prog")
            .WithNoNewPrivileges()
            .WithParentDeathSignal(9)
            .WithIgnoredSignals(2)
            .WithNewSession(controllingTerminal: 0)
            .WithStandardOutput(Stdio.Null)
            .WithWorkingDirectory("sub")
            .WithUser(1).WithGroup(2)
            .WithUmask((UnixFileMode)0x12)
            .WithResourceLimit(ResourceLimit.Nofile, 10, 20)
            .WithBlockedSignals(10);

        var plan = Build(command);

        Assert.Equal(
            ["Setsid", "SetRlimit(NOFILE)", "Umask", "Setgroups", "Setresgid", "Setresuid", "Chdir", "CloseRange(3..)",
             "Open(fd 1)", "SetCtty(fd 0)", "Tcsetpgrp(fd 0)", "SignalDefault(SIGPIPE)", "SignalDefault(SIGXFSZ)",
             "SignalIgnore(SIGINT)", "Pdeathsig", "NoNewPrivs"],
            plan.Steps.Select(s => s.Name));
        Assert.Equal("/work/sub", plan.Steps.Single(s => s.Name == "Chdir").Str);
        Assert.Equal(1000, plan.Steps.Single(s => s.Name == "Pdeathsig").B);
        Assert.Equal(SpawnPlanFlags.Fast | SpawnPlanFlags.ResetSignals | SpawnPlanFlags.SetSigmask, plan.Flags);
        Assert.Equal(1UL << 9, plan.Sigmask);
        Assert.Equal(17UL, plan.ExitSignal);
    }

    [Fact]
    public void I_can_see_the_full_path_wait_first_and_a_sibling_with_exit_signal_0_and_no_parent_check()
    {
        var plan = Build(new Command("prog").AsSibling().WithParentDeathSignal(15), sync: true);

        Assert.Equal("WaitParent", plan.Steps[0].Name);
        Assert.Equal(SpawnPlanFlags.Sync | SpawnPlanFlags.ResetSignals, plan.Flags);
        Assert.Equal((ulong)CloneFlags.Parent, plan.CloneFlags);
        Assert.Equal(0UL, plan.ExitSignal);
        Assert.Equal(0, plan.Steps.Single(s => s.Name == "Pdeathsig").B);
    }

    [Fact]
    public void I_can_see_swapped_stdout_and_stderr_parked_above_before_the_dup2s()
    {
        var steps = FdPlanner.Plan(new Dictionary<int, FdSource>
        {
            [1] = new FdSource.Dup(2, "fd 2"),
            [2] = new FdSource.Dup(1, "fd 1"),
        });

        Assert.Equal(
            ["DUP_ABOVE a=2 b=3 c=0", "DUP_ABOVE a=1 b=3 c=1", "CLOSE_RANGE a=3 b=4294967295 c=4",
             "DUP2 a=slot0 b=1 c=0", "DUP2 a=slot1 b=2 c=0"],
            steps.Select(s => s.ToString()));
    }

    [Fact]
    public void I_can_see_only_overwritten_sources_parked_and_identity_mappings_kept()
    {
        var steps = FdPlanner.Plan(new Dictionary<int, FdSource>
        {
            [0] = new FdSource.Dup(7, "pipe"),        // 7 is not a target: used as is
            [5] = new FdSource.Dup(5, "fd 5"),        // identity: only loses close-on-exec
            [6] = new FdSource.Open("/dev/null", 2, 0), // overwrites 6...
            [9] = new FdSource.Dup(6, "fd 6"),        // ...which this one reads: park 6 first
        });

        Assert.Equal(
            ["DUP_ABOVE a=6 b=10 c=0", "CLOSE_RANGE a=3 b=4294967295 c=4", "DUP2 a=7 b=0 c=0", "DUP2 a=5 b=5 c=0",
             "OPEN a=6 b=2 c=0 str=/dev/null", "DUP2 a=slot0 b=9 c=0"],
            steps.Select(s => s.ToString()));
    }

    [Fact]
    public void I_can_see_a_rotation_of_three_fds_planned_without_losing_any()
    {
        var steps = FdPlanner.Plan(new Dictionary<int, FdSource>
        {
            [3] = new FdSource.Dup(4, "fd 4"),
            [4] = new FdSource.Dup(5, "fd 5"),
            [5] = new FdSource.Dup(3, "fd 3"),
        });

        // Simulate the steps over a table: each target must end up with its source's original content.
        var table = new Dictionary<int, string> { [3] = "three", [4] = "four", [5] = "five" };
        var slots = new Dictionary<long, string>();
        foreach (var s in steps)
        {
            if (s.Op == SpawnOp.DupAbove)
                slots[SpawnOp.Slot((int)s.C)] = table[(int)s.A];
            else if (s.Op == SpawnOp.Dup2)
                table[(int)s.B] = s.A < 0 ? slots[s.A] : table[(int)s.A];
        }
        Assert.Equal(("four", "five", "three"), (table[3], table[4], table[5]));
    }

    [Fact]
    public void I_can_see_PATH_resolved_as_execvp_does_with_the_callers_PATH()
    {
        Assert.Equal(["/a/ls", "/b/ls", "./ls"], ExecResolver.Candidates("ls", "/a:/b/:", "/work").ToArray());
        Assert.Equal(["/usr/local/bin/ls", "/usr/bin/ls", "/bin/ls"], ExecResolver.Candidates("ls", null, "/work").ToArray());
        Assert.Equal(["/work/./tool"], ExecResolver.Candidates("./tool", "/a", "/work").ToArray());
        Assert.Equal(["/opt/tool"], ExecResolver.Candidates("/opt/tool", "/a", "/work").ToArray());
    }

    [Fact]
    public void I_can_see_the_environment_inherited_changed_and_sorted()
    {
        var inherited = Build(new Command("p").WithEnvironmentVariable("NEW", "1").WithoutEnvironmentVariable("GONE"));
        var cleared = Build(new Command("p").WithClearedEnvironment().WithEnvironmentVariable("ONLY", "x"));

        Assert.Equal(["HOME=/root", "NEW=1", "PATH=/a:/b/:"], inherited.Envp.ToArray());
        Assert.Equal(["ONLY=x"], cleared.Envp.ToArray());
        Assert.Equal(["p"], cleared.Argv.ToArray());
        Assert.Equal(["/a/p", "/b/p", "./p"], cleared.ExecPaths.ToArray()); // the caller's PATH, not the child's
    }

    [Fact]
    public unsafe void I_can_read_the_plan_back_from_its_unmanaged_block()
    {
        var model = Build(new Command("/bin/prog").WithArguments("a", "ü").WithSupplementaryGroups(7, 8)
            .WithStandardInput(Stdio.Pipe).WithEnvironment(e => e.Clear().Set("K", "V")), new Dictionary<int, int> { [0] = 42 });
        using var plan = SpawnPlan.Create(model);

        var text = plan.Describe();
        var native = plan.Native;

        Assert.Equal(FlSpawnPlan.CurrentVersion, native->Version);
        Assert.Equal((uint)model.Steps.Length, native->StepCount);
        Assert.Equal(["K=V"], SpawnPlan.DecodeEnvp(native));
        Assert.Contains("argv ü", text);
        Assert.Contains("SETGROUPS a=2 b=0 c=0 ids=[7,8]", text);
        Assert.Contains("DUP2 a=42 b=0 c=0", text);
        Assert.Contains("exec /bin/prog", text);
        Assert.True(plan.Size < 4096);
    }

    [Fact]
    public void I_can_build_commands_immutably()
    {
        var a = new Command("p");
        var b = a.WithArguments("x").WithEnvironmentVariable("K", "v").WithStandardOutput(Stdio.Pipe);

        Assert.Empty(a.Arguments);
        Assert.Equal(Stdio.Inherit, a.StandardOutput);
        Assert.Equal(["x"], b.Arguments.ToArray());
        Assert.Equal("v", b.EnvironmentChanges["K"]);
        Assert.Equal(ImmutableSortedSet.Create(13, 25), a.DefaultSignals);
        Assert.Equal("p x", b.ToString());
        Assert.Equal(b, a.WithArguments(x => x.Add("x")).WithEnvironmentVariable("K", "v").WithStandardOutput(Stdio.Pipe));
    }
}
