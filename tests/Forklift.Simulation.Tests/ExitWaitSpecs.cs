namespace Forklift.Simulation.Tests;

// wait(2), prctl(2), pid_namespaces(7): exit, SIGCHLD, reaping, reparenting, subreapers, namespace inits.
public class ExitWaitSpecs
{
    [Fact]
    public void Wnohang_reports_nothing_while_the_child_runs_and_echild_without_children()
    {
        Scn.Pass("""
            init: fork -> a
            a: wait4 -1 WNOHANG expect ECHILD
            init: wait4 -1 WNOHANG expect 0
            init: wait4 99 0 expect ECHILD
            init: wait4 -1 0x100 expect EINVAL
            a: exit 7
            init: wait4 -1 WNOHANG expect $a status=exited(7)
            init: wait4 -1 WNOHANG expect ECHILD
            """);
    }

    [Fact]
    public void A_blocked_wait_completes_when_the_child_exits()
    {
        var r = Scn.Pass("""
            init: fork -> a
            init: wait4 -1 0 expect blocked
            check init state = sleeping
            a: exit 5
            check a state = reaped
            check init state = running
            """);
        Assert.Contains(r.Trace, e => e.Kind == "completion" && e.Call == "wait4" && e.Value == 2);
    }

    [Fact]
    public void Wnowait_leaves_the_zombie_waitable()
    {
        Scn.Pass("""
            init: fork -> a
            a: exit 3
            init: waitid P_PID $a WEXITED|WNOWAIT expect 0 pid=$a status=exited(3)
            check a state = zombie
            init: waitid P_ALL 0 WEXITED expect 0 pid=$a status=exited(3)
            check a state = reaped
            init: waitid P_ALL 0 0 expect EINVAL
            init: waitid 7 0 WEXITED expect EINVAL
            init: waitid P_PID 0 WEXITED expect EINVAL
            """);
    }

    [Fact]
    public void Waitid_selects_by_process_group_and_by_pidfd()
    {
        Scn.Pass("""
            init: fork -> a
            init: fork -> b
            init: setpgid $b 0
            a: exit 1
            b: exit 2
            init: waitid P_PGID $b WEXITED expect 0 pid=$b status=exited(2)
            init: fork -> c
            init: pidfd_open $c PIDFD_NONBLOCK expect 3
            init: waitid P_PIDFD 3 WEXITED expect EAGAIN
            init: waitid P_PIDFD 3 WEXITED|WNOHANG expect 0
            init: waitid P_PIDFD 1 WEXITED expect EBADF
            init: waitid P_PIDFD 9 WEXITED expect EBADF
            c: exit 9
            init: poll 3 expect 1
            init: waitid P_PIDFD 3 WEXITED expect 0 pid=$c status=exited(9)
            init: wait4 0 0 expect $a status=exited(1)
            """);
    }

    [Fact]
    public void An_orphan_goes_to_the_nearest_subreaper_else_to_init()
    {
        Scn.Pass("""
            init: fork -> s
            s: prctl PR_SET_CHILD_SUBREAPER 1
            s: prctl PR_GET_CHILD_SUBREAPER expect 1
            s: fork -> m
            m: fork -> c
            m: exit 0
            check c parent s
            c: getppid expect $s
            s: wait4 $m 0 expect $m
            init: fork -> o
            o: fork -> oc
            o: exit 0
            check oc parent init
            """);
    }

    [Fact]
    public void Children_of_an_exiting_thread_go_to_another_thread_of_its_process()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            t: fork -> c
            check c parent t
            t: exit 0
            check c parent p
            p: wait4 -1 WNOHANG expect 0
            """);
    }

    [Fact]
    public void A_zombie_orphan_is_notified_to_its_new_parent()
    {
        Scn.Pass("""
            init: fork -> p
            p: fork -> c
            c: exit 4
            p: exit 0
            check c parent init
            init: wait4 $c 0 expect $c status=exited(4)
            init: wait4 $p 0 expect $p status=exited(0)
            """);
    }

    [Fact]
    public void Ignoring_sigchld_reaps_children_at_once()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGCHLD ignore
            p: fork -> c
            p: fork -> d
            c: exit 1
            check c state = reaped
            p: wait4 -1 0 expect blocked
            d: exit 2
            check d state = reaped
            check p state = running
            """);
    }

    [Fact]
    public void Sa_nocldwait_reaps_and_still_signals()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGCHLD handle SA_NOCLDWAIT
            p: fork -> c
            c: exit 1
            check c state = reaped
            check p received SIGCHLD
            """);
    }

    [Fact]
    public void A_handled_sigchld_is_delivered_for_each_exit()
    {
        Scn.Pass("""
            init: fork -> p
            p: fork -> c
            c: exit 1
            check p !received SIGCHLD
            p: sigaction SIGCHLD handle
            p: fork -> d
            d: exit 1
            check p received SIGCHLD
            check c state = zombie
            """);
    }

    [Fact]
    public void A_group_leader_with_live_threads_is_not_reaped_until_the_last_thread_exits()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            p: exit 3
            check p state = zombie
            check t state = running
            init: wait4 $p WNOHANG expect 0
            t: exit 9
            check t state = reaped
            init: wait4 $p 0 expect $p status=exited(9)
            """);
        // The last thread's exit makes the group exit with its code (synchronize_group_exit, Linux 5.17+); the
        // differential test against Linux found this (Scenarios/Linux/threads.scn).
    }

    [Fact]
    public void Exit_group_ends_every_thread_with_the_groups_code()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            t: exit_group 6
            check p state = zombie
            check t state = reaped
            init: wait4 $p 0 expect $p status=exited(6)
            """);
    }

    [Fact]
    public void The_death_of_a_namespace_init_kills_the_namespace()
    {
        Scn.Pass("""
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> ns
            ns: fork -> a
            a: fork -> b
            ns: exit 0
            check a state = reaped
            check b state = reaped
            check ns state = zombie
            init: wait4 $ns 0 expect $ns status=exited(0)
            """);
    }

    [Fact]
    public void A_namespace_init_waits_for_zombies_whose_parent_is_outside()
    {
        // zap_pid_ns_processes: the init does not finish exiting while a pid of its namespace is in use.
        Scn.Pass("""
            init: fork -> p
            p: unshare NEWPID
            p: fork -> i
            p: fork -> x
            check x pid = 2
            i: exit 0
            check x state = zombie
            check i state = exiting
            p: wait4 $i WNOHANG expect 0
            p: wait4 $x 0 expect $x status=killed(SIGKILL)
            check i state = zombie
            p: wait4 $i 0 expect $i status=exited(0)
            """);
    }

    [Fact]
    public void A_namespace_init_ignores_sigkill_from_inside_but_not_from_its_parent()
    {
        Scn.Pass("""
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> ns
            ns: fork -> a
            a: kill 1 SIGKILL expect 0
            check ns state = running
            a: kill 1 SIGTERM expect 0
            check ns state = running
            init: kill $ns SIGTERM
            check ns state = running
            init: kill $ns SIGKILL
            check ns state = zombie
            check a state = reaped
            """);
    }

    [Fact]
    public void The_parent_death_signal_follows_the_parent_thread()
    {
        Scn.Pass("""
            init: fork -> p
            p: fork -> c
            c: prctl PR_SET_PDEATHSIG SIGKILL
            c: prctl PR_GET_PDEATHSIG expect SIGKILL
            c: prctl PR_SET_PDEATHSIG 65 expect EINVAL
            p: exit 0
            check c state = zombie
            init: wait4 $c 0 expect $c status=killed(SIGKILL)
            """);
    }

    [Fact]
    public void Reparenting_resets_the_exit_signal_to_sigchld()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGUSR1 ignore
            p: clone 0 SIGUSR1 -> c
            check c exit_signal = SIGUSR1
            p: exit 0
            check c exit_signal = SIGCHLD
            c: exit 2
            init: wait4 $c 0 expect $c status=exited(2)
            """);
    }

    [Fact]
    public void A_wait_sees_children_of_every_thread_unless_wnothread()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            t: fork -> c
            c: exit 1
            p: wait4 -1 __WNOTHREAD|WNOHANG expect ECHILD
            p: wait4 -1 WNOHANG expect $c status=exited(1)
            """);
    }

    [Fact]
    public void A_parent_that_exec_d_since_the_clone_gets_sigchld_instead_of_the_exit_signal()
    {
        // do_notify_parent: parent_exec_id != parent->self_exec_id turns the exit signal into SIGCHLD.
        Scn.Pass("""
            init: fork -> p
            p: clone 0 SIGUSR1 -> c
            p: execve /bin/pause
            c: exit 0
            check p state = sleeping
            init: fork -> q
            q: clone 0 SIGUSR1 -> d
            d: exit 0
            check q state = zombie
            init: wait4 $q 0 expect $q status=killed(SIGUSR1)
            """);
    }

    [Fact]
    public void Waitid_reports_the_childs_uid_as_the_waiter_sees_it()
    {
        var r = Scn.Pass("""
            init: fork -> u
            u: setuid 1000
            u: exit 0
            init: waitid P_ALL 0 WEXITED expect 0 pid=$u
            """);
        _ = r;
        var k = new SimKernel();
        k.Fork(k.Init, out var u);
        k.Setuid(u!, 1000);
        k.Exit(u!, 2);
        k.Waitid(k.Init, WaitConst.PAll, 0, WaitConst.WExited, out var info);
        Assert.Equal(1000, info.Uid);
        Assert.Equal(WaitConst.CldExited, info.Code);
        Assert.Equal(2, info.SiStatus);
        Assert.Equal(2 << 8, info.Status);
    }

    [Fact]
    public void Nested_namespaces_die_with_their_ancestor_and_the_dying_init_reaps_them()
    {
        // The nested init has exit signal 0: only the dying init's __WALL wait reaps it.
        Scn.Pass("""
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> a
            a: clone3 flags=NEWPID -> b
            b: fork -> c
            check c pidin a = 3
            check c pidin b = 2
            init: kill $a SIGKILL
            check b state = reaped
            check c state = reaped
            check a state = zombie
            init: wait4 $a 0 expect $a status=killed(SIGKILL)
            """);
    }

    [Fact]
    public void The_global_init_exiting_panics_the_kernel()
    {
        var r = Forklift.Simulation.Scenarios.ScenarioRunner.Run("init: exit 0");
        Assert.Contains("Attempted to kill init", r.Error);
        Assert.Equal(2, r.ExitCode);
    }
}
