using System.Collections.Immutable;
using System.Globalization;
using Forklift.Abi;
using Forklift.Rules;
using Forklift.Simulation.Programs;

namespace Forklift.Simulation.Scenarios;

/// <summary>One line of a run's trace.</summary>
/// <param name="Line">The scenario line (0 for kernel events that happen between statements).</param>
/// <param name="Kind">call, event, completion, check, note.</param>
/// <param name="Text">The line as printed.</param>
/// <param name="Task">The acting task's name (calls).</param>
/// <param name="Call">The call's name (calls, completions).</param>
/// <param name="Value">The return value on success.</param>
/// <param name="Errno">The errno name on failure.</param>
/// <param name="Detail">The model's reason or note.</param>
/// <param name="Ok">For checks and expectations: whether it held.</param>
public sealed record TraceEntry(int Line, string Kind, string Text, string? Task = null, string? Call = null,
    long? Value = null, string? Errno = null, string? Detail = null, bool? Ok = null);

/// <summary>
/// Runs a <see cref="Scenario"/> on a fresh <see cref="SimKernel"/> and collects the trace, the check results
/// and the final machine. A CLI prints <see cref="ScenarioResult.ToText"/> or <see cref="ScenarioResult.ToJson"/>.
/// </summary>
public static class ScenarioRunner
{
    /// <summary>Parses and runs scenario text.</summary>
    public static ScenarioResult Run(string text, SimKernelOptions? options = null)
    {
        Scenario s;
        try
        {
            s = Scenario.Parse(text);
        }
        catch (ScenarioException e)
        {
            var r = new ScenarioResult(new SimKernel(options));
            r.Error = e.Message;
            return r;
        }
        return Run(s, options);
    }

    /// <summary>Runs a parsed scenario. A scenario error stops the run and is reported in <see cref="ScenarioResult.Error"/>.</summary>
    public static ScenarioResult Run(Scenario scenario, SimKernelOptions? options = null)
    {
        ScenarioSession session;
        try
        {
            session = new ScenarioSession(scenario, options);
        }
        catch (ScenarioException e)
        {
            return new ScenarioResult(new SimKernel(options)) { Error = e.Message };
        }
        var result = session.Result;
        try
        {
            foreach (var st in session.Statements)
            {
                session.Execute(st);
            }
        }
        catch (ScenarioException e)
        {
            result.Error = e.Message;
        }
        catch (SimulationException e)
        {
            result.Error = $"line {session.CurrentLine}: {e.Message}";
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or InvalidOperationException)
        {
            // A malformed number, or a program's own exception: reported with the line, the run stops.
            result.Error = $"line {session.CurrentLine}: {e.GetType().Name}: {e.Message}";
        }
        return result;
    }

    /// <summary>
    /// The path of a program that makes no calls of its own: a task that execs it stays alive and callable, and the
    /// scenario's statements make its calls (the differential tests' agent, exec'd on the real kernel).
    /// </summary>
    public const string DrivenProgram = "/forklift/agent";

    internal static SimKernelOptions KernelOptions(Scenario scenario, SimKernelOptions? options, out int firstOther)
    {
        var opts = options ?? new SimKernelOptions();
        firstOther = 0;
        foreach (var st in scenario.Statements)
        {
            if (st.Kind != "kernel")
            {
                break;
            }
            opts = ApplyKernelOptions(opts, st);
            firstOther++;
        }
        return opts;
    }

    // The driven program: it gives up its program run at once, so the task stays running with nothing scheduled.
    private static IEnumerable<Programs.ProgramStep> Driven(ProgramContext c)
    {
        c.Task.Program = null;
        yield break;
    }

    internal static void RegisterDriven(SimKernel k) => k.Programs.Register(DrivenProgram, Driven);

    private static SimKernelOptions ApplyKernelOptions(SimKernelOptions o, ScenarioStatement st)
    {
        foreach (var tok in st.Tokens)
        {
            var (k, v) = Runner.SplitKv(tok) ?? throw new ScenarioException(st.Line, $"expected key=value, got '{tok}'");
            switch (k)
            {
                case "pid_max": o = o with { PidMax = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "threads_max": o = o with { ThreadsMax = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "uid": o = o with { InitUid = uint.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "init":
                    o = o with
                    {
                        InitInChildNamespace = v switch
                        {
                            "global" => false,
                            "namespace" => true,
                            _ => throw new ScenarioException(st.Line, "init=global or init=namespace"),
                        },
                    };
                    break;
                case "version":
                    if (!KernelVersion.TryParse(v, out var ver))
                    {
                        throw new ScenarioException(st.Line, $"bad kernel version '{v}'");
                    }
                    o = o with { Kernel = ver };
                    break;
                default: throw new ScenarioException(st.Line, $"unknown kernel setting '{k}' (pid_max, threads_max, uid, version, init)");
            }
        }
        return o;
    }

    internal sealed class Runner(SimKernel k, ScenarioResult res)
    {
        private readonly Dictionary<string, SimTask> _names = res.NamesMutable;
        public int CurrentLine;
        /// <summary>The statement being executed: its outcome, filled as it runs.</summary>
        public StatementOutcome Outcome = new();

        public string NameOf(SimTask t)
        {
            string? best = null;
            foreach (var kv in _names)
            {
                if (kv.Value == t && (best is null || string.CompareOrdinal(kv.Key, best) < 0))
                {
                    best = kv.Key;
                }
            }
            return best is null ? SimKernel.Label(t) : $"{best}({SimKernel.Label(t)})";
        }

        public void Execute(ScenarioStatement st)
        {
            CurrentLine = st.Line;
            switch (st.Kind)
            {
                case "kernel": throw new ScenarioException(st.Line, "'kernel' settings must come before everything else");
                case "program": DefineProgram(st); break;
                case "advance":
                    long ticks = st.Tokens.Count == 1 ? long.Parse(st.Tokens[0], CultureInfo.InvariantCulture) : throw new ScenarioException(st.Line, "advance N");
                    Note(st, $"advance {ticks} (t={k.Now} -> t={k.Now + ticks})");
                    k.Advance(ticks);
                    break;
                case "run":
                    int at = res.Trace.Count;
                    long from = k.Now;
                    k.RunUntilIdle();
                    res.Trace.Insert(at, new TraceEntry(st.Line, "note", $"run (t={from} -> t={k.Now})"));
                    break;
                case "tree":
                    foreach (var l in TreePrinter.Text(k, _names).Split('\n'))
                    {
                        if (l.Length > 0)
                        {
                            res.Trace.Add(new TraceEntry(st.Line, "note", "  | " + l));
                        }
                    }
                    break;
                case "mkcgroup": Note(st, $"mkcgroup {One(st)} = {k.MakeCgroup(One(st))}"); break;
                case "rmcgroup": Note(st, $"rmcgroup {One(st)} = {k.RemoveCgroup(One(st))}"); break;
                case "sysctl": Sysctl(st); break;
                case "check": Check(st); break;
                case "call": Call(st); break;
            }
            k.RunDue();
        }

        private static string One(ScenarioStatement st) =>
            st.Tokens.Count == 1 ? st.Tokens[0] : throw new ScenarioException(st.Line, $"{st.Kind} takes one argument");

        private void Note(ScenarioStatement st, string text) => res.Trace.Add(new TraceEntry(st.Line, "note", text));

        // sysctl user.max_TYPE_namespaces=N [TASK]: the limit in TASK's user namespace (default: init's).
        private void Sysctl(ScenarioStatement st)
        {
            if (st.Tokens.Count is < 1 or > 2 || SplitKv(st.Tokens[0]) is not var (key, v))
            {
                throw new ScenarioException(st.Line, "sysctl user.max_TYPE_namespaces=N [TASK]");
            }
            const string Prefix = "user.max_", Suffix = "_namespaces";
            if (!key.StartsWith(Prefix, StringComparison.Ordinal) || !key.EndsWith(Suffix, StringComparison.Ordinal)
                || !NamespaceTypes.TryParse(key[Prefix.Length..^Suffix.Length], out var type))
            {
                throw new ScenarioException(st.Line, $"unknown sysctl '{key}'");
            }
            var t = st.Tokens.Count == 2 ? Task(st.Tokens[1], st.Line) : k.Init;
            k.SetNamespaceLimit(t.Cred.UserNs, type, long.Parse(v, CultureInfo.InvariantCulture));
            Note(st, $"sysctl {key}={v}");
        }

        // ---------------------------------------------------------------------------------------------------
        // Calls.

        private void Call(ScenarioStatement st)
        {
            var toks = st.Tokens.ToList();
            string? newName = null;
            List<string>? expect = null;
            int e = toks.IndexOf("expect");
            if (e >= 0)
            {
                expect = toks.GetRange(e + 1, toks.Count - e - 1);
                toks.RemoveRange(e, toks.Count - e);
            }
            int arrow = toks.IndexOf("->");
            if (arrow >= 0)
            {
                if (arrow != toks.Count - 2)
                {
                    throw new ScenarioException(st.Line, "'-> NAME' must end the call");
                }
                newName = toks[arrow + 1];
                toks.RemoveRange(arrow, 2);
            }
            var actor = Task(st.Actor!, st.Line);
            string call = toks[0];
            var args = toks.Skip(1).ToArray();
            int at = res.Trace.Count; // kernel events of the call are printed after it
            SimTask? created = null;
            WaitInfo info = default;
            var r = Dispatch(st, actor, call, args, ref created, ref info);
            if (newName is not null)
            {
                if (created is null)
                {
                    throw new ScenarioException(st.Line, r.Ok || r.Blocked ? $"'{call}' creates no task to name" : $"'{call}' failed, so '{newName}' names nothing: {r}");
                }
                _names[newName] = created;
            }
            Outcome.Actor = actor;
            Outcome.Call = call;
            Outcome.Result = r;
            Outcome.Wait = info;
            Outcome.Created = created;
            Outcome.CreatedName = newName;
            string text = $"{NameOf(actor)}: {call}({string.Join(", ", args)}) = {r}"
                + (info.Pid != 0 ? $" [{info.Describe()}, pid {info.Pid}]" : "")
                + (newName is not null ? $" -> {newName}" : "");
            res.Trace.Insert(at, new TraceEntry(st.Line, "call", text, st.Actor, call, r.Ok ? r.Value : null,
                r.Errno == Errno.None ? null : ErrnoInfo.Name(r.Errno), r.Detail));
            if (expect is not null)
            {
                Expect(st, actor, r, info, expect);
            }
        }

        private SysResult Dispatch(ScenarioStatement st, SimTask t, string call, string[] a, ref SimTask? created, ref WaitInfo info)
        {
            var kv = a.Select(SplitKv).Where(x => x is not null).ToDictionary(x => x!.Value.Key, x => x!.Value.Value, StringComparer.Ordinal);
            var pos = a.Where(x => SplitKv(x) is null).ToArray();
            long P(int i, long def = long.MinValue) =>
                i < pos.Length ? Num(pos[i], t, st.Line) : def != long.MinValue ? def : throw new ScenarioException(st.Line, $"{call}: missing argument {i + 1}");
            string S(int i) => i < pos.Length ? pos[i] : throw new ScenarioException(st.Line, $"{call}: missing argument {i + 1}");
            switch (call)
            {
                case "fork": return k.Fork(t, out created);
                case "vfork": return k.Vfork(t, out created);
                case "clone":
                {
                    ulong flags = (ulong)ParseFlags(kv.GetValueOrDefault("flags") ?? (pos.Length > 0 ? pos[0] : "0"), st.Line);
                    ulong sig = kv.TryGetValue("exit_signal", out var es) ? (ulong)Num(es, t, st.Line) : pos.Length > 1 ? (ulong)Num(pos[1], t, st.Line) : 0;
                    var regs = new LegacyCloneRegisters(flags | (sig & 0xff), Addr(kv, "stack", t, st), Addr(kv, "parent_tid", t, st),
                        Addr(kv, "child_tid", t, st), Addr(kv, "tls", t, st));
                    return k.CloneLegacy(t, regs, out created);
                }
                case "clone3":
                case "clone6":
                {
                    var args = Clone3Args(kv, t, st);
                    if (kv.TryGetValue("bytes", out _) || kv.ContainsKey("raw"))
                    {
                        // Through the struct bytes: encoded for `size`, decoded as the kernel reads them.
                        int size = kv.TryGetValue("size", out var sz) ? (int)Num(sz, t, st.Line) : Clone3Struct.SizeVer2;
                        var bytes = kv.TryGetValue("bytes", out var hex) ? Convert.FromHexString(hex) : Clone3Struct.Encode(args, size);
                        if (!args.SetTidValues.IsDefaultOrEmpty)
                        {
                            for (int i = 0; i < args.SetTidValues.Length; i++)
                            {
                                t.Mm.Write(args.SetTid + (ulong)(4 * i), args.SetTidValues[i]);
                            }
                        }
                        return k.Clone3(t, bytes, out created);
                    }
                    ulong size2 = kv.TryGetValue("size", out var s2) ? (ulong)Num(s2, t, st.Line) : Clone3Struct.SizeVer2;
                    var cc = call == "clone3" ? CloneCall.Clone3(args, size2)
                        : CloneCall.Clone6(args, size2, kv.TryGetValue("upper", out var up) ? (uint)Num(up, t, st.Line) : 0);
                    return k.Clone(t, cc, out created);
                }
                case "execve": return k.Execve(t, S(0), pos);
                case "exit": return k.Exit(t, (int)P(0, 0));
                case "exit_group": return k.ExitGroup(t, (int)P(0, 0));
                case "wait4": return k.Wait4(t, (int)P(0, -1), (int)P(1, 0), out info);
                case "waitid": return k.Waitid(t, (int)P(0), (int)P(1), (int)P(2, WaitConst.WExited), out info);
                case "kill": return k.Kill(t, (int)P(0), (int)P(1));
                case "tgkill": return k.Tgkill(t, (int)P(0), (int)P(1), (int)P(2));
                case "pidfd_send_signal": return k.PidfdSendSignal(t, (int)P(0), (int)P(1), (uint)P(2, 0));
                case "pidfd_open": return k.PidfdOpen(t, (int)P(0), (int)P(1, 0));
                case "poll": return k.PollPidfd(t, (int)P(0));
                case "getpid": return k.Getpid(t);
                case "gettid": return k.Gettid(t);
                case "getppid": return k.Getppid(t);
                case "getpgid": return k.Getpgid(t, (int)P(0, 0));
                case "getsid": return k.Getsid(t, (int)P(0, 0));
                case "setsid": return k.Setsid(t);
                case "setpgid": return k.Setpgid(t, (int)P(0, 0), (int)P(1, 0));
                case "unshare": return k.Unshare(t, ParseFlags(S(0), st.Line));
                case "setns": return k.Setns(t, (int)P(0), pos.Length > 1 ? ParseFlags(pos[1], st.Line) : CloneFlags.None);
                case "prctl": return k.Prctl(t, (int)P(0), P(1, 0));
                case "open": return k.Open(t, S(0), (int)P(1, 0));
                case "close": return k.Close(t, (int)P(0));
                case "dup": return k.Dup(t, (int)P(0));
                case "dup2": return k.Dup3(t, (int)P(0), (int)P(1), 0, dup2: true);
                case "dup3": return k.Dup3(t, (int)P(0), (int)P(1), (int)P(2, 0));
                case "fcntl": return k.Fcntl(t, (int)P(0), (int)P(1), (int)P(2, 0));
                case "write": return k.Write(t, (int)P(0), S(1));
                case "sigaction":
                {
                    var action = S(1) switch
                    {
                        "default" or "SIG_DFL" => SignalAction.Default,
                        "ignore" or "SIG_IGN" => SignalAction.Ignore,
                        "handle" => SignalAction.Handle,
                        var x => throw new ScenarioException(st.Line, $"sigaction SIG default|ignore|handle, not '{x}'"),
                    };
                    string fl = pos.Length > 2 ? pos[2] : "";
                    return k.Sigaction(t, (int)P(0), action, fl.Contains("SA_NOCLDSTOP", StringComparison.Ordinal), fl.Contains("SA_NOCLDWAIT", StringComparison.Ordinal));
                }
                case "setuid": return k.Setuid(t, (uint)P(0));
                case "setrlimit": return k.Setrlimit(t, (int)P(0), S(1) is "RLIM_INFINITY" or "unlimited" ? ulong.MaxValue : (ulong)P(1));
                case "chroot": return k.Chroot(t, S(0));
                case "chdir": return k.Chdir(t, S(0));
                case "umask": return k.Umask(t, (int)P(0));
                case "sleep": return k.Nanosleep(t, P(0));
                case "pause": return k.Pause(t);
                case "uid_map": return k.WriteUidMap(t, Task(S(0), st.Line), (uint)P(1), (uint)P(2), (uint)P(3));
                case "semget": return k.Semget(t, (int)P(0, 1));
                case "semop": return k.Semop(t, (int)P(0), (int)P(1), (int)P(2), pos.Length > 3 && pos[3] == "SEM_UNDO");
                case "semctl":
                    return pos.Length == 3 && pos[2] == "GETVAL" ? k.SemctlGetval(t, (int)P(0), (int)P(1))
                        : throw new ScenarioException(st.Line, "semctl ID NUM GETVAL");
                case "store":
                {
                    // store ADDR VALUE: a plain 32-bit store by the task (no system call), visible to the tasks
                    // that share its address space.
                    SimKernel.Enter(t);
                    ulong addr = (ulong)P(0);
                    if (UserPointer.Classify(addr) != PointerState.Valid)
                    {
                        return SysResult.Fail(Errno.EFAULT, "the address is not mapped");
                    }
                    t.Mm.Write(addr, (int)P(1));
                    return SysResult.Success(0);
                }
                default:
                    throw new ScenarioException(st.Line, $"unknown call '{call}'");
            }
        }

        private CloneArgs Clone3Args(Dictionary<string, string> kv, SimTask t, ScenarioStatement st)
        {
            var setTid = ImmutableArray<int>.Empty;
            ulong setTidPtr = 0, setTidSize = 0;
            if (kv.TryGetValue("set_tid", out var list))
            {
                setTid = list.Split(',').Select(x => (int)Num(x, t, st.Line)).ToImmutableArray();
                setTidPtr = kv.TryGetValue("set_tid_ptr", out var p) ? (ulong)Num(p, t, st.Line) : UserPointer.Valid(UserPointer.SetTidField);
                setTidSize = (ulong)setTid.Length;
            }
            if (kv.TryGetValue("set_tid_size", out var n))
            {
                setTidSize = (ulong)Num(n, t, st.Line);
            }
            return new CloneArgs
            {
                Flags = ParseFlags(kv.GetValueOrDefault("flags") ?? "0", st.Line),
                ExitSignal = kv.TryGetValue("exit_signal", out var es) ? (ulong)Num(es, t, st.Line) : 0,
                Pidfd = Addr(kv, "pidfd", t, st),
                ChildTid = Addr(kv, "child_tid", t, st),
                ParentTid = Addr(kv, "parent_tid", t, st),
                Stack = Addr(kv, "stack", t, st),
                StackSize = Addr(kv, "stack_size", t, st),
                Tls = Addr(kv, "tls", t, st),
                SetTid = setTidPtr,
                SetTidSize = setTidSize,
                Cgroup = Addr(kv, "cgroup", t, st),
                SetTidValues = setTid,
            };
        }

        private ulong Addr(Dictionary<string, string> kv, string key, SimTask t, ScenarioStatement st) =>
            kv.TryGetValue(key, out var v) ? (ulong)Num(v, t, st.Line) : 0;

        private static CloneFlags ParseFlags(string text, int line) =>
            CloneFlagNames.TryParse(text, out var f, out var err) ? f : throw new ScenarioException(line, err!);

        // ---------------------------------------------------------------------------------------------------
        // Values.

        public static (string Key, string Value)? SplitKv(string tok)
        {
            int eq = tok.IndexOf('=', StringComparison.Ordinal);
            return eq > 0 && !tok.StartsWith('$') ? (tok[..eq], tok[(eq + 1)..]) : null;
        }

        private SimTask Task(string name, int line)
        {
            if (_names.TryGetValue(name, out var t))
            {
                return t;
            }
            if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && k.FindTask(pid) is { } byPid)
            {
                return byPid;
            }
            throw new ScenarioException(line, $"no task named '{name}' (name tasks with '-> NAME')");
        }

        /// <summary>A number: decimal, 0x hex, a signal name, a constant, $name[.tid], or an OR of those with '|'.</summary>
        private long Num(string tok, SimTask viewer, int line) =>
            ScenarioValues.Parse(tok, line, (name, tid) =>
            {
                var t = Task(name, line);
                return tid ? SimKernel.TidIn(t, viewer) : SimKernel.PidIn(t, viewer);
            });

        // ---------------------------------------------------------------------------------------------------
        // Expectations and checks.

        private void Expect(ScenarioStatement st, SimTask actor, SysResult r, WaitInfo info, List<string> exp)
        {
            var problems = new List<string>();
            foreach (var tok in exp)
            {
                if (SplitKv(tok) is var (key, v))
                {
                    switch (key)
                    {
                        case "pid":
                            if (info.Pid != Num(v, actor, st.Line)) { problems.Add($"pid {info.Pid}, expected {v}"); }
                            break;
                        case "status":
                            if (info.Describe() != v) { problems.Add($"status {info.Describe()}, expected {v}"); }
                            break;
                        default: throw new ScenarioException(st.Line, $"unknown expectation '{key}' (pid=, status=)");
                    }
                    continue;
                }
                if (tok == "blocked")
                {
                    if (!r.Blocked) { problems.Add($"{r}, expected to block"); }
                }
                else if (tok == "ok")
                {
                    if (!r.Ok) { problems.Add($"{r}, expected success"); }
                }
                else if (tok.Length > 1 && tok[0] == 'E' && ErrnoInfo.TryParse(tok, out var errno))
                {
                    if (r.Errno != errno) { problems.Add($"{r}, expected {tok}"); }
                }
                else
                {
                    long want = Num(tok, actor, st.Line);
                    if (!r.Ok || r.Value != want) { problems.Add($"{r}, expected {tok} ({want})"); }
                }
            }
            Record(st, "expect " + string.Join(' ', exp), problems);
        }

        private void Record(ScenarioStatement st, string what, List<string> problems)
        {
            bool ok = problems.Count == 0;
            if (st.Kind == "check")
            {
                Outcome.CheckOk = ok;
                Outcome.CheckProblem = ok ? null : string.Join("; ", problems);
            }
            string text = ok ? $"  ok   {what}" : $"  FAIL {what}: {string.Join("; ", problems)}";
            res.Trace.Add(new TraceEntry(st.Line, "check", text, Ok: ok));
            if (ok)
            {
                res.ChecksPassed++;
            }
            else
            {
                res.Failures.Add($"line {st.Line}: {what}: {string.Join("; ", problems)}");
            }
        }

        private void Check(ScenarioStatement st)
        {
            var tk = st.Tokens;
            if (tk.Count < 2)
            {
                throw new ScenarioException(st.Line, "check SUBJECT PROPERTY [= VALUE]");
            }
            var problems = new List<string>();
            string what = string.Join(' ', tk);
            if (tk[0] == "file")
            {
                // check file PATH contains|= TEXT
                if (tk.Count != 4)
                {
                    throw new ScenarioException(st.Line, "check file PATH contains|= TEXT");
                }
                string content = k.FindFile(tk[1])?.Content.ToString() ?? "";
                bool ok = tk[2] == "contains" ? content.Contains(tk[3], StringComparison.Ordinal) : content == tk[3];
                if (!ok) { problems.Add($"content is \"{content.Replace("\n", "\\n", StringComparison.Ordinal)}\""); }
                Record(st, what, problems);
                return;
            }
            var t = Task(tk[0], st.Line);
            string prop = tk[1];
            bool negate = prop.StartsWith('!');
            if (negate)
            {
                prop = prop[1..];
            }
            string? Value(int i) => tk.Count > i ? tk[i] : null;
            string want = tk.Count >= 4 && tk[2] == "=" ? tk[3] : tk.Count >= 3 ? tk[2] : "";
            void Eq(long actual, string expected, SimTask viewer)
            {
                long e = Num(expected, viewer, st.Line);
                if ((actual == e) == negate) { problems.Add($"{prop} is {actual}, expected {(negate ? "not " : "")}{expected} ({e})"); }
            }
            switch (prop)
            {
                case "state":
                    string s = SimKernel.Describe(t);
                    if ((s == want) == negate) { problems.Add($"state is {s}"); }
                    break;
                case "pid": Eq(SimKernel.PidIn(t, t), want, t); break;
                case "tid": Eq(t.Pid.Nr, want, t); break;
                case "ppid": Eq(t.RealParent is { } rp ? SimKernel.PidIn(rp, t) : 0, want, t); break;
                case "pgid": Eq(t.Group.Pgrp.NrIn(t.Pid.Ns), want, t); break;
                case "sid": Eq(t.Group.Session.NrIn(t.Pid.Ns), want, t); break;
                case "exit_signal": Eq(t.ExitSignal, want, t); break;
                case "children": Eq(t.Children.Count, want, t); break;
                case "subreaper": Eq(t.Group.IsChildSubreaper ? 1 : 0, want, t); break;
                case "threads": Eq(t.Group.ThreadCount, want, t); break;
                case "uid": Eq(t.Cred.UserNs.FromKuid(t.Cred.Euid), want, t); break;
                case "tls": Eq((long)t.Tls, want, t); break;
                case "sp": Eq((long)t.StackPointer, want, t); break;
                case "umask": Eq(t.Fs.Umask, want, t); break;
                case "pdeathsig": Eq(t.PdeathSignal, want, t); break;
                case "disposition":
                {
                    // check T disposition SIG = default|ignore|handle
                    long sig = Num(tk[2], t, st.Line);
                    string v = tk.Count >= 5 && tk[3] == "=" ? tk[4] : throw new ScenarioException(st.Line, "check TASK disposition SIG = default|ignore|handle");
                    string actual = t.Sighand.Get((int)sig) switch { SignalAction.Ignore => "ignore", SignalAction.Handle => "handle", _ => "default" };
                    if ((actual == v) == negate) { problems.Add($"{Signals.Name(sig)} is {actual}"); }
                    break;
                }
                case "cwd":
                    if ((t.Fs.Cwd == want) == negate) { problems.Add($"cwd is {t.Fs.Cwd}"); }
                    break;
                case "root":
                    if ((t.Fs.Root == want) == negate) { problems.Add($"root is {t.Fs.Root}"); }
                    break;
                case "caps":
                    string caps = t.Cred.Caps == Capabilities.All ? "all" : t.Cred.Caps == 0 ? "none" : "some";
                    if ((caps == want) == negate) { problems.Add($"caps are {caps}"); }
                    break;
                case "parent":
                {
                    var p = Task(want, st.Line);
                    if ((t.RealParent == p) == negate) { problems.Add($"parent is {(t.RealParent is null ? "none" : NameOf(t.RealParent))}"); }
                    break;
                }
                case "received":
                {
                    long sig = Num(want, t, st.Line);
                    bool got = t.Group.Delivered?.Contains((int)sig) == true;
                    if (got == negate) { problems.Add($"{Signals.Name(sig)} was {(got ? "" : "not ")}delivered to a handler"); }
                    break;
                }
                case "mem":
                {
                    // check T mem ADDR = VALUE
                    ulong addr = (ulong)Num(tk[2], t, st.Line);
                    string v = tk.Count >= 5 && tk[3] == "=" ? tk[4] : throw new ScenarioException(st.Line, "check TASK mem ADDR = VALUE");
                    long actual = t.Mm.Read(addr);
                    long e = Num(v, t, st.Line);
                    if ((actual == e) == negate) { problems.Add($"memory at 0x{addr:x} holds {actual}{(t.Mm.IsWritten(addr) ? "" : " (never written)")}"); }
                    break;
                }
                case "fd":
                {
                    int fd = (int)Num(tk[2], t, st.Line);
                    string v = tk.Count >= 5 && tk[3] == "=" ? tk[4] : throw new ScenarioException(st.Line, "check TASK fd N = closed|open|pidfd|cloexec|PATH");
                    var f = t.Files.Get(fd);
                    bool ok = v switch
                    {
                        "closed" => f is null,
                        "open" => f is not null,
                        "pidfd" => f?.Kind == FileKind.Pidfd,
                        "cloexec" => f is not null && t.Files.IsCloexec(fd),
                        _ => f?.Path == v,
                    };
                    if (ok == negate) { problems.Add(f is null ? "fd is closed" : $"fd is {f.Path}{(t.Files.IsCloexec(fd) ? " (cloexec)" : "")}"); }
                    break;
                }
                case "shares":
                {
                    // check A shares RESOURCE B
                    string resource = Value(2) ?? throw new ScenarioException(st.Line, "check A shares RESOURCE B");
                    var other = Task(Value(3) ?? throw new ScenarioException(st.Line, "check A shares RESOURCE B"), st.Line);
                    bool same = Shares(t, other, resource, st.Line);
                    if (same == negate) { problems.Add($"{resource} is {(same ? "" : "not ")}shared"); }
                    break;
                }
                case "pidin":
                {
                    // check A pidin VIEWER = N: A's pid as VIEWER's namespace sees it.
                    var viewer = Task(tk[2], st.Line);
                    string v = tk.Count >= 5 && tk[3] == "=" ? tk[4] : throw new ScenarioException(st.Line, "check TASK pidin VIEWER = N");
                    Eq(SimKernel.PidIn(t, viewer), v, viewer);
                    break;
                }
                default:
                    throw new ScenarioException(st.Line, $"unknown property '{prop}' (state, pid, tid, ppid, pgid, sid, exit_signal, children, threads, subreaper, uid, tls, sp, umask, pdeathsig, disposition, cwd, root, caps, parent, received, mem, fd, shares, pidin)");
            }
            Record(st, what, problems);
        }

        private static bool Shares(SimTask a, SimTask b, string resource, int line)
        {
            if (resource.StartsWith("ns:", StringComparison.Ordinal))
            {
                string n = resource[3..];
                return (SimKernel.NamespaceOf(a, n) ?? throw new ScenarioException(line, $"unknown namespace '{n}'"))
                    == SimKernel.NamespaceOf(b, n);
            }
            return resource switch
            {
                "vm" or "mm" => a.Mm == b.Mm,
                "files" => a.Files == b.Files,
                "fs" => a.Fs == b.Fs,
                "sighand" => a.Sighand == b.Sighand,
                "sysvsem" => a.SemUndo is not null && a.SemUndo == b.SemUndo,
                "thread_group" => a.Group == b.Group,
                "creds" => a.Cred == b.Cred,
                "cgroup" => a.Cgroup == b.Cgroup,
                "nsproxy" => a.Ns == b.Ns,
                _ => throw new ScenarioException(line, $"unknown resource '{resource}' (vm, files, fs, sighand, sysvsem, thread_group, creds, cgroup, nsproxy, ns:TYPE)"),
            };
        }

        // ---------------------------------------------------------------------------------------------------
        // Inline programs: program PATH: step; step; ...

        private void DefineProgram(ScenarioStatement st)
        {
            string text = st.Tokens[0];
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new ScenarioException(st.Line, "program PATH: STEP; STEP; ...");
            }
            string path = text[..colon].Trim();
            var steps = text[(colon + 1)..].Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(s => Scenario.Tokenize(s, st.Line)).ToList();
            foreach (var s in steps)
            {
                if (s[0] is not ("sleep" or "exit" or "write" or "spawn" or "wait" or "waitall" or "ignore" or "handle" or "pause" or "kill" or "exec"))
                {
                    throw new ScenarioException(st.Line, $"unknown program step '{s[0]}' (sleep N, exit N, write FD TEXT, spawn PATH ARGS, wait, waitall, ignore SIG, handle SIG, pause, kill PID SIG, exec PATH ARGS)");
                }
            }
            int line = st.Line;
            k.Programs.Register(path, ctx => Interpret(ctx, steps, line));
            Note(st, $"program {path}: {steps.Count} step(s)");
        }

        private IEnumerable<ProgramStep> Interpret(ProgramContext c, List<List<string>> steps, int line)
        {
            long N(List<string> s, int i, long def = 0) => s.Count > i ? Num(s[i], c.Task, line) : def;
            foreach (var s in steps)
            {
                switch (s[0])
                {
                    case "sleep": yield return c.Sleep(N(s, 1)); break;
                    case "exit": yield return c.Exit((int)N(s, 1)); break;
                    case "write": c.Write((int)N(s, 1), s.Count > 2 ? string.Join(' ', s.Skip(2)) : ""); break;
                    case "spawn": c.Spawn(s[1], s.Skip(2).ToArray()); break;
                    case "exec": yield return c.Exec(s[1], s.Skip(2).ToArray()); break;
                    case "wait": yield return c.Wait((int)N(s, 1, -1), (int)N(s, 2, 0)); break;
                    case "waitall":
                        do
                        {
                            yield return c.Wait(-1, WaitConst.WAll);
                        }
                        while (c.LastResult.Ok);
                        break;
                    case "ignore": c.Ignore((int)N(s, 1)); break;
                    case "handle": c.Handle((int)N(s, 1), static (_, _) => { }); break;
                    case "kill": c.Kill((int)N(s, 1), (int)N(s, 2)); break;
                    case "pause": yield return c.Pause(); break;
                }
            }
        }
    }
}

/// <summary>The outcome of a scenario run: the trace, the checks, the machine as it was left.</summary>
public sealed class ScenarioResult
{
    internal ScenarioResult(SimKernel kernel)
    {
        Kernel = kernel;
        NamesMutable["init"] = kernel.Init;
    }

    /// <summary>The machine after the run.</summary>
    public SimKernel Kernel { get; }
    /// <summary>Tasks by the names the scenario gave them (<c>init</c> included).</summary>
    public IReadOnlyDictionary<string, SimTask> Names => NamesMutable;
    internal Dictionary<string, SimTask> NamesMutable { get; } = new(StringComparer.Ordinal);
    /// <summary>The trace, in order.</summary>
    public List<TraceEntry> Trace { get; } = [];
    /// <summary>Failed expectations and checks, with their lines.</summary>
    public List<string> Failures { get; } = [];
    /// <summary>Expectations and checks that held.</summary>
    public int ChecksPassed { get; internal set; }
    /// <summary>A scenario error that stopped the run (with its line), or null.</summary>
    public string? Error { get; internal set; }
    /// <summary>True when the run finished and every check held.</summary>
    public bool Passed => Error is null && Failures.Count == 0;

    /// <summary>A process exit code for a CLI: 0 when passed, 1 when a check failed, 2 on a scenario error.</summary>
    public int ExitCode => Error is not null ? 2 : Failures.Count > 0 ? 1 : 0;

    /// <summary>The trace, the check summary and the final process tree as text.</summary>
    public string ToText() => TreePrinter.Report(this);

    /// <summary>The same as JSON (trace, checks, processes with pids per namespace and shared-resource groups).</summary>
    public string ToJson() => TreePrinter.Json(this);
}
