using Forklift.Abi;

namespace Forklift.Simulation.Scenarios;

/// <summary>
/// Runs a scenario one statement at a time and gives each statement's outcome as data: the call's result, what a
/// wait reported, the task a clone made, the blocked calls that completed during the statement, a check's
/// verdict. <see cref="ScenarioRunner.Run(Scenario, SimKernelOptions?)"/> is a loop over it; the differential
/// tests use it to drive the model and the real kernel in lockstep.
/// </summary>
internal sealed class ScenarioSession
{
    private readonly ScenarioRunner.Runner _run;

    /// <summary>Applies the scenario's kernel settings and makes the machine (ScenarioException on a bad setting).</summary>
    public ScenarioSession(Scenario scenario, SimKernelOptions? options)
    {
        var opts = ScenarioRunner.KernelOptions(scenario, options, out int first);
        Kernel = new SimKernel(opts);
        ScenarioRunner.RegisterDriven(Kernel);
        Result = new ScenarioResult(Kernel);
        var run = new ScenarioRunner.Runner(Kernel, Result);
        _run = run;
        Kernel.Trace = line => Result.Trace.Add(new TraceEntry(run.CurrentLine, "event", line));
        Kernel.CallCompleted += (t, call, r, w) =>
        {
            run.Outcome.Completions.Add(new Completion(t, call, r, w));
            Result.Trace.Add(new TraceEntry(run.CurrentLine, "completion",
                $"{run.NameOf(t)}: {call} completes: {r}" + (w.Pid != 0 ? $" ({w.Describe()}, pid {w.Pid})" : ""),
                run.NameOf(t), call, r.Ok ? r.Value : null, r.Errno == Errno.None ? null : ErrnoInfo.Name(r.Errno), r.Detail));
        };
        Statements = scenario.Statements.Skip(first).ToArray();
    }

    /// <summary>The machine.</summary>
    public SimKernel Kernel { get; }

    /// <summary>The run so far (trace, checks, names).</summary>
    public ScenarioResult Result { get; }

    /// <summary>The statements after the kernel settings.</summary>
    public IReadOnlyList<ScenarioStatement> Statements { get; }

    /// <summary>The line of the statement being (or last) executed.</summary>
    public int CurrentLine => _run.CurrentLine;

    /// <summary>The name a scenario gave a task (the lowest, if several), or null.</summary>
    public string? NameOf(SimTask t)
    {
        string? best = null;
        foreach (var kv in Result.Names)
        {
            if (kv.Value == t && (best is null || string.CompareOrdinal(kv.Key, best) < 0))
            {
                best = kv.Key;
            }
        }
        return best;
    }

    /// <summary>Executes one statement (exceptions as <see cref="ScenarioRunner.Run(Scenario, SimKernelOptions?)"/> reports them).</summary>
    public StatementOutcome Execute(ScenarioStatement statement)
    {
        var o = new StatementOutcome { Statement = statement };
        _run.Outcome = o;
        _run.Execute(statement);
        return o;
    }
}

/// <summary>What one statement did.</summary>
internal sealed class StatementOutcome
{
    /// <summary>The statement.</summary>
    public ScenarioStatement Statement { get; set; } = null!;
    /// <summary>The calling task (calls).</summary>
    public SimTask? Actor { get; set; }
    /// <summary>The call's name (calls).</summary>
    public string? Call { get; set; }
    /// <summary>The call's result (calls).</summary>
    public SysResult Result { get; set; }
    /// <summary>What a wait reported (pid 0 when nothing).</summary>
    public WaitInfo Wait { get; set; }
    /// <summary>The task a clone-family call made.</summary>
    public SimTask? Created { get; set; }
    /// <summary>The name given to it with <c>-&gt; NAME</c>.</summary>
    public string? CreatedName { get; set; }
    /// <summary>Blocked calls that completed during the statement, in order.</summary>
    public List<Completion> Completions { get; } = [];
    /// <summary>A check's verdict (checks only).</summary>
    public bool? CheckOk { get; set; }
    /// <summary>Why a check failed.</summary>
    public string? CheckProblem { get; set; }
}

/// <summary>A blocked call that completed.</summary>
internal readonly record struct Completion(SimTask Task, string Call, SysResult Result, WaitInfo Wait);
