namespace Forklift.Simulation.Tests;

// clone(2), CLONE_RULES.md: the share/copy/new effects and the errnos, evaluated by CloneRules on a context
// derived from the simulated task.
public class CloneSpecs
{
    [Fact]
    public void A_forked_child_gets_copies_of_the_tables_and_shares_the_namespaces()
    {
        Scn.Pass("""
            init: fork -> a expect 2
            check a parent init
            check a !shares vm init
            check a !shares files init
            check a !shares fs init
            check a !shares sighand init
            check a shares ns:pid init
            check a shares nsproxy init
            check a shares creds init
            check a fd 1 = /dev/console
            check a exit_signal = SIGCHLD
            check a pid = 2
            check a ppid = 1
            a: getppid expect 1
            """);
    }

    [Fact]
    public void A_thread_shares_everything_and_has_no_exit_signal()
    {
        Scn.Pass("""
            init: fork -> a
            a: clone flags=VM|FS|FILES|SIGHAND|THREAD|SYSVSEM -> t expect 3
            check t shares vm a
            check t shares files a
            check t shares fs a
            check t shares sighand a
            check t shares sysvsem a
            check t shares thread_group a
            check t exit_signal = -1
            t: getpid expect 2
            t: gettid expect 3
            t: getppid expect 1
            check a threads = 2
            """);
    }

    [Theory]
    [InlineData("clone flags=THREAD", "EINVAL")]                       // R-D3
    [InlineData("clone flags=SIGHAND", "EINVAL")]                      // R-D4
    [InlineData("clone flags=NEWNS|FS", "EINVAL")]                     // R-D1
    [InlineData("clone flags=NEWUSER|FS", "EINVAL")]                   // R-D2
    [InlineData("clone flags=PIDFD|PARENT_SETTID parent_tid=0x7f0000001000", "EINVAL")] // R-C1
    [InlineData("clone3 flags=THREAD|SIGHAND|VM exit_signal=SIGCHLD", "EINVAL")]        // R-B4
    [InlineData("clone3 flags=DETACHED", "EINVAL")]                    // R-B2
    [InlineData("clone3 flags=SIGHAND|CLEAR_SIGHAND|VM", "EINVAL")]    // R-B3
    [InlineData("clone3 size=32", "EINVAL")]                           // R-A2
    [InlineData("clone3 size=4097", "E2BIG")]                          // R-A1
    [InlineData("clone3 stack=0x1000", "EINVAL")]                      // R-B5
    [InlineData("clone3 exit_signal=65", "EINVAL")]                    // R-A8
    [InlineData("clone3 flags=NEWIPC|SYSVSEM", "EINVAL")]              // R-E9
    [InlineData("clone3 flags=SETTLS tls=0x800000000000", "EPERM")]    // R-E14
    [InlineData("clone3 flags=PIDFD", "EFAULT")]                       // R-E22: pidfd pointer NULL
    [InlineData("clone3 set_tid=5 set_tid_size=2", "EINVAL")]          // R-E15
    [InlineData("clone3 set_tid=0", "EINVAL")]                         // R-E16
    [InlineData("clone3 set_tid=1", "EEXIST")]                         // R-E19: init holds pid 1
    [InlineData("clone3 flags=NEWPID set_tid=2", "EINVAL")]            // R-E17
    [InlineData("clone3 flags=INTO_CGROUP cgroup=99", "EBADF")]        // R-E23
    [InlineData("clone3 flags=INTO_CGROUP cgroup=1", "EBADF")]         // R-E24: /dev/console
    public void A_refused_clone_answers_with_the_kernels_errno(string call, string errno)
    {
        var r = Scn.Pass($"""
            init: fork -> a
            a: {call} expect {errno}
            check a children = 0
            """);
        Assert.Contains("R-", r.Trace.Single(e => e.Kind == "call" && e.Task == "a").Detail);
    }

    [Fact]
    public void An_init_may_not_create_siblings_but_may_create_threads()
    {
        Scn.Pass("""
            init: clone flags=PARENT expect EINVAL
            init: clone flags=THREAD|SIGHAND|VM expect 2
            """);
    }

    [Fact]
    public void Raw_clone3_bytes_are_decoded_as_the_kernel_reads_them()
    {
        // 96 bytes with a non-zero byte past the 88 this kernel knows: E2BIG (copy_struct_from_user).
        string tail = new string('0', 2 * 90) + "01" + new string('0', 2 * 5);
        Scn.Pass($"""
            init: clone3 bytes={tail} expect E2BIG
            init: clone3 bytes=00 expect EINVAL
            init: clone3 raw=1 size=64 exit_signal=SIGCHLD -> a expect 2
            init: clone3 raw=1 set_tid=777 exit_signal=SIGCHLD -> b expect 777
            init: clone6 flags=VM upper=1 expect EINVAL
            init: clone6 exit_signal=SIGCHLD -> c expect 3
            """);
    }

    [Fact]
    public void Clone_parent_makes_a_sibling_that_signals_the_callers_parent()
    {
        // copy_process: with CLONE_PARENT the exit signal is the caller's leader's; the legacy byte is ignored.
        Scn.Pass("""
            init: fork -> a
            a: clone flags=PARENT exit_signal=SIGUSR1 -> b expect 3
            check b parent init
            check b exit_signal = SIGCHLD
            a: clone3 flags=PARENT exit_signal=SIGCHLD expect EINVAL
            a: clone3 flags=PARENT -> c expect 4
            check c parent init
            b: exit 4
            init: wait4 $b 0 expect $b status=exited(4)
            a: wait4 -1 WNOHANG expect ECHILD
            """);
    }

    [Fact]
    public void The_tid_and_pidfd_writes_land_in_the_right_memory()
    {
        Scn.Pass("""
            init: fork -> a
            a: clone3 flags=PARENT_SETTID|CHILD_SETTID|PIDFD parent_tid=0x7f0000001000 child_tid=0x7f0000002000 pidfd=0x7f0000003000 exit_signal=SIGCHLD -> b expect 3
            check a mem 0x7f0000001000 = $b
            check b mem 0x7f0000002000 = $b
            check a mem 0x7f0000002000 = 0
            check a mem 0x7f0000003000 = 3
            check a fd 3 = pidfd
            check a fd 3 = cloexec
            check b fd 3 = closed
            a: clone3 flags=VM|CHILD_SETTID|CHILD_CLEARTID child_tid=0x7f0000004000 exit_signal=SIGCHLD -> c expect 4
            check a mem 0x7f0000004000 = $c
            c: exit 0
            check a mem 0x7f0000004000 = 0
            """);
    }

    [Fact]
    public void Child_cleartid_is_not_written_when_nobody_else_uses_the_memory()
    {
        // mm_release: the write happens only while mm_users > 1.
        Scn.Pass("""
            init: clone3 flags=CHILD_SETTID|CHILD_CLEARTID child_tid=0x7f0000004000 exit_signal=SIGCHLD -> c
            check c mem 0x7f0000004000 = 2
            c: exit 0
            check c mem 0x7f0000004000 = 2
            """);
    }

    [Fact]
    public void Set_tid_picks_pids_per_namespace_level()
    {
        Scn.Pass("""
            init: clone3 set_tid=500 exit_signal=SIGCHLD -> a expect 500
            init: clone3 set_tid=500 expect EEXIST
            init: clone3 flags=NEWPID set_tid=1,600 exit_signal=SIGCHLD -> b expect 600
            check b pid = 1
            check b pidin init = 600
            init: fork -> c expect 2
            """);
    }

    [Fact]
    public void A_child_in_a_new_pid_namespace_is_its_init_and_cannot_see_its_parent()
    {
        Scn.Pass("""
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> ns1 expect 2
            ns1: getpid expect 1
            ns1: getppid expect 0
            ns1: fork -> x expect 2
            check x pidin init = 3
            check x pidin ns1 = 2
            x: getppid expect 1
            ns1: clone flags=PARENT expect EINVAL
            check ns1 !shares ns:pid init
            check x shares ns:pid ns1
            """);
    }

    [Fact]
    public void Vfork_suspends_the_parent_until_the_child_execs()
    {
        var r = Scn.Pass("""
            init: fork -> p
            p: vfork -> c expect 3
            check p state = vfork
            check c shares vm p
            c: execve /bin/pause
            check p state = running
            check c !shares vm p
            p: vfork -> d
            d: exit 1
            check p state = running
            """);
        Assert.Contains(r.Trace, e => e.Kind == "completion" && e.Call == "vfork");
    }

    [Fact]
    public void Children_with_another_exit_signal_need_wclone_or_wall()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGUSR1 ignore
            p: clone 0 SIGUSR1 -> a
            p: clone3 -> b
            a: exit 1
            b: exit 2
            p: wait4 -1 WNOHANG expect ECHILD
            p: wait4 $a __WCLONE expect $a status=exited(1)
            p: wait4 -1 __WALL expect $b status=exited(2)
            """);
    }

    [Fact]
    public void Unshared_pid_namespace_takes_the_next_children()
    {
        Scn.Pass("""
            init: fork -> p
            p: unshare NEWPID
            p: unshare NEWPID expect EINVAL
            p: clone flags=THREAD|SIGHAND|VM expect EINVAL
            p: clone3 set_tid=2 exit_signal=SIGCHLD expect EINVAL
            p: fork -> i expect 3
            check i pid = 1
            p: getpid expect 2
            p: fork -> j expect 4
            check j pid = 2
            p: clone3 set_tid=7,70 exit_signal=SIGCHLD -> k expect 70
            check k pid = 7
            p: clone3 flags=NEWPID expect EINVAL
            check j parent p
            """);
    }

    [Fact]
    public void A_dead_pid_namespace_refuses_new_processes_with_enomem()
    {
        Scn.Pass("""
            init: fork -> p
            p: unshare NEWPID
            p: fork -> i
            i: exit 0
            p: wait4 $i 0 expect $i
            p: fork expect ENOMEM
            """);
    }

    [Fact]
    public void Setns_into_a_pid_namespace_places_the_next_children_there()
    {
        Scn.Pass("""
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> c
            init: open /proc/1/ns/pid expect 3
            init: open /proc/2/ns/pid expect 4
            init: setns 4 NEWPID
            init: fork -> d expect 3
            check d pid = 2
            check d parent init
            d: getppid expect 0
            init: clone3 flags=NEWPID expect EINVAL
            init: clone flags=THREAD|SIGHAND|VM expect EINVAL
            d: setns 3 NEWPID expect EINVAL
            d: setns 4 NEWUTS expect EINVAL
            init: setns 3 NEWPID
            init: fork expect 4
            """);
    }

    [Fact]
    public void An_unprivileged_user_needs_a_user_namespace_for_the_others()
    {
        Scn.Pass("""
            init: fork -> u
            u: setuid 1000
            check u caps = none
            u: clone3 flags=NEWPID expect EPERM
            u: clone3 flags=NEWUSER|NEWPID|NEWNET exit_signal=SIGCHLD -> c expect 3
            check c caps = all
            check c uid = 65534
            c: clone3 flags=NEWUSER expect EPERM
            u: uid_map c 0 1000 1
            check c uid = 0
            c: clone3 flags=NEWUSER exit_signal=SIGCHLD -> d expect 2
            """);
    }

    [Fact]
    public void Rlimit_nproc_stops_an_unprivileged_user_with_eagain()
    {
        Scn.Pass("""
            init: fork -> u
            u: setuid 1000
            u: setrlimit RLIMIT_NPROC 2
            u: fork -> a expect 3
            u: fork expect EAGAIN
            a: exit 0
            u: wait4 $a 0 expect $a
            u: fork expect 4
            """);
    }

    [Fact]
    public void Namespace_limits_are_enospc()
    {
        Scn.Pass("""
            sysctl user.max_pid_namespaces=1
            init: clone3 flags=NEWPID exit_signal=SIGCHLD -> a expect 2
            init: clone3 flags=NEWPID exit_signal=SIGCHLD expect ENOSPC
            a: exit 0
            init: wait4 $a 0 expect $a
            init: clone3 flags=NEWPID exit_signal=SIGCHLD expect 3
            """);
    }

    [Fact]
    public void Clone_into_cgroup_places_the_child_and_checks_the_directory()
    {
        Scn.Pass("""
            mkcgroup /jobs
            init: open /sys/fs/cgroup/jobs expect 3
            init: clone3 flags=INTO_CGROUP cgroup=3 exit_signal=SIGCHLD -> a expect 2
            check a shares cgroup a
            check a !shares cgroup init
            rmcgroup /jobs
            a: exit 0
            init: wait4 $a 0
            rmcgroup /jobs
            init: clone3 flags=INTO_CGROUP cgroup=3 exit_signal=SIGCHLD expect ENOENT
            init: clone3 flags=INTO_CGROUP cgroup=3 size=80 expect EINVAL
            """);
    }

    [Fact]
    public void Clear_sighand_resets_handlers_but_keeps_ignored_signals()
    {
        Scn.Pass("""
            init: fork -> p
            p: sigaction SIGUSR1 handle
            p: sigaction SIGUSR2 ignore
            p: clone3 flags=CLEAR_SIGHAND exit_signal=SIGCHLD -> c
            p: fork -> d
            p: kill $d SIGUSR1
            check d state = running
            check d received SIGUSR1
            p: kill $c SIGUSR2
            check c state = running
            p: kill $c SIGUSR1
            check c state = zombie
            p: wait4 $c 0 expect $c status=killed(SIGUSR1)
            """);
    }

    [Fact]
    public void The_vm_and_namespace_flags_create_what_they_say()
    {
        Scn.Pass("""
            init: clone3 flags=NEWNS|NEWUTS|NEWIPC|NEWNET|NEWCGROUP|NEWTIME exit_signal=SIGCHLD -> a
            check a !shares ns:mnt init
            check a !shares ns:uts init
            check a !shares ns:ipc init
            check a !shares ns:net init
            check a !shares ns:cgroup init
            check a !shares ns:time init
            check a shares ns:user init
            check a shares ns:pid init
            init: clone3 flags=VM|NEWTIME exit_signal=SIGCHLD -> b
            check b shares ns:time init
            check b !shares ns:time_for_children init
            b: execve /bin/pause
            check b !shares ns:time init
            """);
    }

    [Fact]
    public void Settls_and_the_stack_set_the_childs_registers()
    {
        // copy_thread: clone3's stack pointer is stack + stack_size; legacy clone's newsp is used as is.
        Scn.Pass("""
            init: clone3 flags=SETTLS tls=0x7f0000100000 stack=0x7f0000200000 stack_size=0x1000 exit_signal=SIGCHLD -> a
            check a tls = 0x7f0000100000
            check a sp = 0x7f0000201000
            init: clone flags=VM stack=0x7f0000300000 -> b
            check b sp = 0x7f0000300000
            check b tls = 0
            """);
    }

    [Fact]
    public void An_open_namespace_file_keeps_the_namespace_and_its_count_alive()
    {
        Scn.Pass("""
            sysctl user.max_net_namespaces=1
            init: clone3 flags=NEWNET exit_signal=SIGCHLD -> a
            init: open /proc/2/ns/net expect 3
            a: exit 0
            init: wait4 $a 0 expect $a
            init: clone3 flags=NEWNET exit_signal=SIGCHLD expect ENOSPC
            init: unshare NEWNET expect ENOSPC
            init: close 3
            init: clone3 flags=NEWNET exit_signal=SIGCHLD -> b expect 3
            """);
    }
}
