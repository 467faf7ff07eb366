using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Tests.Rules;

/// <summary>
/// The rules as tables: each row is a request, a caller, and the kernel's answer (as observed on 6.18.44 or
/// read from the kernel source for the given release). "ok" means allowed; otherwise the rule and its errno.
/// </summary>
public class CloneRulesSpecs
{
    private static void Check(string call, string context, string cgroup, string expected)
    {
        var verdict = CloneRules.Evaluate(RequestText.Call(call), RequestText.Context(context), RequestText.Cgroup(cgroup));
        string actual = verdict.Allowed ? "ok" : $"{verdict.Rule!.Name} {ErrnoInfo.Name(verdict.Errno)}";
        Assert.True(expected == actual, $"{call} [{context}] {cgroup}: expected {expected}, the model says {actual} ({verdict.Explain()})");
    }

    [Theory]
    [InlineData("clone3 size=64", "", "ok")]
    [InlineData("clone3 size=88", "", "ok")]
    [InlineData("clone3 size=4096", "", "ok")]
    [InlineData("clone3 size=4097", "", "R-A1 E2BIG")]
    [InlineData("clone3 size=4097 args=null", "", "R-A1 E2BIG")]
    [InlineData("clone3 size=63", "", "R-A2 EINVAL")]
    [InlineData("clone3 size=0", "", "R-A2 EINVAL")]
    [InlineData("clone3 size=96 tail=90", "", "R-A3 E2BIG")]
    [InlineData("clone3 size=96 tail=90 readable=89", "", "R-A4 EFAULT")]
    [InlineData("clone3 size=96 tail=90 readable=91", "", "R-A3 E2BIG")]
    [InlineData("clone3 size=96 readable=90", "", "R-A4 EFAULT")]
    [InlineData("clone3 size=64 readable=40", "", "R-A4 EFAULT")]
    [InlineData("clone3 size=64 readable=64", "", "ok")]
    [InlineData("clone3 size=64 args=null", "", "R-A4 EFAULT")]
    [InlineData("clone3 size=64 args=bad", "", "R-A4 EFAULT")]
    [InlineData("clone3 size=100 args=null", "", "R-A4 EFAULT")]
    [InlineData("clone3 set_tid_size=33 set_tid_ptr=valid", "", "R-A5 EINVAL")]
    [InlineData("clone3 set_tid_size=1", "", "R-A6 EINVAL")]
    [InlineData("clone3 set_tid_ptr=valid", "", "R-A7 EINVAL")]
    [InlineData("clone3 set_tid_ptr=valid size=72", "", "R-A7 EINVAL")]
    [InlineData("clone3 exit=65", "", "R-A8 EINVAL")]
    [InlineData("clone3 exit=0x100000011", "", "R-A8 EINVAL")]
    [InlineData("clone3 exit=64", "", "ok")]
    [InlineData("clone3 exit=65 set_tid_ptr=bad set_tid_size=1", "", "R-A8 EINVAL")]
    [InlineData("clone3 flags=INTO_CGROUP cgroup=0x80000000", "", "R-A9 EINVAL")]
    [InlineData("clone3 flags=INTO_CGROUP size=80", "", "R-A9 EINVAL")]
    [InlineData("clone3 set_tid_ptr=bad set_tid_size=1", "", "R-A10 EFAULT")]
    [InlineData("clone6 words=1", "", "R-X1 EINVAL")]
    [InlineData("clone6 flags=VM|VFORK", "", "ok")]
    public void Struct_reading_rules_copy_clone_args_from_user(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Theory]
    [InlineData("clone3 flags=0x400000000", "", "R-B1 EINVAL")]
    [InlineData("clone3 flags=0x8000000000000000", "", "R-B1 EINVAL")]
    [InlineData("clone3 flags=DETACHED", "", "R-B2 EINVAL")]
    [InlineData("clone3 flags=0x11", "", "R-B2 EINVAL")]
    [InlineData("clone3 flags=NEWTIME", "", "ok")]
    [InlineData("clone3 flags=NEWTIME", "kernel=6.2", "R-B2 EINVAL")]
    [InlineData("clone3 flags=SIGHAND|CLEAR_SIGHAND|VM", "", "R-B3 EINVAL")]
    [InlineData("clone3 flags=CLEAR_SIGHAND", "", "ok")]
    [InlineData("clone3 flags=PARENT exit=CHLD", "", "R-B4 EINVAL")]
    [InlineData("clone3 flags=THREAD|SIGHAND|VM exit=CHLD", "", "R-B4 EINVAL")]
    [InlineData("clone3 flags=PARENT", "", "ok")]
    [InlineData("clone3 stack=0x1000", "", "R-B5 EINVAL")]
    [InlineData("clone3 stack=0+0x1000", "", "R-B5 EINVAL")]
    [InlineData("clone3 stack=0x7fffffffe000+0x1000", "", "ok")]
    [InlineData("clone3 stack=0x7fffffffe000+0x1001", "", "R-B5 EINVAL")]
    [InlineData("clone3 stack=0x7fffffffe000+0x1000", "kernel=6.12.0", "R-B5 EINVAL")]
    [InlineData("clone3 stack=0x7fffffffe000+0x1001", "kernel=6.8", "ok")]
    [InlineData("clone3 stack=0xffffffffffffff00+0x1000", "", "R-B5 EINVAL")]
    [InlineData("clone3 stack=0x1000+0x1000 flags=VM", "", "ok")]
    public void Clone3_validity_rules_clone3_args_valid(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Theory]
    [InlineData("clone flags=PIDFD|PARENT_SETTID", "", "R-C1 EINVAL")]
    [InlineData("clone3 flags=PIDFD|PARENT_SETTID", "", "ok")]
    [InlineData("clone3 flags=PIDFD|PARENT_SETTID pidfd=same", "", "R-C1 EINVAL")]
    [InlineData("clone3 flags=PIDFD|PARENT_SETTID pidfd=null parent_tid=null", "", "R-C1 EINVAL")]
    [InlineData("clone raw=0x41", "", "ok")]
    [InlineData("clone raw=0xff", "", "ok")]
    [InlineData("clone raw=0xff", "exit-check", "R-C2 EINVAL")]
    [InlineData("clone raw=0x41", "kernel=7.1", "R-C2 EINVAL")]
    [InlineData("clone raw=0x100000011", "", "ok")]
    [InlineData("clone raw=0x80", "", "ok")]
    public void Kernel_clone_rules(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Theory]
    [InlineData("clone3 flags=NEWNS|FS", "", "R-D1 EINVAL")]
    [InlineData("clone3 flags=NEWUSER|FS", "", "R-D2 EINVAL")]
    [InlineData("clone3 flags=THREAD|VM", "", "R-D3 EINVAL")]
    [InlineData("clone3 flags=SIGHAND", "", "R-D4 EINVAL")]
    [InlineData("clone3 flags=PARENT", "as-init", "R-D5 EINVAL")]
    [InlineData("clone3 flags=THREAD|SIGHAND|VM", "as-init", "ok")]
    [InlineData("clone3 flags=THREAD|SIGHAND|VM|NEWPID", "", "R-D6 EINVAL")]
    [InlineData("clone3 flags=THREAD|SIGHAND|VM|NEWUSER", "", "R-D6 EINVAL")]
    [InlineData("clone3 flags=THREAD|SIGHAND|VM", "unshared-pid", "R-D6 EINVAL")]
    [InlineData("clone3 flags=PARENT|NEWPID", "", "ok")]
    [InlineData("clone flags=PIDFD|DETACHED parent_tid=valid", "", "R-D7 EINVAL")]
    [InlineData("clone3 flags=PIDFD|THREAD|SIGHAND|VM", "", "ok")]
    [InlineData("clone3 flags=PIDFD|THREAD|SIGHAND|VM", "kernel=6.8", "R-D7 EINVAL")]
    [InlineData("clone3 flags=VM", "unshared-time kernel=5.10", "R-D8 EINVAL")]
    [InlineData("clone3 flags=VM", "unshared-time", "ok")]
    [InlineData("clone flags=DETACHED", "", "ok")]
    public void Early_copy_process_rules(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Theory]
    [InlineData("fork", "signal-pending", "R-E1 ERESTARTNOINTR")]
    [InlineData("clone3 flags=NEWUSER", "userns=33", "R-E2 ENOSPC")]
    [InlineData("clone3 flags=NEWUSER", "userns=32", "ok")]
    [InlineData("clone3 flags=NEWUSER", "limit=user:0", "R-E2 ENOSPC")]
    [InlineData("clone3 flags=NEWUSER", "chrooted", "R-E3 EPERM")]
    [InlineData("clone3 flags=NEWUSER", "chrooted unmapped", "R-E3 EPERM")]
    [InlineData("clone3 flags=NEWUSER", "unmapped", "R-E4 EPERM")]
    [InlineData("clone3 flags=NEWNS", "unmapped", "ok")]
    [InlineData("fork", "uid=1000 caps=none nproc=0", "R-E5 EAGAIN")]
    [InlineData("fork", "uid=1000 caps=none nproc=2 procs=1", "ok")]
    [InlineData("fork", "uid=1000 caps=none nproc=1 procs=1", "R-E5 EAGAIN")]
    [InlineData("fork", "uid=1000 caps=SYS_RESOURCE nproc=0", "ok")]
    [InlineData("fork", "uid=1000 caps=SYS_RESOURCE userns=1 nproc=0", "R-E5 EAGAIN")]
    [InlineData("fork", "nproc=0", "ok")]
    [InlineData("fork", "threads-max", "R-E5 EAGAIN")]
    [InlineData("clone3 flags=THREAD|SIGHAND|VM", "deadline", "R-E6 EAGAIN")]
    [InlineData("clone3 flags=FS", "fs-in-exec", "R-E7 EAGAIN")]
    [InlineData("clone3 flags=NEWNET", "uid=1000 caps=none", "R-E8 EPERM")]
    [InlineData("clone3 flags=NEWNET|NEWUSER", "uid=1000 caps=none", "ok")]
    [InlineData("clone3 flags=NEWUSER|NEWNS|NEWUTS|NEWIPC|NEWPID|NEWNET|NEWCGROUP|NEWTIME", "uid=1000 caps=none", "ok")]
    [InlineData("clone3 flags=NEWIPC|SYSVSEM", "", "R-E9 EINVAL")]
    [InlineData("clone3 flags=NEWIPC|SYSVSEM", "uid=1000 caps=none", "R-E8 EPERM")]
    [InlineData("clone3 flags=NEWUTS", "limit=uts:0", "R-E10 ENOSPC")]
    [InlineData("clone3 flags=NEWUTS|NEWNS", "limit=uts:0 limit=mnt:0", "R-E10 ENOSPC")]
    [InlineData("clone3 flags=NEWPID", "unshared-pid", "R-E11 EINVAL")]
    [InlineData("clone3 flags=NEWPID", "pidns=32", "R-E12 ENOSPC")]
    [InlineData("clone3 flags=NEWPID", "pidns=31", "ok")]
    [InlineData("clone3 flags=NEWPID", "owner-outside", "R-E13 EINVAL")]
    [InlineData("clone3 flags=SETTLS tls=0x7ffffffff000", "", "R-E14 EPERM")]
    [InlineData("clone3 flags=SETTLS tls=0x7fffffffefff", "", "ok")]
    [InlineData("clone3 flags=SETTLS tls=0x7ffffffff000", "la57", "ok")]
    [InlineData("clone flags=SETTLS tls=0xffffffffffffffff", "", "R-E14 EPERM")]
    public void Credential_namespace_and_thread_rules(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Theory]
    [InlineData("clone3 set_tid=5000,1", "", "R-E15 EINVAL")]
    [InlineData("clone3 set_tid=0", "", "R-E16 EINVAL")]
    [InlineData("clone3 set_tid=-1", "", "R-E16 EINVAL")]
    [InlineData("clone3 set_tid=32768", "", "R-E16 EINVAL")]
    [InlineData("clone3 set_tid=32767", "", "ok")]
    [InlineData("clone3 set_tid=40000", "pid_max=4194304", "ok")]
    [InlineData("clone3 flags=NEWPID set_tid=2,5000", "", "R-E17 EINVAL")]
    [InlineData("clone3 flags=NEWPID set_tid=1,5000", "", "ok")]
    [InlineData("clone3 set_tid=5000", "unshared-pid", "R-E17 EINVAL")]
    [InlineData("clone3 set_tid=5000,5000", "unshared-pid", "R-E17 EINVAL")]
    [InlineData("clone3 set_tid=1,5000", "unshared-pid", "ok")]
    [InlineData("clone3 set_tid=5000", "uid=1000 caps=none", "R-E18 EPERM")]
    [InlineData("clone3 set_tid=5000", "uid=1000 caps=CHECKPOINT_RESTORE", "ok")]
    [InlineData("clone3 set_tid=5000", "uid=1000 caps=CHECKPOINT_RESTORE kernel=5.8", "R-E18 EPERM")]
    [InlineData("clone3 set_tid=5000", "unmapped pidns-owned=0", "R-E18 EPERM")]
    [InlineData("clone3 flags=NEWUSER|NEWPID set_tid=1", "uid=1000 caps=none", "ok")]
    [InlineData("clone3 flags=NEWUSER|NEWPID set_tid=1,5000", "uid=1000 caps=none", "R-E18 EPERM")]
    [InlineData("clone3 set_tid=1", "", "R-E19 EEXIST")]
    [InlineData("clone3 set_tid=77", "in-use=1,77", "R-E19 EEXIST")]
    [InlineData("clone3 set_tid=2", "as-init", "ok")]
    [InlineData("clone3 set_tid=1", "as-init", "R-E19 EEXIST")]
    [InlineData("fork", "init-exited", "R-E20 ENOMEM")]
    [InlineData("clone3 set_tid=5,5000", "init-exited", "R-E20 ENOMEM")]
    [InlineData("clone3 flags=NEWPID", "init-exited", "R-E11 EINVAL")]
    [InlineData("fork", "pid-space-full", "R-E21 EAGAIN")]
    public void Pid_allocation_rules_alloc_pid(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Theory]
    [InlineData("clone3 flags=PIDFD", "", "", "ok")]
    [InlineData("clone3 flags=PIDFD pidfd=null", "", "", "R-E22 EFAULT")]
    [InlineData("clone3 flags=PIDFD pidfd=bad", "", "", "R-E22 EFAULT")]
    [InlineData("clone flags=PIDFD", "", "", "R-E22 EFAULT")]
    [InlineData("clone flags=PIDFD parent_tid=valid", "", "", "ok")]
    [InlineData("clone3 flags=PIDFD", "no-fd", "", "R-E22a EMFILE")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "bad-fd", "R-E23 EBADF")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "not-cgroup", "R-E24 EBADF")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "v1", "R-E24 EBADF")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "removed", "R-E25 ENOENT")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "no-write-permission", "R-E26 EACCES")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "domain-invalid", "R-E27 EOPNOTSUPP")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "busy", "R-E28 EBUSY")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "threaded", "ok")]
    [InlineData("clone3 flags=INTO_CGROUP|THREAD|SIGHAND|VM", "", "threaded", "R-E29 EOPNOTSUPP")]
    [InlineData("clone3 flags=INTO_CGROUP|THREAD|SIGHAND|VM", "", "valid", "R-E29 EOPNOTSUPP")]
    [InlineData("clone3 flags=INTO_CGROUP|THREAD|SIGHAND|VM", "", "same-domain", "ok")]
    [InlineData("clone3 flags=INTO_CGROUP", "", "valid", "ok")]
    [InlineData("clone3", "", "bad-fd", "ok")]
    [InlineData("fork", "pids-max", "", "R-E30 EAGAIN")]
    [InlineData("fork", "fatal-signal", "", "R-E31 EINTR")]
    public void Pidfd_and_cgroup_rules(string call, string context, string cgroup, string expected) =>
        Check(call, context, cgroup, expected);

    [Theory]
    [InlineData("clone3", "kernel=5.2", "R-N1 ENOSYS")]
    [InlineData("clone3 size=80", "kernel=5.4", "ok")]
    [InlineData("clone3 size=80 set_tid=5000", "kernel=5.4", "R-A3 E2BIG")]
    [InlineData("clone3 flags=CLEAR_SIGHAND", "kernel=5.4", "R-B1 EINVAL")]
    [InlineData("clone3 flags=INTO_CGROUP", "kernel=5.6", "R-B1 EINVAL")]
    [InlineData("clone3 size=88 cgroup=3", "kernel=5.6", "R-A3 E2BIG")]
    public void Version_dependent_rules(string call, string context, string expected) =>
        Check(call, context, "", expected);

    [Fact]
    public void Every_rule_has_a_reason_a_kernel_function_and_an_errno()
    {
        foreach (var r in CloneRules.All)
        {
            Assert.False(string.IsNullOrWhiteSpace(r.Reason), r.Name);
            Assert.False(string.IsNullOrWhiteSpace(r.KernelFunction), r.Name);
            Assert.NotEqual(Errno.None, r.Errno);
            Assert.Same(r, CloneRules.Get(r.Id));
            Assert.Same(r, CloneRules.Find(r.Name));
        }
        Assert.Equal(Enum.GetValues<RuleId>().Length - 1, CloneRules.All.Count);
    }

    [Fact]
    public void The_first_failing_rule_in_kernel_order_decides()
    {
        // SIGHAND without VM (R-D4) and a new IPC namespace with SYSVSEM (R-E9): the early check wins.
        Check("clone3 flags=SIGHAND|NEWIPC|SYSVSEM", "", "", "R-D4 EINVAL");
        // R-E8 (permission) is evaluated before R-E9 (NEWIPC+SYSVSEM).
        Check("clone3 flags=NEWIPC|SYSVSEM", "uid=1000 caps=none", "", "R-E8 EPERM");
        // R-B4 before R-D5 (init with CLONE_PARENT).
        Check("clone3 flags=PARENT exit=CHLD", "as-init", "", "R-B4 EINVAL");
    }
}
