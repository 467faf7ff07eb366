using System.CommandLine;
using Forklift.Abi;
using Forklift.Rules;
using Forklift.Verification;

namespace Forklift.Cli.Explain;

/// <summary>
/// <c>forklift explain</c>: what one clone call would do, asked of the model (and with <c>--verify</c> of the
/// live kernel too). Exit 0 whether or not the call would be allowed, and also when the kernel disagrees
/// with the model (that is information, printed loudly); 2 for unusable arguments.
/// </summary>
internal static class ExplainCommand
{
    /// <summary>The <c>explain</c> command, bound to <paramref name="env"/>.</summary>
    public static Command Create(CliEnvironment env)
    {
        var options = new ExplainOptions();
        var command = new Command("explain", "Explain a clone, clone3, fork or vfork call: allowed or not, by which kernel rule, and what the child gets.");
        foreach (var option in options.All)
        {
            command.Add(option);
        }
        command.SetAction(parse => Run(ExplainRequest.From(parse, options), env));
        return command;
    }

    /// <summary>Answers a request and writes the answer.</summary>
    internal static int Run(ExplainRequest request, CliEnvironment env)
    {
        var result = Evaluate(request, env);
        if (request.Json)
        {
            ExplainOutput.WriteJson(result, env.Output);
        }
        else
        {
            ExplainOutput.WriteText(result, env.Output, env.Colour);
        }
        if (result.Kernel is { } answer && result.Agrees == false)
        {
            env.Error.WriteLine($"forklift: DISAGREEMENT: the live kernel says {answer.Spelling}, the model says {Spell(result.Verdict)}"
                + (result.Verdict.Rule is { } rule ? $" ({rule.Name})" : ""));
        }
        return 0;
    }

    /// <summary>The model's answer (and the kernel's, with <c>--verify</c>), without writing anything.</summary>
    internal static ExplainResult Evaluate(ExplainRequest request, CliEnvironment env)
    {
        // The live context is read here, once, after the arguments are known to be usable.
        var live = env.LiveContext();
        var call = request.Call;
        CallerContext context;
        CgroupTarget target;
        VerificationCase? verification = null;
        string? caller = null;
        if (request.Verify)
        {
            if (!request.Context.TryToRecipe(live, out var recipe, out var why))
            {
                throw new UsageException(why!);
            }
            // The model must see the caller the kernel will see: the recipe's own view of it.
            verification = new VerificationCase(call, recipe, request.Cgroup).Normalized(KernelVerifier.UnprivilegedUid);
            context = verification.Context.ToModel(live);
            target = verification.Cgroup?.ToModel(context) ?? default;
            caller = verification.Context.ToString();
        }
        else
        {
            context = request.Context.ToModel(live);
            target = request.Cgroup?.ToModel(context) ?? default;
        }

        var verdict = CloneRules.Evaluate(call, context, target);
        IReadOnlyList<ResourceEffect> effects = verdict.Allowed ? CloneEffects.Of(call, context).Describe(call) : [];

        KernelAnswer? answer = null;
        if (verification is not null)
        {
            try
            {
                answer = env.Verifier(verification);
            }
            catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
            {
                throw new VerifyFailedException("--verify could not run the probe: " + e.Message, e);
            }
        }
        return new ExplainResult(request, context, verdict, effects, caller, answer);
    }

    /// <summary><c>ok</c> or the errno's name, as <see cref="KernelAnswer.Spelling"/> spells the kernel's answer.</summary>
    public static string Spell(CloneVerdict verdict) => verdict.Allowed ? "ok" : ErrnoInfo.Name(verdict.Errno);
}

/// <summary>Everything <c>explain</c> found out, ready to be written.</summary>
/// <param name="Request">The request.</param>
/// <param name="Context">The caller the model judged.</param>
/// <param name="Verdict">The model's verdict.</param>
/// <param name="Effects">What the child gets (empty when the call is refused).</param>
/// <param name="Caller">With <c>--verify</c>: the steps the throwaway caller took (<see cref="ContextRecipe.ToString"/>).</param>
/// <param name="Kernel">With <c>--verify</c>: the live kernel's answer.</param>
internal sealed record ExplainResult(
    ExplainRequest Request,
    CallerContext Context,
    CloneVerdict Verdict,
    IReadOnlyList<ResourceEffect> Effects,
    string? Caller,
    KernelAnswer? Kernel)
{
    /// <summary>With <c>--verify</c>: whether the kernel and the model agree (null when the caller could not be set up).</summary>
    public bool? Agrees => Kernel is { } k && !k.SetupFailed ? k.Agrees(Verdict) : null;
}

/// <summary><c>--verify</c> could not make the call at all (the probe is missing or failed): exit 1.</summary>
internal sealed class VerifyFailedException(string message, Exception inner) : Exception(message, inner);
