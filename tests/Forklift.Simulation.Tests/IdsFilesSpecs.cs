namespace Forklift.Simulation.Tests;

// setsid(2), setpgid(2), unshare(2), setns(2), open/close/dup: the tables a scenario can observe.
public class IdsFilesSpecs
{
    [Fact]
    public void Setsid_and_setpgid_follow_the_posix_rules()
    {
        Scn.Pass("""
            init: setsid expect EPERM
            init: fork -> a
            a: setsid expect $a
            check a sid = $a
            check a pgid = $a
            a: setsid expect EPERM
            a: setpgid 0 0 expect EPERM
            init: fork -> b
            init: setpgid $b 0 expect 0
            check b pgid = $b
            init: setpgid $a 0 expect EPERM
            b: execve /bin/pause
            init: setpgid $b 1 expect EACCES
            init: setpgid 99 0 expect ESRCH
            init: setpgid $b -1 expect EINVAL
            init: getpgid $b expect $b
            init: getsid $b expect 1
            init: getpgid 99 expect ESRCH
            """);
    }

    [Fact]
    public void A_copied_fd_table_shares_the_open_files()
    {
        Scn.Pass("""
            init: open /tmp/log O_CREAT expect 3
            init: fork -> a
            a: write 3 "child "
            init: write 3 "parent"
            check file /tmp/log = "child parent"
            a: close 3
            check init fd 3 = /tmp/log
            a: close 3 expect EBADF
            init: dup 3 expect 4
            init: dup2 3 10 expect 10
            init: dup3 3 3 0 expect EINVAL
            init: dup2 3 3 expect 3
            init: dup3 3 11 O_CLOEXEC expect 11
            check init fd 11 = cloexec
            init: fcntl 11 F_GETFD expect 1
            init: fcntl 11 F_SETFD 0
            check init !fd 11 = cloexec
            init: clone flags=FILES -> s
            s: open /tmp/z O_CREAT expect 5
            check init fd 5 = /tmp/z
            """);
    }

    [Fact]
    public void Unshare_makes_private_copies_and_new_namespaces()
    {
        Scn.Pass("""
            init: clone flags=FILES|FS -> a
            check a shares files init
            a: unshare FILES|FS
            check a !shares files init
            check a !shares fs init
            a: unshare NEWUTS|NEWNET
            check a !shares ns:uts init
            check a !shares ns:net init
            a: unshare 0x1 expect EINVAL
            a: clone flags=VM|SIGHAND|THREAD -> t
            a: unshare NEWUSER expect EINVAL
            init: fork -> u
            u: setuid 1000
            u: unshare NEWUTS expect EPERM
            u: unshare NEWUSER|NEWUTS
            check u caps = all
            check u !shares ns:user init
            u: unshare NEWTIME
            check u !shares ns:time_for_children init
            check u shares ns:time init
            """);
    }

    [Fact]
    public void Setns_joins_namespaces_with_the_needed_capabilities()
    {
        Scn.Pass("""
            init: clone3 flags=NEWUTS|NEWNET exit_signal=SIGCHLD -> a
            init: fork -> b
            b: open /proc/2/ns/uts expect 3
            b: open /proc/2/ns/bogus expect ENOENT
            b: open /proc/99/ns/uts expect ENOENT
            b: setns 3 NEWNET expect EINVAL
            b: setns 3 0 expect 0
            check b shares ns:uts a
            b: setns 9 0 expect EBADF
            b: open /tmp/f O_CREAT expect 4
            b: setns 4 0 expect EINVAL
            b: setuid 1000
            b: open /proc/2/ns/net expect 5
            b: setns 5 NEWNET expect EPERM
            """);
    }

    [Fact]
    public void Model_limits_answer_enosys_with_the_reason()
    {
        var r = Scn.Pass("""
            init: fork -> a
            init: pidfd_open $a expect 3
            init: setns 3 0 expect ENOSYS
            init: open /proc/1/status expect ENOSYS
            """);
        Assert.Contains(r.Trace, e => e.Errno == "ENOSYS" && e.Detail!.StartsWith("not modelled", StringComparison.Ordinal));
    }

    [Fact]
    public void Clone_fs_shares_cwd_root_and_umask()
    {
        Scn.Pass("""
            init: clone flags=FS -> shared
            init: fork -> copied
            init: chdir /srv
            init: umask 0x3f expect 0x12
            check shared cwd = /srv
            check shared umask = 0x3f
            check copied cwd = /
            check copied umask = 0x12
            copied: chroot /jail
            check copied root = /jail
            copied: clone3 flags=NEWUSER expect EPERM
            shared: unshare NEWNS
            check shared !shares fs init
            """);
    }
}
