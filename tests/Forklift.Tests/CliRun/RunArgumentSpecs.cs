using static Forklift.Tests.Cli.CliKit;

namespace Forklift.Tests.CliRun;

/// <summary>
/// <c>forklift run</c> command lines that cannot be used: exit 2, nothing on stdout, one line on stderr naming the
/// option. Nothing is started (these run in-process and in parallel).
/// </summary>
public sealed class RunArgumentSpecs
{
    [Theory(Timeout = 30_000)]
    [InlineData("--no-such-option", "'--no-such-option'")]
    [InlineData("--rlimit NOFILE", "--rlimit 'NOFILE': expected NAME=SOFT[:HARD]")]
    [InlineData("--rlimit FILES=10", "--rlimit 'FILES=10': unknown resource 'FILES'")]
    [InlineData("--rlimit NOFILE=ten", "--rlimit 'NOFILE=ten': 'ten' is not a number")]
    [InlineData("--rlimit NOFILE=20:10", "--rlimit 'NOFILE=20:10': the soft limit exceeds the hard limit")]
    [InlineData("--rlimit NOFILE=1:2:3", "--rlimit 'NOFILE=1:2:3'")]
    [InlineData("--rlimit CORE=0 --rlimit core=1", "--rlimit CORE is given twice")]
    [InlineData("--pdeathsig SIGBOGUS", "--pdeathsig: unknown signal 'SIGBOGUS'")]
    [InlineData("--pdeathsig 65", "--pdeathsig '65': not a signal")]
    [InlineData("--exit-signal NOPE", "--exit-signal: unknown signal 'NOPE'")]
    [InlineData("--sibling --exit-signal CHLD", "--exit-signal CHLD with --sibling")]
    [InlineData("--umask 0999", "--umask '0999'")]
    [InlineData("--umask 10000", "--umask '10000'")]
    [InlineData("--env NOEQUALS", "--env 'NOEQUALS': expected K=V")]
    [InlineData("--env =v", "--env '=v'")]
    [InlineData("--env A=1 --unset-env A", "--env A=... and --unset-env A contradict")]
    [InlineData("--unset-env A=1", "--unset-env 'A=1'")]
    [InlineData("--uid abc", "--uid: malformed number 'abc'")]
    [InlineData("--gid 4294967295", "--gid 4294967295")]
    [InlineData("--groups 1,,2", "--groups '1,,2': an empty entry")]
    [InlineData("--setsid --pgid", "--setsid and --pgid")]
    [InlineData("--no-clone3 --clone3-eperm-fallback", "--no-clone3 and --clone3-eperm-fallback")]
    [InlineData("--clone-flags NEWBOGUS", "--clone-flags 'NEWBOGUS': unknown clone flag")]
    [InlineData("--clone-flags VM|VFORK", "--clone-flags: CLONE_VM|CLONE_VFORK cannot be requested")]
    [InlineData("--stdin append:/tmp/x", "--stdin 'append:/tmp/x': append: is for output")]
    [InlineData("--stdout append:", "--stdout: expected a path")]
    [InlineData("--cwd", "--cwd")]
    public async Task An_unusable_option_exits_2_with_one_line_naming_it(string options, string expected)
    {
        var outcome = await RunKit.InProcess(["run", .. options.Split(' '), "--", "/bin/true"]);

        Unusable(outcome, expected);
    }

    [Fact(Timeout = 30_000)]
    public async Task An_option_after_the_program_without_a_double_dash_is_refused_rather_than_taken_as_forkliftS()
    {
        var outcome = await RunKit.InProcess("run", "/bin/echo", "hello", "--verbose");

        Unusable(outcome, "--verbose after PROGRAM");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_missing_program_is_an_unusable_command_line()
    {
        Unusable(await RunKit.InProcess("run", "--verbose"), "Required argument missing");
        Unusable(await RunKit.InProcess("run", "--verbose", "--"), "Required argument missing");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_NUL_in_an_argument_is_refused_by_the_library_and_named_as_the_cli_spells_it()
    {
        var outcome = await RunKit.InProcess("run", "--", "/bin/echo", "a\0b");

        Unusable(outcome, "ARGS[0]: contains a NUL character");
    }

    [Fact(Timeout = 30_000)]
    public async Task The_help_documents_the_exit_codes_and_every_option()
    {
        var outcome = await RunKit.InProcess("run", "--help");

        Assert.Equal(0, outcome.Exit);
        foreach (var text in new[] { "127", "126", "125", "128+N", "-- PROGRAM [ARGS...]" })
            Assert.Contains(text, outcome.Out);
        foreach (var option in new[]
                 {
                     "--env", "--unset-env", "--clear-env", "--cwd", "--stdin", "--stdout", "--stderr", "--umask", "--setsid", "--pgid",
                     "--pdeathsig", "--rlimit", "--uid", "--gid", "--groups", "--no-new-privs", "--sibling", "--exit-signal",
                     "--clone-flags", "--no-clone3", "--clone3-eperm-fallback", "--argv0", "--verbose",
                 })
            Assert.Contains(option + " ", outcome.Out);
    }
}
