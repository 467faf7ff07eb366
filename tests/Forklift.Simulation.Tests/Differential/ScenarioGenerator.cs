using System.Globalization;
using System.Text;
using Forklift.Abi;
using Forklift.Simulation.Scenarios;

namespace Forklift.Simulation.Tests.Differential;

/// <summary>
/// Generates valid, interesting scenarios for the differential test from a seed: nested clones with various flags
/// (CLONE_PARENT, new pid namespaces with and without set_tid, threads, CLONE_VM, vfork, pidfds, tid words),
/// custom exit signals and the waits that see them, exits in every order, orphans, subreapers, pid-namespace inits
/// dying, stops and continues, signals to zombies, pidfds of reaped children, sessions and groups, exec, fd calls,
/// and checks. Each statement is run on the model as it is generated: only tasks that can make a call are given
/// one, failed clones name nothing, and every check's value is the model's (so the scenario passes on the model and
/// a check fails only where Linux disagrees). Deterministic for a seed and an index.
/// </summary>
internal sealed class ScenarioGenerator(int seed)
{
    public int Seed { get; } = seed;

    private static readonly string[] Signals = ["SIGKILL", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT", "SIGCHLD", "0", "SIGTSTP", "SIGHUP"];

    /// <summary>Scenario number <paramref name="index"/> of this seed.</summary>
    public string Generate(int index)
    {
        // Not HashCode.Combine: it is salted per process, and a seed must replay in another run.
        var rng = new Random(unchecked(Seed * 1_000_003 + index * 7_919));
        var g = new One(rng);
        string text = g.Run(rng.Next(24, 44));
        Dropped += g.Dropped.Count;
        return text;
    }

    /// <summary>Statements left out so far because Linux's outcome would depend on scheduling.</summary>
    public int Dropped { get; private set; }

    private sealed class One(Random rng)
    {
        // As the scenario will run on Linux: its init is pid 1 of a namespace below the host's.
        private const string Settings = "kernel init=namespace\n";
        private ScenarioSession _sim = new(Scenario.Parse(Settings), null);
        private readonly StringBuilder _text = new(Settings);
        // The statements kept so far, to rebuild the model without a statement whose outcome races on Linux.
        private readonly List<ScenarioStatement> _kept = [];
        private readonly List<string> _names = ["init"];
        private readonly List<ulong> _addresses = [];
        private int _line;
        private int _nextName = 1;
        private int _nextAddress;
        private bool _done;

        public string Run(int statements)
        {
            for (int i = 0; i < statements && !_done; i++)
            {
                var actors = Callable();
                if (actors.Count == 0)
                {
                    break;
                }
                if (rng.Next(100) < 22)
                {
                    Emit(CheckStatement());
                    continue;
                }
                var actor = actors[rng.Next(actors.Count)];
                Emit(CallStatement(actor));
            }
            return _text.ToString();
        }

        private SimTask T(string name) => _sim.Result.Names[name];

        private List<string> Callable() =>
            _names.Where(n => SimKernel.Describe(T(n)) == "running").ToList();

        private List<string> Existing() =>
            _names.Where(n => SimKernel.Describe(T(n)) is not "reaped").ToList();

        private string Pick(List<string> from) => from[rng.Next(from.Count)];

        private bool Chance(int percent) => rng.Next(100) < percent;

        // Runs the statement on the model and keeps it; a clone that fails keeps its line without the name.
        private void Emit(string line)
        {
            if (line.Length == 0)
            {
                return;
            }
            var st = Scenario.Parse(line).Statements[0];
            st = st with { Line = _line + 2 };
            var before = Before.Take(_names.Select(T));
            try
            {
                _sim.Execute(st);
            }
            catch (ScenarioException e) when (e.Message.Contains("names nothing", StringComparison.Ordinal))
            {
                // A refused clone changes nothing: keep the call, without the name.
                line = line[..line.IndexOf(" ->", StringComparison.Ordinal)];
                _line++;
                _kept.Add(Scenario.Parse(line).Statements[0] with { Line = st.Line });
                _text.AppendLine(line);
                return;
            }
            catch (Exception e) when (e is ScenarioException or SimulationException)
            {
                // The model cannot go on from here (a generator slip): end the scenario before this statement.
                _done = true;
                return;
            }
            if (before.Races(_names.Select(T), SentSignal(st)) is { } why)
            {
                // Linux's answer would depend on which CPU runs first: the statement is dropped, and the model
                // is rebuilt as it was before it (it is deterministic, so replaying the kept statements does it).
                Dropped.Add(why);
                _sim = new ScenarioSession(Scenario.Parse(Settings), null);
                foreach (var k in _kept)
                {
                    _sim.Execute(k);
                }
                return;
            }
            _line++;
            _kept.Add(st);
            _text.AppendLine(line);
            var created = st.Tokens.SkipWhile(t => t != "->").Skip(1).FirstOrDefault();
            if (created is not null && _sim.Result.Names.ContainsKey(created))
            {
                _names.Add(created);
            }
        }

        // What a statement's outcome may not depend on: the state before it, to tell afterwards whether Linux
        // would have had a choice.
        private sealed class Before
        {
            private readonly Dictionary<SimTask, (bool Alive, bool Stopped, SimTask? Parent, bool AutoReaps, int Threads)> _tasks = [];
            private readonly List<(SimTask Waiter, HashSet<SimTask> Children)> _waiters = [];

            public static Before Take(IEnumerable<SimTask> tasks)
            {
                var b = new Before();
                foreach (var t in tasks)
                {
                    var sh = t.Sighand;
                    b._tasks[t] = (t.Alive, t.Group.StopStopped, t.RealParent,
                        t.Alive && (sh.Get(Forklift.Abi.Signals.SigChld) == SignalAction.Ignore || sh.NoCldWait), t.Group.Live);
                    if (t.Block is { Kind: BlockKind.Wait })
                    {
                        b._waiters.Add((t, t.Group.Threads.SelectMany(x => x.Children).ToHashSet()));
                    }
                }
                return b;
            }

            /// <summary>
            /// Why the statement just run (sending <paramref name="sent"/>, when it sends a signal) has an outcome
            /// Linux leaves to scheduling, or null.
            /// </summary>
            public string? Races(IEnumerable<SimTask> after, int sent)
            {
                var died = new List<SimTask>();
                var changed = new HashSet<SimTask>();
                foreach (var t in after)
                {
                    if (!_tasks.TryGetValue(t, out var b))
                    {
                        continue;
                    }
                    // A stop signal that waits for a vfork parent's release races with the signal its vfork
                    // child's exit sends: on Linux the woken parent may stop before that signal arrives, or after
                    // it has run its handler (wait_for_vfork_done, kernel/fork.c, sleeps TASK_KILLABLE).
                    if (t.State == TaskState.VforkWait && (SimKernel.PendingOf(t.Group) & SimKernel.StopMask) != 0)
                    {
                        return $"{t} waits for its vfork child with a stop signal pending";
                    }
                    if (!t.IsLeader)
                    {
                        continue;
                    }
                    if (b.Alive && !t.Alive)
                    {
                        died.Add(t);
                        changed.Add(t);
                    }
                    else if (t.Alive && b.Stopped != t.Group.StopStopped)
                    {
                        changed.Add(t);
                    }
                }
                // A pid namespace's init with several threads: the last of them to exit kills the namespace and
                // waits in zap_pid_ns_processes (find_child_reaper, kernel/exit.c), and which is last is up to
                // the CPUs.
                foreach (var c in died)
                {
                    if (c.Pid.NrIn(c.Pid.Ns) == 1 && _tasks[c].Threads >= 2)
                    {
                        return $"{c}, a pid namespace's init with {_tasks[c].Threads} threads, dies";
                    }
                }
                if (died.Count >= 2)
                {
                    // Processes killed by one call die on several CPUs at once: a parent that reaps its children
                    // itself (SIGCHLD ignored, SA_NOCLDWAIT) reaps a child that dies before it, and one that dies
                    // after it goes to the reaper (kernel/exit.c: do_notify_parent, forget_original_parent).
                    foreach (var c in died)
                    {
                        if (_tasks[c].Parent is { } p && died.Contains(p.Group.Leader) && _tasks.TryGetValue(p, out var pb)
                            && pb.AutoReaps && c.ExitSignal == Forklift.Abi.Signals.SigChld)
                        {
                            return $"{c} and its parent {p}, which reaps its children itself, die at once";
                        }
                    }
                    // A parent asleep in a wait reaps a child that dies before it (and returns, then dies), and
                    // leaves one that dies after it to the reaper.
                    foreach (var (w, children) in _waiters)
                    {
                        if (died.Contains(w.Group.Leader) && died.Any(children.Contains))
                        {
                            return $"{w} sleeps in a wait and dies with a child it waits for";
                        }
                    }
                    // A second fatal signal on the way (the SIGHUP of a process group the deaths orphan) kills
                    // whichever victim it reaches before the signal sent.
                    if (sent > 0 && died.Any(c => Status(c) is int st && (st & 0x7f) != 0 && (st & 0x7f) != sent && (st & 0x7f) != 9))
                    {
                        return "a process killed with the others died of another signal";
                    }
                }
                // A wait that sleeps completes with whichever of its children changed first, counting the
                // orphans the call reparented to it.
                foreach (var (w, children) in _waiters)
                {
                    int n = changed.Count(c => children.Contains(c) || c.RealParent?.Group == w.Group);
                    if (n >= 2)
                    {
                        return $"{w} sleeps in a wait and {n} of its children changed at once";
                    }
                }
                return null;
            }

            private static int Status(SimTask t) => t.Group.GroupExit ? t.Group.GroupExitCode : t.ExitCode;
        }

        /// <summary>Statements left out because Linux's outcome would race, and why.</summary>
        public List<string> Dropped { get; } = [];

        // The signal a kill-family statement sends (its last word), else 0.
        private static int SentSignal(ScenarioStatement st) =>
            st.Tokens.Count >= 3 && st.Tokens[0] is "kill" or "tgkill" or "pidfd_send_signal"
            && Forklift.Abi.Signals.TryParse(st.Tokens[^1], out int sig, out _) ? sig : 0;

        // A pid as the viewer sees it: $name when visible, else a number that is probably free.
        private string PidRef(string viewer, string target, bool tid = false)
        {
            int n = tid ? SimKernel.TidIn(T(target), T(viewer)) : SimKernel.PidIn(T(target), T(viewer));
            return n == 0 ? (rng.Next(2, 40)).ToString(CultureInfo.InvariantCulture) : "$" + target + (tid ? ".tid" : "");
        }

        private string Signal() => Signals[rng.Next(Signals.Length)];

        private string ExitSignal() => rng.Next(20) switch
        {
            < 12 => "SIGCHLD",
            12 or 13 => "0",
            14 or 15 => "SIGUSR1",
            16 => "SIGUSR2",
            17 => "34",
            18 => "SIGTERM",
            _ => "65",
        };

        private string Address()
        {
            ulong a = 0x7f0000010000UL + (ulong)(_nextAddress++ * 0x40);
            _addresses.Add(a);
            return "0x" + a.ToString("x", CultureInfo.InvariantCulture);
        }

        private string NewName() => "t" + (_nextName++).ToString(CultureInfo.InvariantCulture);

        private string CallStatement(string a)
        {
            var actor = T(a);
            bool canClone = _names.Count < 40 && Existing().Count < 16;
            int roll = rng.Next(100);
            if (canClone && roll < 30)
            {
                return Clone(a);
            }
            roll = rng.Next(100);
            var others = Existing();
            var children = actor.Children.Select(c => _sim.NameOf(c)).Where(n => n is not null).Select(n => n!).ToList();
            string target = Chance(60) && children.Count > 0 ? Pick(children) : Pick(_names);
            switch (roll)
            {
                case < 12:
                    if (actor.Group == _sim.Kernel.Init.Group)
                    {
                        return $"{a}: wait4 {(Ambiguous(actor) ? PidRef(a, target) : "-1")} WNOHANG|__WALL";
                    }
                    return Chance(70) ? $"{a}: exit {rng.Next(0, 5)}" : $"{a}: exit_group {rng.Next(0, 5)}";
                case < 26:
                {
                    string pid = rng.Next(6) switch { 0 => "-1", 1 => "0", 2 => "-" + PidRef(a, target), _ => PidRef(a, target) };
                    if (Ambiguous(actor))
                    {
                        pid = PidRef(a, target);
                    }
                    var opts = new List<string>();
                    if (Chance(65)) { opts.Add("WNOHANG"); }
                    if (Chance(25)) { opts.Add("__WALL"); }
                    else if (Chance(20)) { opts.Add("__WCLONE"); }
                    if (Chance(15)) { opts.Add("WUNTRACED"); }
                    if (Chance(10)) { opts.Add("WCONTINUED"); }
                    if (Chance(5)) { opts.Add("__WNOTHREAD"); }
                    return $"{a}: wait4 {pid} {(opts.Count == 0 ? "0" : string.Join('|', opts))}";
                }
                case < 34:
                {
                    string type = rng.Next(4) switch { 0 => "P_ALL 0", 1 => "P_PGID 0", 2 => $"P_PIDFD {rng.Next(3, 8)}", _ => $"P_PID {PidRef(a, target)}" };
                    if (Ambiguous(actor) && (type.StartsWith("P_ALL", StringComparison.Ordinal) || type.StartsWith("P_PGID", StringComparison.Ordinal)))
                    {
                        type = $"P_PID {PidRef(a, target)}";
                    }
                    var opts = new List<string> { "WEXITED" };
                    if (Chance(20)) { opts.Add("WSTOPPED"); }
                    if (Chance(15)) { opts.Add("WCONTINUED"); }
                    if (Chance(65)) { opts.Add("WNOHANG"); }
                    if (Chance(25)) { opts.Add("WNOWAIT"); }
                    if (Chance(20)) { opts.Add("__WALL"); }
                    return $"{a}: waitid {type} {string.Join('|', opts)}";
                }
                case < 48:
                {
                    if (Chance(4))
                    {
                        return $"{a}: kill -1 {(Chance(50) ? "SIGKILL" : "SIGTERM")}";
                    }
                    string pid = Chance(12) ? "-" + PidRef(a, target) : PidRef(a, Chance(80) ? Pick(others) : target);
                    return $"{a}: kill {pid} {Signal()}";
                }
                case < 51:
                {
                    string t = Pick(others);
                    return $"{a}: tgkill {PidRef(a, t)} {PidRef(a, t, tid: true)} {Signal()}";
                }
                case < 56:
                    return $"{a}: pidfd_open {PidRef(a, target)}{(Chance(20) ? " PIDFD_NONBLOCK" : "")}";
                case < 60:
                    return $"{a}: pidfd_send_signal {rng.Next(3, 8)} {Signal()}";
                case < 65:
                    return rng.Next(5) switch
                    {
                        0 => $"{a}: getpid",
                        1 => $"{a}: gettid",
                        2 => $"{a}: getppid",
                        3 => $"{a}: getpgid {(Chance(50) ? "0" : PidRef(a, target))}",
                        _ => $"{a}: getsid {(Chance(50) ? "0" : PidRef(a, target))}",
                    };
                case < 70:
                    return rng.Next(3) switch
                    {
                        0 => $"{a}: setsid",
                        1 => $"{a}: setpgid 0 0",
                        _ => $"{a}: setpgid {PidRef(a, target)} {(Chance(50) ? "0" : PidRef(a, Pick(others)))}",
                    };
                case < 76:
                    return rng.Next(4) switch
                    {
                        0 or 1 => $"{a}: prctl PR_SET_CHILD_SUBREAPER {(Chance(80) ? 1 : 0)}",
                        2 => $"{a}: prctl PR_SET_PDEATHSIG {(Chance(50) ? "SIGKILL" : Chance(50) ? "SIGUSR1" : "0")}",
                        _ => $"{a}: prctl PR_GET_PDEATHSIG",
                    };
                case < 83:
                {
                    string sig = rng.Next(4) switch { 0 or 1 => "SIGCHLD", 2 => "SIGUSR1", _ => Chance(50) ? "SIGUSR2" : "SIGTERM" };
                    string action = rng.Next(3) switch { 0 => "ignore", 1 => "handle", _ => "default" };
                    string flags = sig == "SIGCHLD" && Chance(30) ? (Chance(50) ? " SA_NOCLDWAIT" : " SA_NOCLDSTOP") : "";
                    return $"{a}: sigaction {sig} {action}{flags}";
                }
                case < 87:
                {
                    int r = rng.Next(10);
                    return r switch
                    {
                        < 6 => $"{a}: execve {ScenarioRunner.DrivenProgram}",
                        _ when actor.Group == _sim.Kernel.Init.Group => $"{a}: execve /no/such/program",
                        < 8 => $"{a}: execve /bin/exit {rng.Next(0, 4)}",
                        8 => $"{a}: execve /bin/pause",
                        _ => $"{a}: execve /no/such/program",
                    };
                }
                case < 92:
                    return rng.Next(4) switch
                    {
                        0 => $"{a}: open /dev/null{(Chance(50) ? " O_CLOEXEC" : "")}",
                        1 => $"{a}: close {rng.Next(3, 8)}",
                        2 => $"{a}: dup {rng.Next(0, 6)}",
                        _ => $"{a}: dup3 {rng.Next(0, 5)} {rng.Next(3, 9)} {(Chance(50) ? "O_CLOEXEC" : "0")}",
                    };
                case < 96:
                    return rng.Next(5) switch
                    {
                        3 => $"{a}: semop {rng.Next(0, 2)} 0 {(Chance(60) ? 1 : -1)}{(Chance(60) ? " SEM_UNDO" : "")}",
                        4 => Chance(40) ? $"{a}: semget 1" : $"{a}: semctl {rng.Next(0, 2)} 0 GETVAL",
                        0 => $"{a}: store {(_addresses.Count > 0 && Chance(60) ? "0x" + _addresses[rng.Next(_addresses.Count)].ToString("x", CultureInfo.InvariantCulture) : Address())} {rng.Next(1, 1000)}",
                        1 => $"{a}: chdir {(Chance(50) ? "/tmp" : "/")}",
                        _ => $"{a}: umask {(Chance(50) ? "0x3f" : "0x12")}",
                    };
                default:
                    if (actor.Pid.Level == 0 && actor.Ns.PidForChildren == actor.Pid.Ns && Chance(40))
                    {
                        return $"{a}: unshare NEWPID";
                    }
                    if (Chance(60))
                    {
                        string[] kinds = ["NEWNET", "NEWUTS", "NEWIPC", "NEWCGROUP", "NEWTIME", "NEWNS", "NEWUSER", "FILES", "FS", "SYSVSEM"];
                        return $"{a}: unshare {kinds[rng.Next(kinds.Length)]}";
                    }
                    return $"{a}: getppid";
            }
        }

        // Two or more children with something to report: which one a wait for "any" gets depends on the order
        // of the parent's children list, and when they died or stopped by the same call (a group kill, a
        // namespace's death) that order is the order in which they ran on Linux, which nobody controls.
        private static bool Ambiguous(SimTask actor)
        {
            int ready = 0;
            foreach (var th in actor.Group.Threads)
            {
                foreach (var c in th.Children)
                {
                    if (c.State == TaskState.Zombie || c.Group.StopStopped || c.Group.StopContinued)
                    {
                        ready++;
                    }
                }
            }
            return ready >= 2;
        }

        private string Clone(string a)
        {
            string name = NewName();
            int kind = rng.Next(100);
            if (kind < 22)
            {
                return $"{a}: fork -> {name}";
            }
            if (kind < 28)
            {
                return $"{a}: vfork -> {name}";
            }
            var flags = new List<string>();
            string extra = "";
            int shape = rng.Next(100);
            if (T(a).Group == _sim.Kernel.Init.Group && shape is >= 26 and < 38)
            {
                shape = 0; // no threads in init's process: its last thread leaving would end the model (a panic)
            }
            switch (shape)
            {
                case < 14: flags.Add("PARENT"); break;
                case < 26: flags.Add("NEWPID"); break;
                case < 38:
                    flags.AddRange(["VM", "SIGHAND", "THREAD"]);
                    if (Chance(60)) { flags.Add("FILES"); }
                    if (Chance(40)) { flags.Add("FS"); }
                    break;
                case < 44: flags.Add("VM"); if (Chance(50)) { flags.Add("VFORK"); } break;
                case < 48: flags.Add("VFORK"); break;
                case < 56: flags.Add("FILES"); break;
                case < 62: flags.Add("FS"); break;
                case < 68: flags.AddRange(["VM", "SIGHAND"]); break;
                case < 72:
                    flags.Add(rng.Next(7) switch { 0 => "NEWNS", 1 => "NEWUTS", 2 => "NEWIPC", 3 => "NEWNET", 4 => "NEWCGROUP", 5 => "NEWTIME", _ => "SYSVSEM" });
                    break;
                case < 76: flags.Add(rng.Next(4) switch { 0 => "THREAD", 1 => "SIGHAND", 2 => "NEWPID|THREAD|SIGHAND|VM", _ => "PARENT|NEWPID" }); break;
                case < 79: flags.Add("NEWUSER"); break;
                default: break;
            }
            if (Chance(25)) { flags.Add("PIDFD"); extra += $" pidfd={Address()}"; }
            if (Chance(12)) { flags.Add("PARENT_SETTID"); extra += $" parent_tid={Address()}"; }
            if (Chance(12)) { flags.Add("CHILD_SETTID"); extra += $" child_tid={Address()}"; }
            else if (Chance(10)) { flags.Add("CHILD_CLEARTID"); extra += $" child_tid={Address()}"; }
            if (Chance(8)) { flags.Add("SETTLS"); extra += " tls=0x7f0000200000"; }
            bool thread = flags.Contains("THREAD") || flags.Contains("PARENT");
            string sig = thread && Chance(85) ? "" : $" exit_signal={ExitSignal()}";
            string flagText = flags.Count == 0 ? "" : " flags=" + string.Join('|', flags);
            // CLONE_NEWTIME is bit 7 of legacy clone's exit signal byte: clone3 only.
            bool legacy = !flags.Contains("NEWTIME") && (Chance(20) && !flags.Contains("PIDFD") || (flags.Contains("PIDFD") && Chance(10)));
            if (legacy)
            {
                // Legacy clone: CLONE_PIDFD stores at parent_tid, so it cannot go with PARENT_SETTID (EINVAL).
                string lsig = $" exit_signal={(thread ? "0" : ExitSignal())}";
                var words = extra.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => w.Replace("pidfd=", "parent_tid=", StringComparison.Ordinal));
                var once = words.GroupBy(w => w[..w.IndexOf('=', StringComparison.Ordinal)]).Select(x => x.First());
                return $"{a}: clone{flagText}{string.Concat(once.Select(w => " " + w))}{lsig} -> {name}";
            }
            if (Chance(12))
            {
                // set_tid: as many levels as the child will have at most (a longer array would reach the host's
                // namespaces on Linux).
                var actor = T(a);
                int levels = actor.Ns.PidForChildren.Level + 1 + (flags.Contains("NEWPID") ? 1 : 0);
                int n = rng.Next(1, levels + 1);
                var ids = Enumerable.Range(0, n).Select(i => i == 0 && flags.Contains("NEWPID") ? 1 : rng.Next(2, 30));
                extra += " set_tid=" + string.Join(',', ids);
            }
            return $"{a}: clone3{flagText}{extra}{sig} -> {name}";
        }

        // The names of /proc/PID/ns/* (namespaces(7)).
        private static readonly string[] NamespaceNames =
            ["mnt", "uts", "ipc", "net", "cgroup", "time", "user", "pid", "pid_for_children", "time_for_children"];

        // A check whose value is what the model says now.
        private string CheckStatement()
        {
            var existing = Existing();
            string n = Pick(existing);
            var t = T(n);
            string state = SimKernel.Describe(t);
            bool running = state == "running";
            int pick = rng.Next(running ? 12 : 5);
            string S(long v) => v.ToString(CultureInfo.InvariantCulture);
            switch (pick)
            {
                case 0: return $"check {n} state = {state}";
                case 1: return t.RealParent is { } rp && _sim.NameOf(rp) is { } pn ? $"check {n} parent {pn}" : $"check {n} ppid = 0";
                case 2: return $"check {n} pgid = {S(t.Group.Pgrp.NrIn(t.Pid.Ns))}";
                case 3: return $"check {n} exit_signal = {S(t.ExitSignal)}";
                case 4:
                {
                    string v = Pick(_names);
                    return $"check {n} pidin {v} = {S(SimKernel.PidIn(t, T(v)))}";
                }
                case 5: return $"check {n} threads = {S(t.Group.ThreadCount)}";
                case 6: return $"check {n} children = {S(t.Children.Count)}";
                case 7: return $"check {n} subreaper = {S(t.Group.IsChildSubreaper ? 1 : 0)}";
                case 8:
                {
                    if (_addresses.Count == 0)
                    {
                        return $"check {n} umask = {S(t.Fs.Umask)}";
                    }
                    ulong addr = _addresses[rng.Next(_addresses.Count)];
                    return $"check {n} mem 0x{addr:x} = {S(t.Mm.Read(addr))}";
                }
                case 9:
                {
                    int fd = rng.Next(0, 8);
                    return $"check {n} fd {fd} = {(t.Files.Get(fd) is null ? "closed" : t.Files.IsCloexec(fd) ? "cloexec" : "open")}";
                }
                case 10:
                {
                    var others = existing.Where(x => SimKernel.Describe(T(x)) == "running" && x != n).ToList();
                    if (others.Count == 0)
                    {
                        return $"check {n} cwd = {t.Fs.Cwd}";
                    }
                    string o = Pick(others);
                    string res = rng.Next(8) switch
                    {
                        0 => "vm",
                        1 => "files",
                        2 => "fs",
                        3 => "sighand",
                        4 => "thread_group",
                        _ => "ns:" + NamespaceNames[rng.Next(NamespaceNames.Length)],
                    };
                    bool same = res switch
                    {
                        "vm" => t.Mm == T(o).Mm,
                        "files" => t.Files == T(o).Files,
                        "fs" => t.Fs == T(o).Fs,
                        "sighand" => t.Sighand == T(o).Sighand,
                        "thread_group" => t.Group == T(o).Group,
                        _ => SimKernel.NamespaceOf(t, res[3..]) == SimKernel.NamespaceOf(T(o), res[3..]),
                    };
                    return $"check {n} {(same ? "" : "!")}shares {res} {o}";
                }
                default:
                {
                    string sig = Chance(50) ? "SIGCHLD" : "SIGUSR1";
                    string d = t.Sighand.Get(sig == "SIGCHLD" ? 17 : 10) switch { SignalAction.Ignore => "ignore", SignalAction.Handle => "handle", _ => "default" };
                    return Chance(50) ? $"check {n} disposition {sig} = {d}" : $"check {n} cwd = {t.Fs.Cwd}";
                }
            }
        }
    }
}
