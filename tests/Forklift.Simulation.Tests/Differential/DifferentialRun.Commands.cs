using System.Globalization;
using Forklift.Abi;
using Forklift.Simulation.Scenarios;

namespace Forklift.Simulation.Tests.Differential;

// Scenario calls as agent commands, and scenario checks evaluated on the real kernel.
internal sealed partial class DifferentialRun
{
    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "fork", "vfork", "clone", "clone3", "execve", "exit", "exit_group", "wait4", "waitid", "kill", "tgkill",
        "pidfd_send_signal", "pidfd_open", "getpid", "gettid", "getppid", "getpgid", "getsid", "setsid", "setpgid",
        "unshare", "setns", "prctl", "open", "close", "dup", "dup2", "dup3", "fcntl", "sigaction", "umask", "chdir",
        "store", "semget", "semop", "semctl",
    };

    // Why a call has no real twin here (null when it has one).
    private string? Unsupported(ScenarioStatement st)
    {
        var (call, args, _) = SplitCall(st);
        if (!Supported.Contains(call))
        {
            return $"'{call}' is not made by the agent";
        }
        var kv = args.Select(ScenarioRunner.Runner.SplitKv).Where(x => x is not null).ToDictionary(x => x!.Value.Key, x => x!.Value.Value, StringComparer.Ordinal);
        if (call == "clone3" && (kv.ContainsKey("raw") || kv.ContainsKey("bytes") || kv.ContainsKey("cgroup")))
        {
            return "clone3 from raw bytes or into a cgroup is not made by the agent";
        }
        if (call == "open" && !(args[0] == "/dev/null" || args[0].StartsWith("/proc/", StringComparison.Ordinal)))
        {
            return "the agent opens only /dev/null and /proc files (the model's file system is flat)";
        }
        if (call == "execve" && ExecMode(args[0]) < 0)
        {
            return $"the agent cannot run the model's program {args[0]}";
        }
        if (!_realTasks.ContainsKey(st.Actor!))
        {
            return $"no task named '{st.Actor}' on the real kernel";
        }
        return null;
    }

    // execve on the real kernel: the agent itself (0), an agent that exits at once (1) or pauses (2), or a path
    // that does not exist (3, for the model's ENOENT); -1 for a program of the model's the agent cannot be.
    private int ExecMode(string path) => path switch
    {
        ScenarioRunner.DrivenProgram => 0,
        "/bin/true" or "/bin/false" or "/bin/exit" => 1,
        "/bin/pause" => 2,
        _ when _sim.Kernel.Programs.TryGet(path, out _) => -1,
        _ => 3,
    };

    private AgentCommand Command(ScenarioStatement st, string call, string[] a, RealTask actor, RealTask? child)
    {
        var kv = a.Select(ScenarioRunner.Runner.SplitKv).Where(x => x is not null).ToDictionary(x => x!.Value.Key, x => x!.Value.Value, StringComparer.Ordinal);
        var pos = a.Where(x => ScenarioRunner.Runner.SplitKv(x) is null).ToArray();
        long N(string tok) => ScenarioValues.Parse(tok, st.Line, (name, tid) =>
        {
            var t = _realTasks.GetValueOrDefault(name) ?? throw new ScenarioException(st.Line, $"no task named '{name}'");
            return tid ? RealMachine.TidIn(t, actor) : RealMachine.PidIn(t, actor);
        });
        long P(int i, long def = long.MinValue) =>
            i < pos.Length ? N(pos[i]) : def != long.MinValue ? def : throw new ScenarioException(st.Line, $"{call}: missing argument {i + 1}");
        long K(string key) => kv.TryGetValue(key, out var v) ? N(v) : 0;
        long Flags(string text) => (long)(CloneFlagNames.TryParse(text, out var f, out var err) ? f : throw new ScenarioException(st.Line, err!));
        long idx = child?.Index ?? 0;
        switch (call)
        {
            case "fork": return new AgentCommand(AgentOp.Fork, idx);
            case "vfork": return new AgentCommand(AgentOp.Vfork, idx);
            case "clone":
            {
                // The scenario's stack is the model's: the agent gives a CLONE_VM child a stack of its own.
                long flags = Flags(kv.GetValueOrDefault("flags") ?? (pos.Length > 0 ? pos[0] : "0"));
                long sig = kv.TryGetValue("exit_signal", out var es) ? N(es) : pos.Length > 1 ? N(pos[1]) : 0;
                return new AgentCommand(AgentOp.Clone, idx, flags | (sig & 0xff), K("parent_tid"), K("child_tid"), K("tls"));
            }
            case "clone3":
            {
                var setTid = kv.TryGetValue("set_tid", out var list) ? list.Split(',').Select(x => (int)N(x)).ToArray() : [];
                long setTidPtr = setTid.Length > 0 ? (kv.ContainsKey("set_tid_ptr") ? K("set_tid_ptr") : (long)UserPointer.Valid(UserPointer.SetTidField)) : 0;
                long setTidSize = kv.ContainsKey("set_tid_size") ? K("set_tid_size") : setTid.Length;
                long size = kv.ContainsKey("size") ? K("size") : Clone3Struct.SizeVer2;
                return new AgentCommand(AgentOp.Clone3, idx, Flags(kv.GetValueOrDefault("flags") ?? "0"), K("exit_signal"),
                    K("pidfd"), K("child_tid"), K("parent_tid"), K("tls"), setTidPtr, setTidSize, size).WithInts(setTid);
            }
            case "execve":
            {
                int mode = ExecMode(pos[0]);
                long code = pos[0] switch { "/bin/false" => 1, "/bin/exit" => pos.Length > 1 ? N(pos[1]) : 0, _ => 0 };
                var c = new AgentCommand(AgentOp.Execve, mode, code);
                return mode == 3 ? c.WithText("/nonexistent-forklift" + pos[0]) : c;
            }
            case "exit": return new AgentCommand(AgentOp.Exit, P(0, 0));
            case "exit_group": return new AgentCommand(AgentOp.ExitGroup, P(0, 0));
            case "wait4": return new AgentCommand(AgentOp.Wait4, P(0, -1), P(1, 0));
            case "waitid": return new AgentCommand(AgentOp.Waitid, P(0), P(1), P(2, WaitConst.WExited));
            case "kill": return new AgentCommand(AgentOp.Kill, P(0), P(1));
            case "tgkill": return new AgentCommand(AgentOp.Tgkill, P(0), P(1), P(2));
            case "pidfd_send_signal": return new AgentCommand(AgentOp.PidfdSendSignal, P(0), P(1), P(2, 0));
            case "pidfd_open": return new AgentCommand(AgentOp.PidfdOpen, P(0), P(1, 0));
            case "getpid": return new AgentCommand(AgentOp.Getpid);
            case "gettid": return new AgentCommand(AgentOp.Gettid);
            case "getppid": return new AgentCommand(AgentOp.Getppid);
            case "getpgid": return new AgentCommand(AgentOp.Getpgid, P(0, 0));
            case "getsid": return new AgentCommand(AgentOp.Getsid, P(0, 0));
            case "setsid": return new AgentCommand(AgentOp.Setsid);
            case "setpgid": return new AgentCommand(AgentOp.Setpgid, P(0, 0), P(1, 0));
            case "unshare": return new AgentCommand(AgentOp.Unshare, Flags(pos[0]));
            case "setns": return new AgentCommand(AgentOp.Setns, P(0), pos.Length > 1 ? Flags(pos[1]) : 0);
            case "prctl": return new AgentCommand(AgentOp.Prctl, P(0), P(1, 0));
            case "open": return new AgentCommand(AgentOp.Open, 0, P(1, 0)).WithText(pos[0]);
            case "close": return new AgentCommand(AgentOp.Close, P(0));
            case "dup": return new AgentCommand(AgentOp.Dup, P(0));
            case "dup2": return new AgentCommand(AgentOp.Dup2, P(0), P(1));
            case "dup3": return new AgentCommand(AgentOp.Dup3, P(0), P(1), P(2, 0));
            case "fcntl": return new AgentCommand(AgentOp.Fcntl, P(0), P(1), P(2, 0));
            case "sigaction":
            {
                long action = pos[1] switch
                {
                    "default" or "SIG_DFL" => 0,
                    "ignore" or "SIG_IGN" => 1,
                    "handle" => 2,
                    var x => throw new ScenarioException(st.Line, $"sigaction SIG default|ignore|handle, not '{x}'"),
                };
                string fl = pos.Length > 2 ? pos[2] : "";
                long saFlags = (fl.Contains("SA_NOCLDSTOP", StringComparison.Ordinal) ? 1 : 0) | (fl.Contains("SA_NOCLDWAIT", StringComparison.Ordinal) ? 2 : 0);
                return new AgentCommand(AgentOp.Sigaction, P(0), action, saFlags);
            }
            case "umask": return new AgentCommand(AgentOp.Umask, P(0));
            case "chdir": return new AgentCommand(AgentOp.Chdir).WithText(pos[0]);
            case "store": return new AgentCommand(AgentOp.Store, P(0), P(1));
            case "semget": return new AgentCommand(AgentOp.Semget, P(0, 1));
            case "semop": return new AgentCommand(AgentOp.Semop, P(0), P(1), P(2), pos.Length > 3 && pos[3] == "SEM_UNDO" ? 0x1000 : 0);
            case "semctl": return new AgentCommand(AgentOp.SemctlGetval, P(0), P(1));
            default: throw new ScenarioException(st.Line, $"'{call}' is not made by the agent");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Checks.

    private void Check(ScenarioStatement st, StatementOutcome o)
    {
        var (ok, observed) = RealCheck(st);
        string model = o.CheckOk == true ? "holds" : $"fails ({o.CheckProblem})";
        if (ok is null)
        {
            _rows.Add((st.Line, st.Text, model, $"(not observable on Linux: {observed})", false));
            return;
        }
        _checks++;
        string linux = ok.Value ? "holds" : $"fails ({observed})";
        bool differ = ok.Value != (o.CheckOk == true);
        _rows.Add((st.Line, st.Text, model, linux, differ));
        if (differ)
        {
            _problem.AppendLine(CultureInfo.InvariantCulture, $"line {st.Line}: check {string.Join(' ', st.Tokens)}: the model {model}, on Linux it {linux}");
        }
    }

    // The check on the real kernel: (holds, what was seen), or (null, why not) when Linux cannot be asked.
    private (bool? Ok, string Observed) RealCheck(ScenarioStatement st)
    {
        var tk = st.Tokens;
        if (tk[0] == "file")
        {
            return (null, "the model's files are not real files");
        }
        if (!_realTasks.TryGetValue(tk[0], out var t) || !t.Helloed)
        {
            return (null, $"no task {tk[0]}");
        }
        string prop = tk[1];
        bool negate = prop.StartsWith('!');
        if (negate)
        {
            prop = prop[1..];
        }
        string want = tk.Count >= 4 && tk[2] == "=" ? tk[3] : tk.Count >= 3 ? tk[2] : "";
        long Num(string tok, RealTask viewer) => ScenarioValues.Parse(tok, st.Line, (name, tid) =>
        {
            var x = _realTasks.GetValueOrDefault(name) ?? throw new ScenarioException(st.Line, $"no task named '{name}'");
            return tid ? RealMachine.TidIn(x, viewer) : RealMachine.PidIn(x, viewer);
        });
        (bool?, string) Eq(long actual, string expected, RealTask viewer) => ((actual == Num(expected, viewer)) != negate, actual.ToString(CultureInfo.InvariantCulture));
        (bool?, string) Word(string actual, string expected) => ((actual == expected) != negate, actual);
        var s = t.Gone || t.HostTid == 0 ? null : ProcStatus.Read(t.HostTid);
        string state = StateWord(t, s);
        if (prop == "state")
        {
            return Word(state, want);
        }
        if (s is null)
        {
            return (null, $"{t.Name} is reaped");
        }
        bool live = state is not ("zombie" or "reaped" or "exiting" or "releasing");
        bool ask = live && t.Idle && state == "running";
        switch (prop)
        {
            case "pid": return Eq(RealMachine.PidIn(t, t), want, t);
            case "tid": return Eq(RealMachine.TidIn(t, t), want, t);
            case "ppid": return Eq(ParentOf(s) is { } pp ? RealMachine.PidIn(pp, t) : 0, want, t);
            case "pgid": return Eq(Last(s.NsPgid), want, t);
            case "sid": return Eq(Last(s.NsSid), want, t);
            case "exit_signal": return Eq(s.ExitSignal, want, t);
            case "threads": return Eq(s.Threads, want, t);
            case "children":
            {
                string text = File.ReadAllText($"/proc/{t.HostTid}/task/{t.HostTid}/children");
                return Eq(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, want, t);
            }
            case "parent":
            {
                var p = ParentOf(s);
                var wantTask = _realTasks.GetValueOrDefault(want);
                bool same = p is not null && wantTask is not null && p.HostTgid == wantTask.HostTgid;
                return (same != negate, p?.Name ?? "none");
            }
            case "pidin":
            {
                var viewer = _realTasks.GetValueOrDefault(tk[2]) ?? throw new ScenarioException(st.Line, $"no task named '{tk[2]}'");
                return Eq(RealMachine.PidIn(t, viewer), tk[4], viewer);
            }
            case "umask":
                return Eq(ask ? Observe(t, AgentObservation.Umask, 0).Ret : s.Umask, want, t);
            case "subreaper":
                return ask ? Eq(Observe(t, AgentObservation.Subreaper, 0).Ret, want, t) : (null, "the agent is not idle");
            case "pdeathsig":
                return ask ? Eq(Observe(t, AgentObservation.Pdeathsig, 0).Ret, want, t) : (null, "the agent is not idle");
            case "received":
                return ask ? ((Observe(t, AgentObservation.Received, Num(want, t)).Ret == 1) != negate, "handler bits") : (null, "the agent is not idle");
            case "disposition":
            {
                long sig = Num(tk[2], t);
                string actual;
                if (ask)
                {
                    actual = Observe(t, AgentObservation.Disposition, sig).Ret switch { 1 => "ignore", 2 => "handle", _ => "default" };
                }
                else
                {
                    ulong bit = 1UL << (int)(sig - 1);
                    actual = (s.SigIgn & bit) != 0 ? "ignore" : (s.SigCgt & bit) != 0 ? "handle" : "default";
                }
                return Word(actual, tk[4]);
            }
            case "cwd":
                return Word(ask ? Observe(t, AgentObservation.Cwd, 0).Text : new FileInfo($"/proc/{t.HostTid}/cwd").LinkTarget ?? "?", want);
            case "mem":
            {
                long addr = Num(tk[2], t);
                long value;
                if (ask)
                {
                    value = Observe(t, AgentObservation.Mem, addr).Ret;
                }
                else
                {
                    using var h = File.OpenHandle($"/proc/{t.HostTid}/mem");
                    var buf = new byte[4];
                    RandomAccess.Read(h, buf, addr);
                    value = BitConverter.ToInt32(buf);
                }
                return ((value == Num(tk[4], t)) != negate, value.ToString(CultureInfo.InvariantCulture));
            }
            case "fd":
            {
                int fd = (int)Num(tk[2], t);
                string v = tk[4];
                long flags;
                string target;
                if (ask)
                {
                    var m = Observe(t, AgentObservation.Fd, fd);
                    flags = m.Ret;
                    target = m.Text;
                }
                else
                {
                    target = new FileInfo($"/proc/{t.HostTid}/fd/{fd}").LinkTarget ?? "";
                    flags = target.Length == 0 ? -9 : (FdInfoFlags(t.HostTid, fd) & 0x80000) != 0 ? 1 : 0;
                }
                string seen = flags < 0 ? "closed" : $"{target}{(flags == 1 ? " (cloexec)" : "")}";
                bool ok = v switch
                {
                    "closed" => flags < 0,
                    "open" => flags >= 0,
                    "pidfd" => flags >= 0 && target == "anon_inode:[pidfd]",
                    "cloexec" => flags == 1,
                    _ => flags >= 0 && target == v,
                };
                return (ok != negate, seen);
            }
            case "shares":
            {
                var other = _realTasks.GetValueOrDefault(tk[3]);
                if (other is null || other.Gone || other.HostTid == 0 || ProcStatus.Read(other.HostTid) is null)
                {
                    return (null, $"{tk[3]} is gone");
                }
                bool? same = Shares(t, other, tk[2]);
                return same is null ? (null, $"sharing of {tk[2]} is not compared") : (same.Value != negate, same.Value ? "shared" : "not shared");
            }
            default:
                return (null, $"'{prop}' is not read from Linux");
        }
    }

    private static long FdInfoFlags(int hostTid, int fd)
    {
        foreach (var line in File.ReadLines($"/proc/{hostTid}/fdinfo/{fd}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return Convert.ToInt64(line[6..].Trim(), 8);
            }
        }
        return 0;
    }

    // kcmp(2) for the shared kernel objects; the namespace links for namespaces.
    private static bool? Shares(RealTask a, RealTask b, string resource)
    {
        int type = resource switch { "vm" or "mm" => 1, "files" => 2, "fs" => 3, "sighand" => 4, _ => -1 };
        if (type >= 0)
        {
            long r = RealMachine.Kcmp(a.HostTid, b.HostTid, type);
            return r < 0 ? null : r == 0;
        }
        if (resource == "thread_group")
        {
            return a.HostTgid == b.HostTgid;
        }
        if (resource.StartsWith("ns:", StringComparison.Ordinal))
        {
            string n = resource[3..];
            string Link(RealTask t) => new FileInfo($"/proc/{t.HostTid}/ns/{n}").LinkTarget ?? "?";
            return Link(a) == Link(b);
        }
        // sysvsem: kcmp cannot tell "both have no undo list" from "one shared list"; creds, cgroups and nsproxy
        // have no kcmp type.
        return null;
    }

    private AgentMessage Observe(RealTask t, AgentObservation what, long arg)
    {
        _real.Send(t, new AgentCommand(AgentOp.Observe, (long)what, arg));
        if (!_real.WaitUntil(() => t.Inbox.Count > 0, RealMachine.Patience))
        {
            throw new InvalidOperationException($"{t.Name}: no answer to an observation");
        }
        return t.Inbox.Dequeue();
    }
}
