using Forklift.Abi;
using Forklift.Rules;
using Forklift.Simulation.Scenarios;

namespace Forklift.Simulation.Tests;

// The machine itself: pid allocation, the derived caller context, determinism, scenario errors, output.
public class KernelSpecs
{
    [Fact]
    public void Pids_are_allocated_cyclically_and_wrap_to_reserved_pids()
    {
        var k = new SimKernel(new SimKernelOptions { PidMax = 310 });
        var seen = new List<long>();
        for (int i = 0; i < 320; i++)
        {
            var r = k.Fork(k.Init, out var c);
            seen.Add(r.Value);
            k.Exit(c!, 0);
            k.Wait4(k.Init, (int)r.Value, 0, out _);
        }
        Assert.Equal(2, seen[0]);
        Assert.Equal(309, seen[307]);
        Assert.Equal(300, seen[308]); // wrapped to RESERVED_PIDS, not 2
        Assert.Equal(301, seen[309]);
    }

    [Fact]
    public void A_full_pid_space_is_eagain()
    {
        var k = new SimKernel(new SimKernelOptions { PidMax = 8 });
        for (int i = 2; i < 8; i++)
        {
            Assert.Equal(i, k.Fork(k.Init).Value);
        }
        var r = k.Fork(k.Init);
        Assert.Equal(Errno.EAGAIN, r.Errno);
    }

    [Fact]
    public void A_process_group_id_stays_in_use_after_its_leader_is_reaped()
    {
        var k = new SimKernel(new SimKernelOptions { PidMax = 4 });
        k.Fork(k.Init, out var a);
        k.Setpgid(k.Init, 2, 0);
        k.Fork(a!, out var b);                     // pid 3, in group 2
        k.Exit(a!, 0);
        k.Wait4(k.Init, 2, 0, out _);               // 2 reaped, but group 2 lives on in 3
        Assert.Equal(2, b!.Group.Pgrp.Nr);
        Assert.Equal(Errno.EAGAIN, k.Fork(k.Init).Errno);
    }

    [Fact]
    public void The_context_is_derived_from_the_task()
    {
        var k = new SimKernel();
        k.Fork(k.Init, out var a);
        var c = k.ContextOf(a!);
        Assert.False(c.IsPidNsInit);
        Assert.True(k.ContextOf(k.Init).IsPidNsInit);
        Assert.Same(c, k.ContextOf(a!));           // cached while nothing changes
        k.Unshare(a!, CloneFlags.NewPid);
        var u = k.ContextOf(a!);
        Assert.True(u.PidNsForChildrenUnshared);
        Assert.True(u.PidsInUse[0]!.Contains(2));
        Assert.Equal(CloneRules.Evaluate(CloneCall.Legacy(new LegacyCloneRegisters((ulong)(CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm))), u).Errno,
            k.CloneLegacy(a!, new LegacyCloneRegisters((ulong)(CloneFlags.Thread | CloneFlags.Sighand | CloneFlags.Vm)), out _).Errno);
    }

    [Fact]
    public void The_same_scenario_gives_the_same_output()
    {
        const string Text = """
            program /bin/w: sleep 3; exit 1
            init: clone3 flags=NEWPID|PIDFD pidfd=0x7f0000001000 exit_signal=SIGCHLD -> a
            a: fork -> b
            b: execve /bin/w
            run
            a: wait4 -1 0
            tree
            """;
        var one = ScenarioRunner.Run(Text);
        var two = ScenarioRunner.Run(Text);
        Assert.True(one.Error is null, one.ToText());
        Assert.Equal(one.ToJson(), two.ToJson());
        Assert.Equal(one.ToText(), two.ToText());
    }

    [Fact]
    public void Scenario_errors_name_the_line()
    {
        Assert.Contains("line 2", ScenarioRunner.Run("init: fork\nnobody: exit 0").Error);
        Assert.Contains("line 1", ScenarioRunner.Run("init: frobnicate").Error);
        Assert.Contains("line 1", ScenarioRunner.Run("what is this").Error);
        Assert.Contains("line 3", ScenarioRunner.Run("init: fork -> a\na: exit 0\na: getpid").Error);
        Assert.Contains("line 1", ScenarioRunner.Run("advance x").Error);
        Assert.Contains("line 2", ScenarioRunner.Run("init: fork\nkernel pid_max=5").Error);
        Assert.Contains("line 1", ScenarioRunner.Run("init: fork -> a expect \"unterminated").Error);
    }

    [Fact]
    public void The_report_shows_pids_per_namespace_and_shared_groups()
    {
        var r = Scn.Pass("""
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> a
            a: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            check t shares vm a
            """);
        string text = r.ToText();
        Assert.Contains("[2,1]", text);
        using var doc = System.Text.Json.JsonDocument.Parse(r.ToJson());
        var procs = doc.RootElement.GetProperty("processes");
        Assert.Equal(2, procs.GetArrayLength());
        var a = procs[1];
        Assert.Equal("a", a.GetProperty("name").GetString());
        Assert.Equal(2, a.GetProperty("pids").GetArrayLength());
        Assert.Equal(a.GetProperty("resources").GetProperty("mm").GetInt32(),
            a.GetProperty("threads")[0].GetProperty("resources").GetProperty("mm").GetInt32());
        Assert.NotEqual(procs[0].GetProperty("namespaces").GetProperty("pid").GetInt32(), a.GetProperty("namespaces").GetProperty("pid").GetInt32());
    }

    [Fact]
    public void A_million_cycles_stay_fast_and_leave_no_residue()
    {
        var k = new SimKernel();
        for (int i = 0; i < 100_000; i++)
        {
            var r = k.Fork(k.Init, out var c);
            k.Exit(c!, 0);
            Assert.Equal(r.Value, k.Wait4(k.Init, (int)r.Value, 0, out _).Value);
        }
        Assert.Equal(1, k.ProcessCount);
        Assert.Equal(1, k.TaskCount);
        Assert.Equal(1, k.RootPidNs.Allocated);
        Assert.Equal(1, k.Init.Cred.Account.Tasks);
        Assert.Equal(3, k.Init.Files.Count);
    }

    [Fact]
    public void Pid_namespaces_nest_32_deep_and_user_namespaces_33()
    {
        var k = new SimKernel();
        var t = k.Init;
        for (int level = 1; level <= 32; level++)
        {
            var r = k.Clone3(t, new CloneArgs { Flags = CloneFlags.NewPid, ExitSignal = Signals.SigChld }, out var c);
            Assert.True(r.Ok, $"level {level}: {r}");
            t = c!;
            Assert.Equal(level, t.Pid.Level);
            Assert.Equal(1, t.Pid.Nr);
        }
        Assert.Equal(Errno.ENOSPC, k.Clone3(t, new CloneArgs { Flags = CloneFlags.NewPid, ExitSignal = Signals.SigChld }, out _).Errno);
        var leaf = k.Fork(t, out var deep);
        Assert.Equal(2, leaf.Value);
        Assert.Equal(33, deep!.Pid.Level + 1);
        Assert.Equal(34, deep.Pid.NrAtLevel(0)); // after the 32 nested inits (2..33) in the initial namespace
        k.KernelSignal(k.FindTask(2)!, 9);       // the outermost nested init: everything below dies
        Assert.Equal(2, k.ProcessCount);         // init and the zombie
        Assert.Equal(2, k.Wait4(k.Init, 2, 0, out _).Value);

        var u = k.Init;
        for (int level = 1; level <= 33; level++)
        {
            var r = k.Clone3(u, new CloneArgs { Flags = CloneFlags.NewUser, ExitSignal = Signals.SigChld }, out var c);
            Assert.True(r.Ok, $"user level {level}: {r}");
            k.WriteUidMap(u, c!, 0, 0, 1);
            u = c!;
        }
        Assert.Equal(Errno.ENOSPC, k.Clone3(u, new CloneArgs { Flags = CloneFlags.NewUser, ExitSignal = Signals.SigChld }, out _).Errno);
    }

    [Fact]
    public void Kill_minus_one_reaches_only_the_callers_namespace()
    {
        Scn.Pass("""
            init: fork -> outside
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> ns
            ns: fork -> a
            ns: fork -> b
            a: kill -1 SIGKILL expect 0
            check b state = zombie
            check ns state = running
            check outside state = running
            check a state = running
            """);
    }
}
