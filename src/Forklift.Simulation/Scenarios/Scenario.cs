using System.Text;

namespace Forklift.Simulation.Scenarios;

/// <summary>One statement of a scenario: its line number, its kind, the acting task (for calls) and its tokens.</summary>
/// <param name="Line">1-based line number.</param>
/// <param name="Text">The statement as written (without comment).</param>
/// <param name="Kind">call, check, kernel, program, advance, run, tree, mkcgroup, rmcgroup, sysctl.</param>
/// <param name="Actor">The task that makes the call (calls only).</param>
/// <param name="Tokens">The words after the task (calls) or after the keyword.</param>
public sealed record ScenarioStatement(int Line, string Text, string Kind, string? Actor, IReadOnlyList<string> Tokens);

/// <summary>
/// A parsed scenario: a small line-oriented text format.
/// <code>
/// # comment
/// kernel pid_max=32768                       settings, before the first call
/// program /bin/worker: sleep 10; exit 3      an inline program (steps: sleep N, exit N, write FD TEXT,
///                                            spawn PATH ARGS, wait, waitall, ignore SIG, handle SIG, pause)
/// init: fork -> a                            TASK: CALL ARGS [-> NAME] [expect RESULT [pid=..] [status=..]]
/// a: execve /bin/worker
/// init: clone3 flags=NEWPID|PIDFD pidfd=0x7f0000001000 exit_signal=SIGCHLD -> b expect 3
/// advance 10                                 virtual time; `run` runs until idle
/// init: wait4 $a 0 expect $a status=exited(3)
/// check a state = reaped                     check SUBJECT PROPERTY [= VALUE]
/// tree                                       print the process tree now
/// </code>
/// <c>$name</c> is the named task's process id as the acting task (or, in checks, the subject) sees it;
/// <c>$name.tid</c> its thread id. The first task is <c>init</c> (pid 1).
/// </summary>
public sealed class Scenario
{
    internal Scenario(IReadOnlyList<ScenarioStatement> statements) => Statements = statements;

    /// <summary>The statements in order.</summary>
    public IReadOnlyList<ScenarioStatement> Statements { get; }

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "check", "kernel", "program", "advance", "run", "tree", "mkcgroup", "rmcgroup", "sysctl",
    };

    /// <summary>Parses scenario text; a line that is neither a keyword statement nor <c>TASK: CALL</c> is an error.</summary>
    /// <exception cref="ScenarioException">A syntax error, with its line.</exception>
    public static Scenario Parse(string text)
    {
        var list = new List<ScenarioStatement>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string raw = StripComment(lines[i]).Trim();
            if (raw.Length == 0)
            {
                continue;
            }
            int lineNo = i + 1;
            string first = raw.Split(' ', 2)[0];
            if (first == "program")
            {
                list.Add(new ScenarioStatement(lineNo, raw, "program", null, [raw["program".Length..].Trim()]));
                continue;
            }
            if (Keywords.Contains(first))
            {
                var toks = Tokenize(raw, lineNo);
                list.Add(new ScenarioStatement(lineNo, raw, first, null, toks.Skip(1).ToArray()));
                continue;
            }
            int colon = raw.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || raw[..colon].Contains(' ', StringComparison.Ordinal))
            {
                throw new ScenarioException(lineNo, $"expected 'TASK: CALL ...' or a statement ({string.Join(", ", Keywords.Order(StringComparer.Ordinal))})");
            }
            string actor = raw[..colon].Trim();
            var tokens = Tokenize(raw[(colon + 1)..], lineNo);
            if (tokens.Count == 0)
            {
                throw new ScenarioException(lineNo, "a call is missing after the task name");
            }
            list.Add(new ScenarioStatement(lineNo, raw, "call", actor, tokens));
        }
        return new Scenario(list);
    }

    private static string StripComment(string line)
    {
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '"')
            {
                quoted = !quoted;
            }
            else if (line[i] == '#' && !quoted)
            {
                return line[..i];
            }
        }
        return line;
    }

    /// <summary>Splits on blanks; double quotes group words (with \" and \n escapes).</summary>
    internal static List<string> Tokenize(string text, int line)
    {
        var tokens = new List<string>();
        var sb = new StringBuilder();
        bool quoted = false, any = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '\\' && i + 1 < text.Length)
                {
                    char n = text[++i];
                    sb.Append(n == 'n' ? '\n' : n);
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    sb.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = any = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (any)
                {
                    tokens.Add(sb.ToString());
                    sb.Clear();
                    any = false;
                }
            }
            else
            {
                sb.Append(c);
                any = true;
            }
        }
        if (quoted)
        {
            throw new ScenarioException(line, "unterminated quote");
        }
        if (any)
        {
            tokens.Add(sb.ToString());
        }
        return tokens;
    }
}

/// <summary>A scenario that cannot be parsed or run (an unknown call, a missing task name), with its line.</summary>
public sealed class ScenarioException(int line, string message) : Exception($"line {line}: {message}")
{
    /// <summary>The 1-based line.</summary>
    public int Line { get; } = line;
}
