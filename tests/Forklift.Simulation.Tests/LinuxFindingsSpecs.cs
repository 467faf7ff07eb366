namespace Forklift.Simulation.Tests;

// Differences between the model and Linux that the differential test (Differential/) found, each fixed in the
// model and pinned here by a model-only scenario, so they stay fixed on machines that cannot run the real side.
public class LinuxFindingsSpecs
{
    [Fact]
    public void Setpgid_keeps_both_groups_member_lists_whole()
    {
        // The task was linked into its new group before being unlinked from the old one, through the same links:
        // kill(-pgid) then missed members of both groups.
        Scn.Pass("""
            init: fork -> a
            a: setsid
            a: fork -> b
            b: setpgid 0 0
            a: fork -> c
            a: setpgid $c $b expect 0
            a: fork -> d
            a: kill -$b SIGTERM expect 0
            check b state = zombie
            check c state = zombie
            check d state = running
            a: kill -$a SIGTERM expect 0
            check d state = zombie
            """);
    }

    [Fact]
    public void A_stopped_process_keeps_a_fatal_signal_pending_until_continued()
    {
        // complete_signal: wants_signal refuses a stopped task for anything but SIGKILL.
        Scn.Pass("""
            init: fork -> a
            init: kill $a SIGSTOP
            init: kill $a SIGTERM expect 0
            check a state = stopped
            init: kill $a SIGCONT
            check a state = zombie
            init: wait4 $a 0 expect $a status=killed(SIGTERM)
            """);
    }

    [Fact]
    public void A_woken_wait_reports_a_child_before_it_sees_the_signal()
    {
        // do_wait scans the children again after a wakeup and only then looks at signal_pending: the child that
        // raised SIGCHLD is reaped, and the handler runs afterwards.
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGCHLD handle
            p: fork -> c
            p: wait4 -1 0 expect blocked
            c: exit 5
            check c state = reaped
            check p received SIGCHLD
            p: wait4 -1 WNOHANG expect ECHILD
            """);
    }

    [Fact]
    public void A_wait_killed_by_a_signal_reaps_what_it_finds_first()
    {
        // The exit signal of the child is fatal to the waiting parent; woken inside do_wait, the parent reaps the
        // child before it dies of the signal.
        Scn.Pass("""
            init: fork -> p
            p: clone3 exit_signal=SIGUSR1 -> c
            p: wait4 -1 __WALL expect blocked
            c: exit 1
            check c state = reaped
            check p state = zombie
            init: wait4 $p 0 expect $p status=killed(SIGUSR1)
            """);
    }

    [Fact]
    public void The_last_thread_to_exit_gives_the_process_its_status()
    {
        // synchronize_group_exit (Linux 5.17+).
        Scn.Pass("""
            init: fork -> p
            p: clone3 flags=VM|SIGHAND|THREAD -> t
            p: exit 3
            t: exit 4
            init: wait4 $p 0 expect $p status=exited(4)
            """);
    }

    [Fact]
    public void A_vfork_parent_with_a_pending_signal_is_not_killed_by_a_second_one_until_released()
    {
        // A vfork parent sleeps TASK_KILLABLE: the first signal does not wake it; with one pending, wants_signal
        // refuses it a second (fatal) one, which waits for the release.
        Scn.Pass("""
            init: fork -> p
            p: vfork -> c
            init: kill $p SIGSTOP
            init: kill $p SIGTERM
            check p state = vfork
            c: exit 0
            check p state = zombie
            init: wait4 $p 0 expect $p status=killed(SIGTERM)
            """);
    }

    [Fact]
    public void A_dying_vfork_parent_reports_no_completion()
    {
        // The group kill reaches the child first and releases the parent, which is already dying: the call never
        // returns, so no completion is reported.
        var r = Scn.Pass("""
            init: fork -> p
            p: setpgid 0 0
            p: clone3 flags=VM|VFORK exit_signal=SIGCHLD -> c
            init: kill -$p SIGKILL
            check p state = zombie
            check c state = zombie
            """);
        Assert.DoesNotContain(r.Trace, e => e.Kind == "completion");
    }

    [Fact]
    public void A_refused_clone_into_a_dead_namespace_moves_the_pid_cursors()
    {
        // alloc_pid takes a number at every level before its PIDNS_ADDING check; freed again, but each
        // namespace's idr_alloc_cyclic cursor has moved.
        Scn.Pass("""
            init: fork -> other expect 2
            init: unshare NEWPID
            init: fork -> nsinit expect 3
            nsinit: exit 0
            init: wait4 $nsinit 0
            init: fork expect ENOMEM
            init: fork expect ENOMEM
            other: fork -> y expect 6
            """);
    }

    [Fact]
    public void Set_tid_in_a_namespace_owned_by_an_ancestor_user_namespace_is_refused()
    {
        // checkpoint_restore_ns_capable(ns->user_ns): root of a child user namespace has no capability over the
        // initial one.
        Scn.Pass("""
            init: clone3 flags=NEWUSER exit_signal=SIGCHLD -> u
            u: clone3 set_tid=50 exit_signal=SIGCHLD expect EPERM
            init: clone3 set_tid=50 exit_signal=SIGCHLD expect 50
            """);
    }

    [Fact]
    public void Tgkill_to_a_zombie_leader_is_never_taken()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone3 flags=VM|SIGHAND|THREAD -> t
            p: exit 0
            init: tgkill $p $p.tid SIGTERM expect 0
            check t state = running
            init: kill $p SIGTERM expect 0
            check t state = reaped
            """);
    }

    [Fact]
    public void A_child_wakes_only_the_waits_it_matches()
    {
        // child_wait_callback -> eligible_pid: a wait for another process sleeps on, even if that process has
        // since become a child it cannot report (exec reset its exit signal, so __WCLONE no longer takes it).
        Scn.Pass("""
            init: fork -> p
            p: clone3 exit_signal=SIGUSR1 -> a
            p: fork -> b
            p: wait4 $a __WCLONE expect blocked
            a: execve /bin/pause
            b: exit 0
            check p state = sleeping
            """);
    }

    [Fact]
    public void The_death_of_a_namespace_init_does_not_overtake_earlier_work()
    {
        // zap_pid_ns_processes runs its own kills at once; what was already under way for tasks outside (here a
        // child's death whose exit signal kills its parent) comes after, as it does on Linux's other CPUs.
        Scn.Pass("""
            init: sigaction SIGCHLD handle
            init: fork -> p
            p: setpgid 0 0
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> ns
            p: clone exit_signal=SIGUSR1 -> c
            init: wait4 0 0 expect blocked
            p: kill -1 SIGKILL
            check ns state = reaped
            check p state = zombie
            """);
    }
}
