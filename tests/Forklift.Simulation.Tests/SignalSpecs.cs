namespace Forklift.Simulation.Tests;

// kill(2), signal(7), pidfd_send_signal(2), pidfd_open(2): delivery and the default actions.
public class SignalSpecs
{
    [Fact]
    public void A_terminating_signal_ends_the_process_with_that_signal()
    {
        Scn.Pass("""
            init: fork -> a
            init: kill $a SIGTERM expect 0
            check a state = zombie
            init: wait4 $a 0 expect $a status=killed(SIGTERM)
            init: kill $a 0 expect ESRCH
            init: kill 99 SIGTERM expect ESRCH
            init: kill 1 99 expect EINVAL
            """);
    }

    [Fact]
    public void Stop_and_continue_are_reported_to_wuntraced_and_wcontinued_waiters()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGCHLD handle
            p: fork -> c
            p: setpgid $c 0
            p: kill $c SIGSTOP
            check c state = stopped
            check p received SIGCHLD
            p: wait4 $c WNOHANG expect 0
            p: wait4 $c WUNTRACED expect $c status=stopped(SIGSTOP)
            p: wait4 $c WUNTRACED|WNOHANG expect 0
            p: kill $c SIGCONT
            check c state = running
            p: waitid P_PID $c WCONTINUED expect 0 pid=$c status=continued
            p: kill $c SIGTSTP
            check c state = stopped
            p: kill $c SIGKILL
            p: wait4 $c 0 expect $c status=killed(SIGKILL)
            """);
    }

    [Fact]
    public void A_stopped_process_keeps_other_signals_pending_until_continued()
    {
        Scn.Pass("""
            init: fork -> c
            c: sigaction SIGUSR1 handle
            init: kill $c SIGSTOP
            init: kill $c SIGUSR1
            check c !received SIGUSR1
            init: kill $c SIGCONT
            check c received SIGUSR1
            """);
    }

    [Fact]
    public void Sa_nocldstop_silences_stop_notifications()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGCHLD handle SA_NOCLDSTOP
            p: fork -> c
            p: kill $c SIGSTOP
            check p !received SIGCHLD
            p: wait4 $c WUNTRACED expect $c status=stopped(SIGSTOP)
            """);
    }

    [Fact]
    public void Kill_reaches_process_groups_and_everyone()
    {
        Scn.Pass("""
            init: fork -> a
            a: setpgid 0 0
            a: fork -> b
            init: fork -> c
            init: kill -$a SIGTERM expect 0
            check a state = zombie
            check b state = zombie
            check c state = running
            init: kill -999 SIGTERM expect ESRCH
            init: kill -1 SIGKILL expect 0
            check c state = zombie
            check init state = running
            """);
    }

    [Fact]
    public void An_unprivileged_sender_may_signal_only_its_own_uid()
    {
        Scn.Pass("""
            init: fork -> u
            u: setuid 1000
            init: fork -> r
            u: kill $r SIGTERM expect EPERM
            u: kill $r 0 expect EPERM
            u: fork -> v
            u: kill $v SIGTERM expect 0
            u: kill $r SIGCONT expect 0
            """);
    }

    [Fact]
    public void Tgkill_checks_that_the_thread_belongs_to_the_process()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            init: tgkill $p $t.tid 0 expect 0
            init: tgkill 1 $t.tid 0 expect ESRCH
            init: tgkill 0 $t.tid 0 expect EINVAL
            init: tgkill $p $t.tid SIGKILL expect 0
            check p state = zombie
            check t state = reaped
            """);
    }

    [Fact]
    public void Pidfds_signal_the_process_until_it_is_reaped()
    {
        Scn.Pass("""
            init: fork -> a
            init: pidfd_open $a expect 3
            check init fd 3 = cloexec
            init: pidfd_send_signal 3 0 expect 0
            init: pidfd_send_signal 3 0 8 expect EINVAL
            init: pidfd_send_signal 3 0 3 expect EINVAL
            init: pidfd_send_signal 1 0 expect EBADF
            init: pidfd_send_signal 7 0 expect EBADF
            init: poll 3 expect 0
            init: pidfd_send_signal 3 SIGTERM expect 0
            init: poll 3 expect 1
            init: pidfd_send_signal 3 0 expect 0
            init: wait4 $a 0 expect $a
            init: pidfd_send_signal 3 0 expect ESRCH
            init: pidfd_open $a expect ESRCH
            init: pidfd_open 0 expect EINVAL
            init: pidfd_open 1 0x1 expect EINVAL
            """);
    }

    [Fact]
    public void A_pidfd_can_signal_the_process_group_it_leads()
    {
        Scn.Pass("""
            init: fork -> a
            a: setpgid 0 0
            a: fork -> b
            init: pidfd_open $a expect 3
            init: pidfd_send_signal 3 SIGTERM PIDFD_SIGNAL_PROCESS_GROUP expect 0
            check a state = zombie
            check b state = zombie
            """);
    }

    [Fact]
    public void Pidfd_open_of_a_thread_needs_pidfd_thread()
    {
        Scn.Pass("""
            init: fork -> p
            p: clone flags=VM|FS|FILES|SIGHAND|THREAD -> t
            init: pidfd_open $t.tid expect ENOENT
            init: pidfd_open $t.tid PIDFD_THREAD expect 3
            init: pidfd_send_signal 3 0 expect 0
            """);
    }

    [Fact]
    public void A_pidfd_for_a_process_outside_the_callers_namespace_is_einval()
    {
        Scn.Pass("""
            init: fork -> a
            init: pidfd_open $a expect 3
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> ns
            ns: pidfd_send_signal 3 0 expect EINVAL
            """);
    }

    [Fact]
    public void Sigkill_and_sigstop_cannot_be_caught()
    {
        Scn.Pass("""
            init: fork -> a
            a: sigaction SIGKILL ignore expect EINVAL
            a: sigaction SIGSTOP default expect EINVAL
            a: sigaction 0 ignore expect EINVAL
            a: sigaction SIGTERM ignore expect 0
            init: kill $a SIGTERM
            check a state = running
            """);
    }

    [Fact]
    public void A_handled_signal_interrupts_a_blocked_wait()
    {
        var r = Scn.Pass("""
            init: fork -> p
            p: fork -> c
            p: sigaction SIGUSR1 handle
            p: wait4 -1 0 expect blocked
            init: kill $p SIGUSR1
            check p state = running
            check p received SIGUSR1
            """);
        Assert.Contains(r.Trace, e => e.Kind == "completion" && e.Errno == "EINTR");
    }

    [Fact]
    public void Terminal_stop_signals_are_discarded_in_an_orphaned_process_group()
    {
        // init's children: their parent (global init) does not count, so the group is orphaned.
        Scn.Pass("""
            init: fork -> a
            a: setsid
            init: kill $a SIGTSTP
            check a state = running
            init: kill $a SIGSTOP
            check a state = stopped
            """);
    }
}

public class OrphanedGroupSpecs
{
    [Fact]
    public void A_group_orphaned_with_a_stopped_member_gets_sighup_and_sigcont()
    {
        // kill_orphaned_pgrp: p's exit leaves c's group without a parent in another group of the session.
        Scn.Pass("""
            init: fork -> p
            p: setsid
            p: fork -> c
            p: setpgid $c 0
            p: kill $c SIGSTOP
            check c state = stopped
            p: exit 0
            check c state = zombie
            init: wait4 $c 0 expect $c status=killed(SIGHUP)
            """);
    }
}
