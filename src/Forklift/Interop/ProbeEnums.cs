namespace Forklift.Interop;

// Mirrors of the constants in native/include/forklift_native.h. The values are fixed forever there;
// these enums must match them (checked by tests/Forklift.Tests/Interop/ProbeLayoutSpecs.cs).

/// <summary>The raw call a probe makes (<c>FL_CALL_*</c>).</summary>
internal enum ProbeCall
{
    /// <summary><c>clone3(struct clone_args *, size_t)</c>, syscall 435.</summary>
    Clone3 = 0,
    /// <summary>Legacy <c>clone(flags, newsp, parent_tid, child_tid, tls)</c>, syscall 56 (x86-64 order).</summary>
    Clone = 1,
    /// <summary><c>fork()</c>, syscall 57.</summary>
    Fork = 2,
    /// <summary><c>vfork()</c>, syscall 58.</summary>
    Vfork = 3,
}

/// <summary>How the probe fills a user pointer of the call (<c>FL_PTR_*</c>).</summary>
internal enum ProbePointerKind
{
    /// <summary>The raw value of the request, as is (0 is NULL).</summary>
    Raw = 0,
    /// <summary>A real readable and writable buffer owned by the probe.</summary>
    Valid = 1,
    /// <summary>The pidfd pointer only: the same address as parent_tid (after substitution).</summary>
    SameAsParentTid = 2,
}

/// <summary>Where the clone3 <c>cgroup</c> fd comes from (<c>FL_CGROUP_*</c>).</summary>
internal enum ProbeCgroupSource
{
    /// <summary><c>args.cgroup</c> as given (may name a closed fd or exceed INT_MAX).</summary>
    Raw = 0,
    /// <summary><c>open(cgroup_path, O_RDONLY|O_DIRECTORY|O_CLOEXEC)</c>.</summary>
    OpenDir = 1,
    /// <summary><c>open(cgroup_path, O_PATH|O_DIRECTORY|O_CLOEXEC)</c>.</summary>
    OpenPath = 2,
    /// <summary>Opened as <see cref="OpenDir"/>, then the directory is removed: a dead cgroup.</summary>
    OpenRemoved = 3,
    /// <summary><c>open(cgroup_path, O_RDONLY|O_CLOEXEC)</c>: may be a file or a non-cgroup directory.</summary>
    OpenAny = 4,
}

/// <summary>The user namespace the caller enters last (<c>FL_USERNS_*</c>).</summary>
internal enum ProbeUserNsMode
{
    /// <summary>Stay in the current user namespace.</summary>
    None = 0,
    /// <summary><c>unshare(CLONE_NEWUSER)</c> without writing any id map: the caller's ids are unmapped inside.</summary>
    Unmapped = 1,
    /// <summary><c>unshare(CLONE_NEWUSER)</c>, setgroups deny, uid and gid 0 inside mapped to the caller's ids.</summary>
    Mapped = 2,
}

/// <summary>What happened to one probe (<c>FL_OUTCOME_*</c>).</summary>
internal enum ProbeOutcome
{
    /// <summary>The call returned: <see cref="ProbeResult.Ret"/> &gt;= 0 is success, else <see cref="ProbeResult.Err"/> is its errno.</summary>
    Returned = 0,
    /// <summary>A context step failed: <see cref="ProbeResult.SetupStep"/> names it, <see cref="ProbeResult.Err"/> is its errno.</summary>
    SetupFailed = 1,
    /// <summary>The caller died of <see cref="ProbeResult.Signal"/> before reporting (e.g. SIGKILL as a vfork child's exit signal): the call succeeded.</summary>
    CallerKilled = 2,
    /// <summary>The probe machinery failed (malformed request, timeout, mmap, fork): <see cref="ProbeResult.Err"/>.</summary>
    ProbeFailed = 3,
}

/// <summary>The context step a <see cref="ProbeOutcome.SetupFailed"/> result names (1-based, header order).</summary>
internal enum ProbeSetupStep
{
    /// <summary>No step failed.</summary>
    None = 0,
    /// <summary>1: nested pid namespaces (unshare(CLONE_NEWPID) + fork, each level).</summary>
    PidNsNesting = 1,
    /// <summary>2: nested mapped user namespaces, then the user namespace mode.</summary>
    UserNs = 2,
    /// <summary>3: writing /proc/sys/user/max_*_namespaces.</summary>
    NsLimits = 3,
    /// <summary>4: becoming pid 1 of a new pid namespace.</summary>
    AsInit = 4,
    /// <summary>5: pidns_init_exited, unshare_pid, unshare_time.</summary>
    Unshare = 5,
    /// <summary>6: chroot + chdir("/").</summary>
    Chroot = 6,
    /// <summary>7: PR_SET_CHILD_SUBREAPER.</summary>
    Subreaper = 7,
    /// <summary>8: setrlimit(RLIMIT_NPROC).</summary>
    RlimitNproc = 8,
    /// <summary>9: sched_setattr(SCHED_DEADLINE).</summary>
    SchedDeadline = 9,
    /// <summary>10: setgroups, setresgid, setresuid, capset.</summary>
    Credentials = 10,
    /// <summary>11 (<c>FL_STEP_CGROUP</c>): opening cgroup_path per the cgroup source, before step 1.</summary>
    Cgroup = 11,
}
