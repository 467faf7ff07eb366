using System.Globalization;
using System.Security;
using System.Text;
using Forklift.Abi;


namespace Forklift.Simulation.Scenarios;

public static partial class TreePrinter
{
    private const int RowHeight = 58, Indent = 34, MinBoxWidth = 300, BoxHeight = 46, Margin = 16;

    // Monospace at 12 px: about 7.3 px a character.
    private const double CharWidth = 7.3;

    /// <summary>
    /// The final process tree as an SVG picture: one box per process, indented under its parent and joined to it
    /// by a line, coloured by state (running, sleeping, stopped, zombie), its border coloured by pid namespace;
    /// each box shows the pid in every namespace level, the name the scenario gave it, the program, the exit
    /// signal and the shared-resource groups (the same numbers as the text tree: equal numbers are shared).
    /// </summary>
    public static string Svg(ScenarioResult r)
    {
        var k = r.Kernel;
        var g = new Groups();
        var byTask = ByTask(r.Names);
        var rows = Walk(k).ToList();
        var nsColours = new Dictionary<object, string>(ReferenceEqualityComparer.Instance);
        string[] palette = ["#3b6ea8", "#a8503b", "#3ba86a", "#8a3ba8", "#a8963b", "#3ba0a8", "#6a6a6a"];
        int maxDepth = rows.Count == 0 ? 0 : rows.Max(x => x.Depth);
        var lines = rows.Select(row => Lines(row.Task, byTask, g)).ToList();
        int longest = lines.Count == 0 ? 0 : lines.Max(l => Math.Max(l.First.Length, l.Second.Length));
        int boxWidth = Math.Max(MinBoxWidth, (int)Math.Ceiling(longest * CharWidth) + 16);
        int width = Margin * 2 + maxDepth * Indent + boxWidth;
        int height = Margin * 2 + 30 + Math.Max(1, rows.Count) * RowHeight;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        string title = r.Passed ? $"process tree: {rows.Count} processes, {r.ChecksPassed} checks passed" : $"process tree: {rows.Count} processes, {r.Failures.Count} check(s) FAILED";
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin}\" y=\"{Margin + 14}\" font-size=\"14\" font-weight=\"bold\">{Esc(title)}</text>\n");
        var position = new Dictionary<SimTask, (int X, int Y)>();
        for (int i = 0; i < rows.Count; i++)
        {
            var (t, depth) = rows[i];
            int x = Margin + depth * Indent, y = Margin + 30 + i * RowHeight;
            position[t] = (x, y);
            if (t.RealParent?.Group.Leader is { } parent && position.TryGetValue(parent, out var p))
            {
                // An elbow from the parent's left edge down to this box.
                int px = p.X + 12, py = p.Y + BoxHeight;
                sb.Append(CultureInfo.InvariantCulture, $"<path d=\"M{px},{py} V{y + BoxHeight / 2} H{x}\" fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\"/>\n");
            }
            object pidNs = t.Pid.Ns;
            if (!nsColours.TryGetValue(pidNs, out var border))
            {
                border = palette[nsColours.Count % palette.Length];
                nsColours[pidNs] = border;
            }
            string fill = t.State switch
            {
                TaskState.Zombie => "#e6e6e6",
                TaskState.Stopped => "#ffe2b8",
                TaskState.Running => "#d9f2d9",
                _ => "#eaf1fb",
            };
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{boxWidth}\" height=\"{BoxHeight}\" rx=\"6\" fill=\"{fill}\" stroke=\"{border}\" stroke-width=\"2\"/>\n");
            var (line1, line2) = lines[i];
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 8}\" y=\"{y + 18}\" font-weight=\"bold\">{Esc(line1)}</text>\n");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 8}\" y=\"{y + 36}\" fill=\"#333\">{Esc(line2)}</text>\n");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static (string First, string Second) Lines(SimTask t, Dictionary<SimTask, string> byTask, Groups g)
    {
        string name = byTask.GetValueOrDefault(t) ?? "-";
        int threads = t.Group.ThreadCount - 1;
        string first = $"pid {Pids(t.Pid)}  {name}  {SimKernel.Describe(t)}" + (threads > 0 ? $"  +{threads} thread(s)" : "")
            + (t.Group.IsChildSubreaper ? "  subreaper" : "");
        string exit = t.ExitSignal < 0 ? "-" : t.ExitSignal == 0 ? "0" : Signals.Name(t.ExitSignal);
        string second = $"{t.ProgramPath ?? "(no exec)"}  exit_signal {exit}  mm#{g.Id("mm", t.Mm)} files#{g.Id("files", t.Files)} fs#{g.Id("fs", t.Fs)} sighand#{g.Id("sighand", t.Sighand)} pidns#{g.Id("pid", t.Pid.Ns)}";
        return (first, second);
    }

    private static string Esc(string s) => SecurityElement.Escape(s) ?? "";
}
