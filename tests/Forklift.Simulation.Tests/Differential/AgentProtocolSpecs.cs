using System.Text.RegularExpressions;

namespace Forklift.Simulation.Tests.Differential;

// The coordinator's copy of the agent's wire format (AgentProtocol.cs) against the header the agent is built with
// (native/agent/agent_proto.h): the op and observation numbers, and the two message sizes.
public partial class AgentProtocolSpecs
{
    private static string Header()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "native", "agent", "agent_proto.h");
            if (File.Exists(path))
            {
                return File.ReadAllText(path);
            }
        }
        throw new FileNotFoundException("native/agent/agent_proto.h above the test directory");
    }

    // The names of one C enum block, in order, with their values (explicit "= N" or the previous + 1).
    private static Dictionary<string, int> Enum(string header, string firstName)
    {
        int start = header.IndexOf(firstName, StringComparison.Ordinal);
        int end = header.IndexOf("};", start, StringComparison.Ordinal);
        var values = new Dictionary<string, int>(StringComparer.Ordinal);
        int next = 0;
        foreach (Match m in Entry().Matches(header[start..end]))
        {
            int v = m.Groups[2].Success ? int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : next;
            values[m.Groups[1].Value] = v;
            next = v + 1;
        }
        return values;
    }

    [GeneratedRegex(@"^\s*(FA_[A-Z0-9_]+)\s*(?:=\s*(\d+))?\s*,", RegexOptions.Multiline)]
    private static partial Regex Entry();

    [Fact]
    public void The_op_numbers_are_the_headers()
    {
        var ops = Enum(Header(), "FA_FORK = 1");
        Assert.Equal(Enum<AgentOp>().Length, ops.Count);
        foreach (var op in Enum<AgentOp>())
        {
            string c = "FA_" + Regex.Replace(op.ToString(), "(?<=[a-z0-9])([A-Z])", "_$1").ToUpperInvariant();
            Assert.True(ops.TryGetValue(c, out int v), $"{c} is not in agent_proto.h");
            Assert.Equal(v, (int)op);
        }
    }

    [Fact]
    public void The_observation_numbers_are_the_headers()
    {
        var obs = Enum(Header(), "FA_OBS_FD = 1");
        foreach (var o in Enum<AgentObservation>())
        {
            string c = "FA_OBS_" + o.ToString().ToUpperInvariant();
            Assert.True(obs.TryGetValue(c, out int v), $"{c} is not in agent_proto.h");
            Assert.Equal(v, (int)o);
        }
    }

    [Fact]
    public void The_message_sizes_are_the_headers()
    {
        string h = Header();
        Assert.Contains($"sizeof(struct fa_cmd) == {AgentCommand.Size}", h, StringComparison.Ordinal);
        Assert.Contains($"sizeof(struct fa_msg) == {AgentMessage.Size}", h, StringComparison.Ordinal);
        Assert.Contains($"FA_MSG_HELLO = {AgentMessage.Hello}", h, StringComparison.Ordinal);
        Assert.Contains($"FA_MSG_REPLY = {AgentMessage.Reply}", h, StringComparison.Ordinal);
        Assert.Contains($"FA_MSG_BLOCKED = {AgentMessage.Blocked}", h, StringComparison.Ordinal);
    }

    private static T[] Enum<T>() where T : struct, System.Enum => System.Enum.GetValues<T>();
}
