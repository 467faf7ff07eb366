using Forklift.Simulation.Programs;

namespace Forklift.Simulation.Tests;

// execve(2) and the simulated programs on the virtual clock.
public class ExecProgramSpecs
{
    [Fact]
    public void Execve_resets_what_exec_resets()
    {
        Scn.Pass("""
            init: fork -> a
            a: execve /no/such expect ENOENT
            a: open /tmp/nope expect ENOENT
            a: open /tmp/x O_CREAT|O_CLOEXEC expect 3
            a: open /tmp/y O_CREAT expect 4
            a: sigaction SIGUSR1 handle
            a: sigaction SIGUSR2 ignore
            a: clone3 flags=VM|CHILD_SETTID child_tid=0x7f0000001000 exit_signal=SIGCHLD -> v
            check a mem 0x7f0000001000 = $v
            a: execve /bin/pause
            check a fd 3 = closed
            check a fd 4 = /tmp/y
            check a mem 0x7f0000001000 = 0
            check v mem 0x7f0000001000 = $v
            init: kill $a SIGUSR2
            check a state = sleeping
            init: kill $a SIGUSR1
            check a state = zombie
            """);
    }

    [Fact]
    public void Exec_from_a_thread_takes_over_the_process_id()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t expect 3
            t: execve /bin/pause
            check t pid = 2
            check t tid = 2
            check t threads = 1
            check t parent init
            check t exit_signal = SIGCHLD
            init: kill 2 SIGKILL
            init: wait4 2 0 expect 2 status=killed(SIGKILL)
            """);
    }

    [Fact]
    public void Programs_run_in_virtual_time()
    {
        var r = Scn.Pass("""
            program /bin/worker: write 1 "working\n"; sleep 100; exit 7
            init: fork -> a
            a: execve /bin/worker
            check file /dev/console = "working\n"
            advance 99
            check a state = sleeping
            advance 1
            check a state = zombie
            init: wait4 $a 0 expect $a status=exited(7)
            """);
        Assert.Equal(100, r.Kernel.Now);
    }

    [Fact]
    public void A_program_spawns_and_reaps_its_children()
    {
        Scn.Pass("""
            program /bin/parent: spawn /bin/sleep 5; spawn /bin/exit 3; waitall; exit 0
            init: fork -> p
            p: execve /bin/parent
            check p children = 1
            check p state = sleeping
            run
            check p state = zombie
            check p children = 0
            init: wait4 $p 0 expect $p status=exited(0)
            """);
    }

    [Fact]
    public void A_vfork_parent_program_resumes_after_the_child_execs()
    {
        var k = new SimKernel();
        var log = new List<string>();
        k.Programs.Register("/bin/vforker", c => Vforker(c, log));
        k.Fork(k.Init, out var p);
        k.Execve(p!, "/bin/vforker");
        k.RunUntilIdle();
        Assert.Equal(["vfork returned 3", "reaped 3"], log);
        Assert.Equal(TaskState.Zombie, p!.State);

        static IEnumerable<ProgramStep> Vforker(ProgramContext c, List<string> log)
        {
            var r = c.Kernel.Vfork(c.Task, out var child);
            Assert.Equal(TaskState.VforkWait, c.Task.State);
            c.Kernel.Execve(child!, "/bin/true");
            Assert.Equal(TaskState.Running, c.Task.State);
            log.Add($"vfork returned {r.Value}");
            yield return c.Wait();
            log.Add($"reaped {c.LastResult.Value}");
            yield return c.Exit(0);
        }
    }

    [Fact]
    public void A_program_handler_runs_when_the_signal_arrives()
    {
        var k = new SimKernel();
        int got = 0;
        k.Programs.Register("/bin/handler", c => Handler(c));
        k.Fork(k.Init, out var p);
        k.Execve(p!, "/bin/handler");
        k.RunDue();
        k.Kill(k.Init, SimKernel.PidIn(p!, k.Init), 10);
        k.RunUntilIdle();
        Assert.Equal(10, got);
        Assert.Equal(TaskState.Zombie, p!.State);

        IEnumerable<ProgramStep> Handler(ProgramContext c)
        {
            c.Handle(10, (_, sig) => got = sig);
            yield return c.Pause();
            yield return c.Exit(got == 10 ? 0 : 1);
        }
    }

    [Fact]
    public void A_reaper_program_collects_orphans()
    {
        Scn.Pass("""
            init: fork -> r
            r: prctl PR_SET_CHILD_SUBREAPER 1
            r: fork -> m
            m: fork -> o
            r: execve /sbin/init
            m: exit 0
            o: exit 0
            run
            check m state = reaped
            check o state = reaped
            check r state = sleeping
            """);
    }

    [Fact]
    public void A_program_forks_a_child_that_runs_csharp_code()
    {
        var k = new SimKernel();
        k.Programs.Register("/bin/forker", Forker);
        k.Fork(k.Init, out var p);
        k.Execve(p!, "/bin/forker");
        k.RunUntilIdle();
        Assert.Equal("child 3\nparent reaped exited(4) at t=10\n", k.FindFile("/dev/console")!.Content.ToString());
        Assert.Equal(10, k.Now);

        static IEnumerable<ProgramStep> Forker(ProgramContext c)
        {
            c.Fork(Child);
            yield return c.Wait();
            c.Write(1, $"parent reaped {c.LastWait.Describe()} at t={c.Kernel.Now}\n");
            yield return c.Exit(0);
        }

        static IEnumerable<ProgramStep> Child(ProgramContext c)
        {
            c.Write(1, $"child {c.Getpid()}\n");
            yield return c.Sleep(10);
            yield return c.Exit(4);
        }
    }
}
