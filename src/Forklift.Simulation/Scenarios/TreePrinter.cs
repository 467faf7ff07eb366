using System.Globalization;
using System.Text;
using System.Text.Json;
using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Simulation.Scenarios;

/// <summary>
/// Prints a machine's process tree as text and JSON: per process its name, pids per namespace level, parent,
/// state, exit signal, process group, session, threads, and which resources it shares with others (numbered
/// groups: two processes with the same <c>mm#2</c> share one address space).
/// </summary>
public static partial class TreePrinter
{
    private sealed class Groups
    {
        private readonly Dictionary<object, int> _ids = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<string, int> _next = new(StringComparer.Ordinal);

        public int Id(string kind, object o)
        {
            if (!_ids.TryGetValue(o, out int id))
            {
                id = _next.GetValueOrDefault(kind) + 1;
                _next[kind] = id;
                _ids[o] = id;
            }
            return id;
        }
    }

    private static readonly string[] NsNames = ["user", "mnt", "uts", "ipc", "pid", "cgroup", "net", "time"];

    // The first name (in ordinal order) given to each task.
    private static Dictionary<SimTask, string> ByTask(IReadOnlyDictionary<string, SimTask> names)
    {
        var d = new Dictionary<SimTask, string>();
        foreach (var kv in names.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            d.TryAdd(kv.Value, kv.Key);
        }
        return d;
    }

    private static IEnumerable<(SimTask Task, int Depth)> Walk(SimKernel k)
    {
        var seen = new HashSet<SimTask>();
        var stack = new Stack<(SimTask, int)>();
        // Roots: processes whose real parent is gone or outside (only init normally), in pid order.
        var all = k.Processes();
        var present = new HashSet<SimTask>(all);
        for (int i = all.Count - 1; i >= 0; i--)
        {
            var p = all[i];
            if (p.RealParent is null || p.RealParent.State == TaskState.Reaped || !present.Contains(p.RealParent.Group.Leader))
            {
                stack.Push((p, 0));
            }
        }
        while (stack.TryPop(out var e))
        {
            var (t, d) = e;
            if (!seen.Add(t))
            {
                continue;
            }
            yield return (t, d);
            // Children of every thread of the process, in list order.
            var kids = new List<SimTask>();
            foreach (var th in t.Group.Threads)
            {
                kids.AddRange(th.Children);
            }
            for (int i = kids.Count - 1; i >= 0; i--)
            {
                stack.Push((kids[i], d + 1));
            }
        }
    }

    private static string Pids(SimPid p)
    {
        var sb = new StringBuilder("[");
        for (int l = 0; l <= p.Level; l++)
        {
            sb.Append(l == 0 ? "" : ",").Append(p.NrAtLevel(l).ToString(CultureInfo.InvariantCulture));
        }
        return sb.Append(']').ToString();
    }

    private static SimNamespace NsOf(SimTask t, int i) => i switch
    {
        0 => t.Cred.UserNs,
        4 => t.Pid.Ns,
        _ => t.Ns.Get((NamespaceType)i),
    };

    /// <summary>The tree as aligned text lines.</summary>
    public static string Text(SimKernel k, IReadOnlyDictionary<string, SimTask> names)
    {
        var g = new Groups();
        var byTask = ByTask(names);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{"PID",-7} {"NAME",-10} {"STATE",-8} {"PPID",5} {"PIDS",-12} {"EXIT",-8} {"PGID",5} {"SID",5}  RESOURCES\n");
        foreach (var (t, depth) in Walk(k))
        {
            Line(sb, t, depth, byTask, g, thread: false);
            foreach (var th in t.Group.Threads)
            {
                if (th != t)
                {
                    Line(sb, th, depth + 1, byTask, g, thread: true);
                }
            }
        }
        return sb.ToString();
    }

    private static void Line(StringBuilder sb, SimTask t, int depth, Dictionary<SimTask, string> names, Groups g, bool thread)
    {
        string pid = new string(' ', depth * 2) + (thread ? "{" + SimKernel.Label(t) + "}" : SimKernel.Label(t));
        string name = names.GetValueOrDefault(t) ?? "-";
        int ppid = t.RealParent is { } rp ? rp.Group.Leader.Pid.NrAtLevel(0) : 0;
        string exit = t.ExitSignal < 0 ? "-" : t.ExitSignal == 0 ? "0" : Signals.Name(t.ExitSignal);
        var res = new StringBuilder();
        res.Append(CultureInfo.InvariantCulture, $"mm#{g.Id("mm", t.Mm)} files#{g.Id("files", t.Files)} fs#{g.Id("fs", t.Fs)} sighand#{g.Id("sighand", t.Sighand)}");
        if (t.SemUndo is not null)
        {
            res.Append(CultureInfo.InvariantCulture, $" sysvsem#{g.Id("sysvsem", t.SemUndo)}");
        }
        res.Append(" ns:");
        for (int i = 0; i < NsNames.Length; i++)
        {
            res.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "" : ",")}{NsNames[i]}#{g.Id(NsNames[i], NsOf(t, i))}");
        }
        if (t.Ns.PidForChildren != t.Pid.Ns)
        {
            res.Append(CultureInfo.InvariantCulture, $" pid_for_children#{g.Id("pid", t.Ns.PidForChildren)}");
        }
        res.Append(CultureInfo.InvariantCulture, $" cgroup:{t.Cgroup.Path}");
        if (t.Group.IsChildSubreaper)
        {
            res.Append(" subreaper");
        }
        sb.Append(CultureInfo.InvariantCulture,
            $"{pid,-7} {name,-10} {SimKernel.Describe(t),-8} {ppid,5} {Pids(t.Pid),-12} {exit,-8} {t.Group.Pgrp.NrAtLevel(0),5} {t.Group.Session.NrAtLevel(0),5}  {res}\n");
    }

    /// <summary>The trace, the checks and the final tree, as a CLI prints them.</summary>
    public static string Report(ScenarioResult r)
    {
        var sb = new StringBuilder();
        foreach (var e in r.Trace)
        {
            sb.Append(e.Kind == "event" ? "    . " : e.Kind == "completion" ? "    > " : "").Append(e.Text).Append('\n');
        }
        if (r.Error is not null)
        {
            sb.Append("ERROR ").Append(r.Error).Append('\n');
        }
        sb.Append(CultureInfo.InvariantCulture, $"\nchecks: {r.ChecksPassed} passed, {r.Failures.Count} failed; t={r.Kernel.Now}\n");
        foreach (var f in r.Failures)
        {
            sb.Append("  FAIL ").Append(f).Append('\n');
        }
        sb.Append('\n').Append(Text(r.Kernel, r.Names));
        var reaped = Reaped(r);
        if (reaped.Count > 0)
        {
            sb.Append("reaped: ").Append(string.Join(", ", reaped.Select(x => $"{x.Name}({x.Pid})"))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The run as JSON.</summary>
    public static string Json(ScenarioResult r)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("time", r.Kernel.Now);
            w.WriteBoolean("passed", r.Passed);
            if (r.Error is not null)
            {
                w.WriteString("error", r.Error);
            }
            w.WriteStartArray("trace");
            foreach (var e in r.Trace)
            {
                w.WriteStartObject();
                w.WriteNumber("line", e.Line);
                w.WriteString("kind", e.Kind);
                w.WriteString("text", e.Text);
                if (e.Task is not null) { w.WriteString("task", e.Task); }
                if (e.Call is not null) { w.WriteString("call", e.Call); }
                if (e.Value is not null) { w.WriteNumber("value", e.Value.Value); }
                if (e.Errno is not null) { w.WriteString("errno", e.Errno); }
                if (e.Detail is not null) { w.WriteString("detail", e.Detail); }
                if (e.Ok is not null) { w.WriteBoolean("ok", e.Ok.Value); }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("checks");
            w.WriteNumber("passed", r.ChecksPassed);
            w.WriteStartArray("failed");
            foreach (var f in r.Failures)
            {
                w.WriteStringValue(f);
            }
            w.WriteEndArray();
            w.WriteEndObject();
            WriteProcesses(w, r.Kernel, r.Names);
            w.WriteStartArray("reaped");
            foreach (var (name, pid) in Reaped(r))
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteNumber("pid", pid);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    // Named tasks that no longer exist, in name order.
    private static List<(string Name, int Pid)> Reaped(ScenarioResult r) =>
        r.Names.Where(kv => kv.Value.State == TaskState.Reaped).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value.Pid.NrAtLevel(0))).ToList();

    /// <summary>Writes the <c>processes</c> array: one object per process, in tree order, with its threads.</summary>
    public static void WriteProcesses(Utf8JsonWriter w, SimKernel k, IReadOnlyDictionary<string, SimTask> names)
    {
        var g = new Groups();
        var byTask = ByTask(names);
        w.WriteStartArray("processes");
        foreach (var (t, depth) in Walk(k))
        {
            w.WriteStartObject();
            WriteTask(w, t, byTask, g);
            w.WriteNumber("depth", depth);
            w.WriteNumber("pgid", t.Group.Pgrp.NrAtLevel(0));
            w.WriteNumber("sid", t.Group.Session.NrAtLevel(0));
            w.WriteBoolean("subreaper", t.Group.IsChildSubreaper);
            w.WriteStartArray("threads");
            foreach (var th in t.Group.Threads)
            {
                if (th != t)
                {
                    w.WriteStartObject();
                    WriteTask(w, th, byTask, g);
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteTask(Utf8JsonWriter w, SimTask t, Dictionary<SimTask, string> names, Groups g)
    {
        if (names.GetValueOrDefault(t) is { } n)
        {
            w.WriteString("name", n);
        }
        w.WriteNumber("pid", t.Pid.NrAtLevel(0));
        w.WriteStartArray("pids");
        for (int l = 0; l <= t.Pid.Level; l++)
        {
            w.WriteNumberValue(t.Pid.NrAtLevel(l));
        }
        w.WriteEndArray();
        w.WriteNumber("ppid", t.RealParent is { } rp ? rp.Group.Leader.Pid.NrAtLevel(0) : 0);
        w.WriteString("state", SimKernel.Describe(t));
        w.WriteNumber("exit_signal", t.ExitSignal);
        if (t.State is TaskState.Zombie)
        {
            w.WriteNumber("exit_status", t.Group.GroupExit ? t.Group.GroupExitCode : t.ExitCode);
        }
        if (t.ProgramPath is not null)
        {
            w.WriteString("program", t.ProgramPath);
        }
        w.WriteStartObject("resources");
        w.WriteNumber("mm", g.Id("mm", t.Mm));
        w.WriteNumber("files", g.Id("files", t.Files));
        w.WriteNumber("fs", g.Id("fs", t.Fs));
        w.WriteNumber("sighand", g.Id("sighand", t.Sighand));
        if (t.SemUndo is not null)
        {
            w.WriteNumber("sysvsem", g.Id("sysvsem", t.SemUndo));
        }
        w.WriteString("cgroup", t.Cgroup.Path);
        w.WriteEndObject();
        w.WriteStartObject("namespaces");
        for (int i = 0; i < NsNames.Length; i++)
        {
            w.WriteNumber(NsNames[i], g.Id(NsNames[i], NsOf(t, i)));
        }
        w.WriteNumber("pid_for_children", g.Id("pid", t.Ns.PidForChildren));
        w.WriteNumber("time_for_children", g.Id("time", t.Ns.TimeForChildren));
        w.WriteEndObject();
    }
}
