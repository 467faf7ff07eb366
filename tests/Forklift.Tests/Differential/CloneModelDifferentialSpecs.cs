using System.Globalization;
using System.Text;
using Forklift.Rules;
using Forklift.Tests.Support;
using Forklift.Verification;
using Xunit.Abstractions;

namespace Forklift.Tests.Differential;

/// <summary>
/// The model against the live kernel: thousands of generated requests, each made for real by the native probe
/// from a throwaway caller in the requested context, and each answer compared with the model's. Any
/// disagreement fails the test with the request, the model's rule and the kernel's errno.
/// </summary>
public class CloneModelDifferentialSpecs(ITestOutputHelper output)
{
    /// <summary>The seed: FORKLIFT_SEED when set (to replay a run), else a fresh one, always printed.</summary>
    private static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable("FORKLIFT_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s)
            ? s : System.Random.Shared.Next();

    private void Compare(string family, IReadOnlyList<VerificationCase> cases, int seed, int minimum)
    {
        Assert.True(cases.Count >= minimum, $"{family}: generated only {cases.Count} requests");
        var start = CallerContextReader.Live();
        var answers = KernelVerifier.Run(cases);
        var report = new StringBuilder();
        int disagreements = 0, setupFailures = 0, allowed = 0;
        for (int i = 0; i < cases.Count; i++)
        {
            var c = cases[i].Normalized(KernelVerifier.UnprivilegedUid);
            var verdict = c.Model(start);
            var answer = answers[i];
            if (answer.SetupFailed)
            {
                setupFailures++;
                report.AppendLine(CultureInfo.InvariantCulture, $"SETUP  {KernelVerifier.Describe(c)}: {answer.Note}");
                continue;
            }
            if (answer.Succeeded)
            {
                allowed++;
            }
            if (!answer.Agrees(verdict))
            {
                disagreements++;
                string model = verdict.Allowed ? "ok" : $"{ErrnoName(verdict)} by {verdict.Rule!.Name} ({verdict.Explain()})";
                report.AppendLine(CultureInfo.InvariantCulture, $"DIFFER {KernelVerifier.Describe(c)}: model {model}, kernel {answer}");
            }
        }
        output.WriteLine($"{family}: seed {seed}, {cases.Count} requests, {allowed} created a child, {cases.Count - allowed - setupFailures} refused, {disagreements} disagreements, {setupFailures} setup failures");
        if (report.Length > 0)
        {
            output.WriteLine(report.ToString());
        }
        Assert.True(disagreements == 0 && setupFailures == 0,
            $"{family} (seed {seed}, replay with FORKLIFT_SEED={seed}): {disagreements} disagreements, {setupFailures} setup failures\n{report}");
    }

    private static string ErrnoName(CloneVerdict v) => Forklift.Abi.ErrnoInfo.Name(v.Errno);

    [KernelFact]
    public void Model_and_kernel_agree_on_flag_pairs_and_legacy_flag_pairs()
    {
        int seed = Seed();
        var g = new CloneRequestGenerator(seed);
        Compare("flag pairs", [.. g.FlagPairs(), .. g.LegacyFlagPairs()], seed, 600);
    }

    [KernelFact]
    public void Model_and_kernel_agree_on_struct_sizes_and_exit_signals()
    {
        int seed = Seed();
        var g = new CloneRequestGenerator(seed);
        Compare("struct sizes and exit signals", [.. g.StructSizes(), .. g.ExitSignals()], seed, 900);
    }

    [KernelFact]
    public void Model_and_kernel_agree_on_set_tid_stacks_tls_and_pointers()
    {
        int seed = Seed();
        var g = new CloneRequestGenerator(seed);
        Compare("set_tid, stacks, TLS, pointers", [.. g.SetTids(), .. g.AddressBoundary(), .. g.Pointers()], seed, 150);
    }

    [KernelFact]
    public void Model_and_kernel_agree_in_every_caller_context()
    {
        int seed = Seed();
        var g = new CloneRequestGenerator(seed);
        Compare("caller contexts", [.. g.Contexts()], seed, 600);
    }

    [KernelFact(needsCgroup2: true)]
    public void Model_and_kernel_agree_on_every_cgroup_target()
    {
        int seed = Seed();
        var g = new CloneRequestGenerator(seed);
        Compare("cgroup targets", [.. g.Cgroups()], seed, 40);
    }

    [KernelFact(needsCgroup2: true)]
    public void Model_and_kernel_agree_on_seeded_random_requests()
    {
        int seed = Seed();
        var g = new CloneRequestGenerator(seed);
        Compare("random", [.. g.Random(600)], seed, 600);
    }
}
