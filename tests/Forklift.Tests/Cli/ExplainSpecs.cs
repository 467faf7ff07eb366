using System.Text.Json;
using Forklift.Abi;
using Forklift.Rules;
using Forklift.Verification;
using Xunit;
using static Forklift.Tests.Cli.CliKit;

namespace Forklift.Tests.Cli;

/// <summary>
/// <c>forklift explain</c> run in-process: verdicts by rule, effects, the JSON contract, the option conflicts
/// that make a command line unusable (exit 2), and the <c>--verify</c> output path with a fake kernel. The
/// caller is pinned (<see cref="CliKit.PinnedRoot"/>) unless a test says it uses the live one.
/// </summary>
public sealed class ExplainSpecs
{
    [Fact]
    public void Explain_allows_a_plain_clone3_and_lists_its_effects_in_json()
    {
        var json = ExplainJson("");

        Assert.True(json.GetProperty("allowed").GetBoolean());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("errno").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("rule").ValueKind);
        Assert.False(string.IsNullOrEmpty(json.GetProperty("reason").GetString()));
        var effects = json.GetProperty("effects");
        Assert.Equal("copied", effects.GetProperty("address_space").GetProperty("effect").GetString());
        Assert.Equal("copied", effects.GetProperty("fd_table").GetProperty("effect").GetString());
        Assert.Equal("shared", effects.GetProperty("net_ns").GetProperty("effect").GetString());
        Assert.Equal("new", effects.GetProperty("thread_group").GetProperty("effect").GetString());
        Assert.Equal("clone3", json.GetProperty("call").GetString());
        Assert.Equal(88, json.GetProperty("size").GetInt32());
        Assert.Equal("6.18.44", json.GetProperty("kernel_version").GetString());
        Assert.False(json.TryGetProperty("kernel", out _)); // only with --verify
    }

    [Fact]
    public void Explain_reports_what_a_vfork_style_clone3_shares()
    {
        var effects = ExplainJson("--flags VM|VFORK|PIDFD --exit-signal CHLD").GetProperty("effects");

        Assert.Equal("shared", effects.GetProperty("address_space").GetProperty("effect").GetString());
        Assert.Equal("written", effects.GetProperty("pidfd").GetProperty("effect").GetString());
        Assert.Equal("set", effects.GetProperty("vfork").GetProperty("effect").GetString());
        Assert.Equal("SIGCHLD", effects.GetProperty("exit_signal").GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("--size 5000", "E2BIG", "R-A1")]
    [InlineData("--size 63", "EINVAL", "R-A2")]
    [InlineData("--size 128 --tail-nonzero-at 100", "E2BIG", "R-A3")]
    [InlineData("--args-pointer null", "EFAULT", "R-A4")]
    [InlineData("--readable-bytes 40 --size 64", "EFAULT", "R-A4")]
    [InlineData("--set-tid-size 2", "EINVAL", "R-A6")]
    [InlineData("--set-tid 5 --set-tid-pointer null", "EINVAL", "R-A6")]
    [InlineData("--exit-signal 65", "EINVAL", "R-A8")]
    [InlineData("--exit-signal 0x100", "EINVAL", "R-A8")]
    [InlineData("--set-tid 5 --set-tid-pointer bad", "EFAULT", "R-A10")]
    [InlineData("--flags 0x400000000", "EINVAL", "R-B1")]
    [InlineData("--flags DETACHED", "EINVAL", "R-B2")]
    [InlineData("--call clone6 --flags CLEAR_SIGHAND|SIGHAND|VM", "EINVAL", "R-B3")]
    [InlineData("--flags PARENT --exit-signal CHLD", "EINVAL", "R-B4")]
    [InlineData("--stack 0x7f0000000000", "EINVAL", "R-B5")]
    [InlineData("--call clone --flags PIDFD|PARENT_SETTID", "EINVAL", "R-C1")]
    [InlineData("--flags PIDFD|PARENT_SETTID --pidfd-pointer same-as-parent-tid", "EINVAL", "R-C1")]
    [InlineData("--flags NEWNS|FS", "EINVAL", "R-D1")]
    [InlineData("--flags THREAD", "EINVAL", "R-D3")]
    [InlineData("--flags SIGHAND", "EINVAL", "R-D4")]
    [InlineData("--call clone --flags SIGHAND", "EINVAL", "R-D4")]
    [InlineData("--as-init --flags PARENT", "EINVAL", "R-D5")]
    [InlineData("--kernel 6.8 --flags PIDFD|THREAD|SIGHAND|VM", "EINVAL", "R-D7")]
    [InlineData("--chrooted --flags NEWUSER", "EPERM", "R-E3")]
    [InlineData("--userns-unmapped --flags NEWUSER", "EPERM", "R-E4")]
    [InlineData("--uid 1000 --rlimit-nproc 1", "EAGAIN", "R-E5")]
    [InlineData("--sched-deadline", "EAGAIN", "R-E6")]
    [InlineData("--uid 1000 --flags NEWNET", "EPERM", "R-E8")]
    [InlineData("--drop-caps SYS_ADMIN --flags NEWNS", "EPERM", "R-E8")]
    [InlineData("--flags NEWIPC|SYSVSEM", "EINVAL", "R-E9")]
    [InlineData("--ns-limit uts=0 --flags NEWUTS", "ENOSPC", "R-E10")]
    [InlineData("--unshared newpid --flags NEWPID", "EINVAL", "R-E11")]
    [InlineData("--set-tid 1", "EEXIST", "R-E19")]
    [InlineData("--set-tid 5,1 --flags NEWPID", "EINVAL", "R-E17")]
    [InlineData("--pidns-init-exited", "ENOMEM", "R-E20")]
    [InlineData("--flags PIDFD --pidfd-pointer bad", "EFAULT", "R-E22")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind bad-fd", "EBADF", "R-E23")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind not-cgroup", "EBADF", "R-E24")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind v1", "EBADF", "R-E24")]
    [InlineData("--flags INTO_CGROUP", "EBADF", "R-E24")] // the field is 0: standard input
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind removed", "ENOENT", "R-E25")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind no-write-permission", "EACCES", "R-E26")]
    [InlineData("--uid 1000 --flags INTO_CGROUP --cgroup-fd-kind valid", "EACCES", "R-E26")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind domain-invalid", "EOPNOTSUPP", "R-E27")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd-kind busy", "EBUSY", "R-E28")]
    [InlineData("--flags INTO_CGROUP --cgroup-fd 0x80000000", "EINVAL", "R-A9")]
    public void Explain_refuses_by_the_rule_the_kernel_applies(string options, string errno, string rule)
    {
        var json = ExplainJson(options);

        Assert.False(json.GetProperty("allowed").GetBoolean());
        Assert.Equal(errno, json.GetProperty("errno").GetString());
        Assert.Equal(rule, json.GetProperty("rule").GetString());
        Assert.False(string.IsNullOrEmpty(json.GetProperty("reason").GetString()));
        Assert.Empty(json.GetProperty("effects").EnumerateObject()); // no child, no effects
    }

    [Fact]
    public void Explain_prints_EINVAL_and_R_D4_for_SIGHAND_without_VM()
    {
        var outcome = Explain("--flags SIGHAND");

        Assert.Equal(0, outcome.Exit);
        Assert.Equal("", outcome.Err);
        Assert.Contains("verdict: refused, EINVAL (Invalid argument)", outcome.Out);
        Assert.Contains("rule:    R-D4 in copy_process", outcome.Out);
        Assert.Contains("reason:  shared signal handlers are addresses in one address space: add CLONE_VM", outcome.Out);
        Assert.DoesNotContain("\u001b[", outcome.Out);
    }

    [Fact]
    public void Explain_prints_a_table_of_effects_for_an_allowed_call()
    {
        var outcome = Explain("--flags VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS --tls 0x7f0000001000");

        Assert.Equal(0, outcome.Exit);
        Assert.Contains("verdict: allowed", outcome.Out);
        Assert.Matches(@"\n  resource +effect +detail\n", outcome.Out);
        Assert.Matches(@"\n  address_space +shared +same memory \(CLONE_VM\)\n", outcome.Out);
        Assert.Matches(@"\n  thread_group +joined +", outcome.Out);
        Assert.Matches(@"\n  tls +set +thread pointer \(FS base\) set to 0x7f0000001000\n", outcome.Out);
    }

    [Fact]
    public void Explain_colours_only_when_asked()
    {
        var plain = Run(["explain", "--flags", "SIGHAND"]);
        var coloured = Run(["explain", "--flags", "SIGHAND"], colour: true);

        Assert.DoesNotContain("\u001b[", plain.Out);
        Assert.Contains("\u001b[1;31m", coloured.Out);
    }

    [Fact]
    public void Explain_answers_EINVAL_for_PIDFD_with_THREAD_on_6_8_and_allows_it_on_6_9()
    {
        var old = ExplainJson("--kernel 6.8 --flags PIDFD|THREAD|SIGHAND|VM");
        var newer = ExplainJson("--kernel 6.9 --flags PIDFD|THREAD|SIGHAND|VM");

        Assert.Equal("EINVAL", old.GetProperty("errno").GetString());
        Assert.Equal("R-D7", old.GetProperty("rule").GetString());
        Assert.Equal("6.8.0", old.GetProperty("kernel_version").GetString());
        Assert.True(newer.GetProperty("allowed").GetBoolean());
        Assert.Equal("joined", newer.GetProperty("effects").GetProperty("thread_group").GetProperty("effect").GetString());
    }

    [Theory]
    [InlineData("fork", "copied")]
    [InlineData("vfork", "shared")]
    public void Explain_gives_fork_and_vfork_the_exit_signal_SIGCHLD(string call, string addressSpace)
    {
        var json = ExplainJson("--call " + call);

        Assert.True(json.GetProperty("allowed").GetBoolean());
        Assert.Equal(call, json.GetProperty("call").GetString());
        Assert.Equal("SIGCHLD", json.GetProperty("exit_signal").GetString());
        Assert.Equal(17, json.GetProperty("exit_signal_number").GetInt32());
        Assert.Equal("SIGCHLD", json.GetProperty("effects").GetProperty("exit_signal").GetProperty("detail").GetString());
        Assert.Equal(addressSpace, json.GetProperty("effects").GetProperty("address_space").GetProperty("effect").GetString());
    }

    [Fact]
    public void Explain_accepts_an_explicit_SIGCHLD_for_fork()
    {
        Assert.True(ExplainJson("--call fork --exit-signal SIGCHLD").GetProperty("allowed").GetBoolean());
    }

    [Fact]
    public void Explain_builds_the_legacy_register_from_flags_and_exit_signal()
    {
        var json = ExplainJson("--call clone --flags VM|VFORK --exit-signal CHLD");

        Assert.Equal("0x4111", json.GetProperty("raw_flags").GetString());
        Assert.Equal("CLONE_VM|CLONE_VFORK", json.GetProperty("flags").GetString());
        Assert.Equal("SIGCHLD", json.GetProperty("exit_signal").GetString());
        Assert.True(json.GetProperty("allowed").GetBoolean());
    }

    [Fact]
    public void Explain_takes_the_raw_legacy_register_as_given()
    {
        var json = ExplainJson("--call clone --raw-flags 0x100000811");

        Assert.Equal("0x100000811", json.GetProperty("raw_flags").GetString());
        Assert.Equal("CLONE_SIGHAND", json.GetProperty("flags").GetString());
        Assert.Equal("R-D4", json.GetProperty("rule").GetString());
        Assert.Contains(json.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("drops bits 32..63"));
    }

    [Fact]
    public void Explain_lets_legacy_clone_drop_flags_above_bit_31_as_the_kernel_does()
    {
        var json = ExplainJson("--call clone --flags INTO_CGROUP|VM --exit-signal CHLD");

        Assert.True(json.GetProperty("allowed").GetBoolean()); // CLONE_INTO_CGROUP never reaches the kernel's checks
        Assert.Equal("CLONE_VM", json.GetProperty("flags").GetString());
        Assert.Single(json.GetProperty("notes").EnumerateArray());
    }

    [Fact]
    public void Explain_defaults_each_pointer_to_valid_when_its_flag_is_set_and_null_otherwise()
    {
        var json = ExplainJson("--flags PIDFD|CHILD_SETTID");

        Assert.Equal(Hex(UserPointer.Valid(UserPointer.PidfdField)), json.GetProperty("pidfd").GetString());
        Assert.Equal(Hex(UserPointer.Valid(UserPointer.ChildTidField)), json.GetProperty("child_tid").GetString());
        Assert.Equal("0x0", json.GetProperty("parent_tid").GetString());
        Assert.Equal("0x0", json.GetProperty("set_tid").GetString());
    }

    [Fact]
    public void Explain_points_the_pidfd_at_parent_tid_when_asked_and_at_null_when_parent_tid_is_null()
    {
        var json = ExplainJson("--flags PIDFD --pidfd-pointer same-as-parent-tid");

        Assert.Equal("0x0", json.GetProperty("pidfd").GetString());
        Assert.Equal("R-E22", json.GetProperty("rule").GetString()); // put_user(pidfd, NULL) faults
    }

    [Fact]
    public void Explain_writes_set_tid_values_and_size_into_the_struct()
    {
        var json = ExplainJson("--flags NEWPID --set-tid 1,300");

        Assert.Equal(2, json.GetProperty("set_tid_size").GetInt32());
        Assert.Equal([1, 300], json.GetProperty("set_tid_values").EnumerateArray().Select(e => e.GetInt32()));
        Assert.True(json.GetProperty("allowed").GetBoolean()); // pid 1 in the new namespace, 300 is free out here
    }

    [Fact]
    public void Explain_applies_the_caller_options_to_the_model()
    {
        var caller = ExplainJson("--uid 1000 --caps SYS_ADMIN,CHECKPOINT_RESTORE --userns-level 2 --pid-ns-level 3 --as-init --unshared newtime --subreaper")
            .GetProperty("caller");

        Assert.Equal(1000, caller.GetProperty("uid").GetInt32());
        Assert.False(caller.GetProperty("global_root").GetBoolean());
        Assert.Equal("CAP_SYS_ADMIN,CAP_CHECKPOINT_RESTORE", caller.GetProperty("capabilities").GetString());
        Assert.Equal(2, caller.GetProperty("userns_level").GetInt32());
        Assert.Equal(3, caller.GetProperty("pid_ns_level").GetInt32());
        Assert.True(caller.GetProperty("pid_ns_init").GetBoolean());
        Assert.True(caller.GetProperty("time_ns_for_children_unshared").GetBoolean());
        Assert.True(caller.GetProperty("subreaper").GetBoolean());
    }

    [Fact]
    public void Explain_reads_the_live_context_when_none_is_pinned()
    {
        var outcome = RunLive("explain", "--json");

        Assert.Equal(0, outcome.Exit);
        var json = outcome.Json();
        Assert.Equal(KernelVersion.Running.ToString(), json.GetProperty("kernel_version").GetString());
        Assert.Equal(Environment.IsPrivilegedProcess, json.GetProperty("caller").GetProperty("uid").GetInt32() == 0);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Unusable command lines: exit 2, one line on stderr.

    [Fact]
    public void Explain_names_an_unknown_flag_and_exits_2()
    {
        Unusable(Explain("--flags VM|FOOBAR"), "unknown clone flag 'FOOBAR'");
    }

    [Fact]
    public void Explain_suggests_the_nearest_flag_name()
    {
        Unusable(Explain("--flags SIGHNAD"), "did you mean CLONE_SIGHAND?");
    }

    [Theory]
    [InlineData("--size 12x", "--size: malformed number '12x'")]
    [InlineData("--set-tid 1,x", "--set-tid: malformed number 'x'")]
    [InlineData("--uid -1", "--uid: malformed number '-1'")]
    [InlineData("--cgroup-fd 0xZZ", "--cgroup-fd: malformed number '0xZZ'")]
    [InlineData("--exit-signal SIGNOPE", "unknown signal 'SIGNOPE'")]
    [InlineData("--kernel six", "--kernel 'six'")]
    [InlineData("--caps CAP_NOPE", "unknown capability 'CAP_NOPE'")]
    [InlineData("--ns-limit bogus=1", "--ns-limit 'bogus=1'")]
    [InlineData("--ns-limit uts=lots", "malformed number 'lots'")]
    [InlineData("--args-pointer maybe", "expected valid, null or bad")]
    [InlineData("--call spawn", "--call 'spawn'")]
    [InlineData("--unshared newnet", "expected newpid or newtime")]
    [InlineData("--cgroup-fd-kind purple", "--cgroup-fd-kind 'purple'")]
    public void Explain_rejects_a_malformed_value_with_exit_2(string options, string message)
    {
        Unusable(Explain(options), message);
    }

    [Theory]
    [InlineData("--raw-flags 0x11", "use it with --call clone")]
    [InlineData("--call clone --raw-flags 0x11 --flags VM", "do not combine it with --flags or --exit-signal")]
    [InlineData("--call clone --raw-flags 0x11 --exit-signal 17", "do not combine it with --flags or --exit-signal")]
    [InlineData("--flags INTO_CGROUP --cgroup /sys/fs/cgroup --cgroup-fd-kind valid", "give one of them")]
    [InlineData("--cgroup-fd 3 --cgroup-fd-kind valid", "give one of them")]
    [InlineData("--call fork --flags VM", "--flags does not apply to --call fork")]
    [InlineData("--call vfork --stack 0x1000", "--stack does not apply to --call vfork")]
    [InlineData("--call fork --exit-signal SIGUSR1", "always uses SIGCHLD")]
    [InlineData("--call clone --size 64", "legacy clone has no such argument")]
    [InlineData("--call clone --set-tid 1", "legacy clone has no such argument")]
    [InlineData("--call clone --stack-size 4096", "legacy clone has no such argument")]
    [InlineData("--call clone --cgroup-fd-kind valid", "legacy clone has no such argument")]
    [InlineData("--call clone --pidfd-pointer valid", "legacy clone stores the pidfd at parent_tid")]
    [InlineData("--call clone --exit-signal 300", "one byte (0..255)")]
    [InlineData("--args-pointer null --readable-bytes 64", "contradicts --args-pointer null")]
    [InlineData("--tail-nonzero-at 40", "bytes 0..87 are clone_args fields")]
    [InlineData("--userns-level 0 --userns-unmapped", "--userns-level 0 is the initial one")]
    [InlineData("--cgroup /nonexistent/forklift-cgroup", "no such file or directory")]
    [InlineData("--bogus", "unrecognized command or option '--bogus'")]
    [InlineData("--verify --kernel 6.8", "--verify runs on this kernel")]
    [InlineData("--verify --call clone6", "never merged")]
    public void Explain_rejects_contradictory_options_with_exit_2(string options, string message)
    {
        Unusable(Explain(options), message);
    }

    [Fact]
    public void Forklift_without_a_command_exits_2()
    {
        Unusable(Run([]), "see 'forklift --help'");
    }

    [Fact]
    public void Forklift_names_an_unknown_command_and_exits_2()
    {
        Unusable(Run(["frobnicate"]), "unrecognized command or option 'frobnicate'");
    }

    [Fact]
    public void Explain_reports_an_option_without_its_value_with_exit_2()
    {
        Unusable(Explain("--flags"), "'--flags'");
    }

    [Fact]
    public void Explain_help_lists_the_options_and_the_flag_names()
    {
        var outcome = Run(["explain", "--help"]);

        Assert.Equal(0, outcome.Exit);
        Assert.Contains("--cgroup-fd-kind", outcome.Out);
        Assert.Contains("--tail-nonzero-at", outcome.Out);
        Assert.Contains("INTO_CGROUP", outcome.Out);
    }

    // ---------------------------------------------------------------------------------------------------------
    // --verify, with a fake kernel.

    [Fact]
    public void Explain_verify_shows_the_kernel_answer_beside_the_model()
    {
        var json = ExplainJson("--verify --flags SIGHAND", Kernel(Errno.EINVAL));

        Assert.Equal("EINVAL", json.GetProperty("errno").GetString());
        Assert.Equal("EINVAL", json.GetProperty("kernel").GetString());
        Assert.True(json.GetProperty("agree").GetBoolean());
        Assert.Equal("plain", json.GetProperty("verified_caller").GetString());
    }

    [Fact]
    public void Explain_verify_prints_a_disagreement_loudly_and_still_exits_0()
    {
        var outcome = Explain("--verify --flags SIGHAND", Kernel(Errno.None));

        Assert.Equal(0, outcome.Exit);
        Assert.Contains("*** DISAGREEMENT: the live kernel says ok, the model says EINVAL by R-D4 ***", outcome.Out);
        Assert.Contains("DISAGREEMENT", outcome.Err);
    }

    [Fact]
    public void Explain_verify_reports_disagreement_in_json()
    {
        var outcome = Run(["explain", "--json", "--verify", "--uid", "1000", "--flags", "NEWNET"], Kernel(Errno.None));

        Assert.Equal(0, outcome.Exit);
        var json = outcome.Json();
        Assert.Equal("ok", json.GetProperty("kernel").GetString());
        Assert.Equal("EPERM", json.GetProperty("errno").GetString());
        Assert.False(json.GetProperty("agree").GetBoolean());
        Assert.Contains("DISAGREEMENT", outcome.Err);
    }

    [Fact]
    public void Explain_verify_says_so_when_the_caller_could_not_be_set_up()
    {
        var outcome = Explain("--verify --sched-deadline", _ => new KernelAnswer(false, Errno.None, true, "setting up the caller failed at step 10: EPERM"));

        Assert.Equal(0, outcome.Exit);
        Assert.Contains("kernel:  not verified: setting up the caller failed at step 10: EPERM", outcome.Out);
        Assert.Equal("", outcome.Err);
    }

    [Fact]
    public void Explain_verify_hands_the_kernel_the_same_call_and_a_recipe_for_the_caller()
    {
        var seen = new List<VerificationCase>();
        var outcome = Explain("--verify --call clone --flags PIDFD|PARENT_SETTID --uid 1000 --caps SYS_ADMIN --as-init --pid-ns-level 2 --ns-limit net=0,uts=1 --rlimit-nproc 5",
            Kernel(Errno.EINVAL, seen));

        Assert.Equal(0, outcome.Exit);
        var c = Assert.Single(seen);
        Assert.Equal(CloneEntry.Clone, c.Call.Entry);
        Assert.Equal(0x101000UL, c.Call.RawFlags);
        var recipe = c.Context;
        Assert.Equal(1000, recipe.Uid);
        Assert.Equal(1UL << Capabilities.SysAdmin, recipe.Caps);
        Assert.True(recipe.AsInit);
        Assert.Equal(1, recipe.PidNsNesting);
        Assert.Equal(5, recipe.RlimitNproc);
        Assert.Equal(0, recipe.NsLimits[(int)NamespaceType.Net]);
        Assert.Equal(1, recipe.NsLimits[(int)NamespaceType.Uts]);
        Assert.Null(recipe.NsLimits[(int)NamespaceType.Pid]);
    }

    [Fact]
    public void Explain_verify_passes_the_named_cgroup_kind()
    {
        var seen = new List<VerificationCase>();
        ExplainJson("--verify --flags INTO_CGROUP --cgroup-fd-kind busy", Kernel(Errno.EBUSY, seen));

        Assert.Equal(CgroupKind.Busy, Assert.Single(seen).Cgroup!.Kind);
    }

    [Fact]
    public void Explain_verify_exits_1_when_the_probe_cannot_run()
    {
        var outcome = Explain("--verify", _ => throw new InvalidOperationException("the clone probe failed: ECHILD"));

        Assert.Equal(1, outcome.Exit);
        Assert.Contains("--verify could not run the probe: the clone probe failed: ECHILD", outcome.Err);
    }

    private static string Hex(ulong v) => "0x" + v.ToString("x");
}
