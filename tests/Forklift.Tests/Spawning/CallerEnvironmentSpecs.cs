using System.Collections;
using Forklift.Spawning;

namespace Forklift.Tests.Spawning;

/// <summary>
/// The caller's environment as the spawner reads it: the same variables as <c>Environment.GetEnvironmentVariables</c>
/// (the runtime's block, read in place), the same parse, and the fallback for runtimes without that block. In the
/// host-resource collection: other tests there change the process's environment.
/// </summary>
[Collection(Forklift.Tests.Interop.HostResourceCollection.Name)]
public sealed class CallerEnvironmentSpecs
{
    [Fact]
    public void On_this_runtime_the_environment_is_read_from_the_runtime_block_not_copied_into_a_hashtable()
    {
        // If this fails, a runtime update moved CoreLib's GetEnvironmentStringsW: starts still work (the fallback),
        // but every start allocates the environment again (see CallerEnvironment).
        Assert.True(CallerEnvironment.ReadsRuntimeBlock);
    }

    [Fact]
    public void I_get_exactly_the_variables_GetEnvironmentVariables_gives_from_the_block_and_from_the_fallback()
    {
        string name = $"FORKLIFT_CE_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(name, "ünï=code");
        try
        {
            var block = CallerEnvironment.Capture();
            var fallback = CallerEnvironment.Capture(useRuntimeBlock: false);
            var expected = Pairs(Environment.GetEnvironmentVariables());

            Assert.Equal(expected, Pairs(block));
            Assert.Equal(expected, Pairs(fallback));
            Assert.True(block.TryGetValue(name, out var value));
            Assert.Equal("ünï=code", value.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void A_variable_set_or_removed_with_SetEnvironmentVariable_is_seen_by_the_next_capture()
    {
        string name = $"FORKLIFT_CE_{Guid.NewGuid():N}";
        try
        {
            Environment.SetEnvironmentVariable(name, "one");
            var set = CallerEnvironment.Capture();
            Environment.SetEnvironmentVariable(name, "two");
            var changed = CallerEnvironment.Capture();
            Environment.SetEnvironmentVariable(name, null);
            var removed = CallerEnvironment.Capture();

            Assert.Equal("one", Value(set, name));
            Assert.Equal("two", Value(changed, name));
            Assert.Null(Value(removed, name));
            Assert.Equal("one", Value(set, name)); // a snapshot never changes
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void The_block_is_parsed_as_GetEnvironmentVariables_parses_it()
    {
        // Skipped: an entry without '=', one whose name starts with '=' (Windows' hidden variables), a later
        // duplicate (the first wins). Kept: an empty value, '=' inside a value.
        var env = CallerEnvironment.FromBlock("A=1\0NOEQUALS\0=C:=x\0B=\0A=2\0C=x=y");

        Assert.Equal([("A", "1"), ("B", ""), ("C", "x=y")], Pairs(env));
        Assert.False(env.TryGetValue("NOEQUALS", out _));
        Assert.False(env.TryGetValue("", out _));
    }

    [Fact]
    public void Many_variables_with_duplicates_are_indexed_once_each()
    {
        // More entries than the stack table holds (it rents one), every name twice.
        var block = string.Join('\0', Enumerable.Range(0, 600).Select(i => $"V{i % 300}={i}"));
        var env = CallerEnvironment.FromBlock(block);

        Assert.Equal(300, env.Count);
        Assert.True(env.TryGetValue("V299", out var value));
        Assert.Equal("299", value.ToString());
    }

    [Fact]
    public void An_empty_environment_has_no_variables()
    {
        var env = CallerEnvironment.FromDictionary(new Hashtable());

        Assert.Equal(0, env.Count);
        Assert.False(env.TryGetValue("PATH", out _));
    }

    [Fact]
    public unsafe void A_runtime_without_the_block_methods_is_detected_and_capture_falls_back()
    {
        // This test assembly has no Interop.Kernel32: the lookup must say so rather than fail.
        Assert.False(CallerEnvironment.TryFindRuntimeBlock(typeof(CallerEnvironmentSpecs).Assembly, out var get, out var free));
        Assert.True(get == null && free == null);
        Assert.True(CallerEnvironment.TryFindRuntimeBlock(typeof(object).Assembly, out get, out free));
    }

    [Fact]
    public void While_nothing_changes_the_same_snapshot_is_returned_and_a_change_makes_a_new_one()
    {
        string name = $"FORKLIFT_CE_{Guid.NewGuid():N}";
        try
        {
            var first = CallerEnvironment.Capture();
            var again = CallerEnvironment.Capture();
            Environment.SetEnvironmentVariable(name, "x");
            var changed = CallerEnvironment.Capture();

            Assert.Same(first, again);
            Assert.NotSame(again, changed);
            Assert.Equal(again.Count + 1, changed.Count);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void The_UTF8_form_has_each_variable_once_at_its_offset_whatever_the_characters()
    {
        var env = CallerEnvironment.FromBlock("A=1\0ÜNÏ=çødé\0NOEQUALS\0A=2\0Z=😀");

        var utf8 = env.Utf8;
        var entries = utf8.Starts.Select(s => System.Text.Encoding.UTF8.GetString(utf8.Bytes.AsSpan(s, utf8.Bytes.AsSpan(s).IndexOf((byte)0))));

        Assert.Equal(["A=1", "ÜNÏ=çødé", "Z=😀"], entries);
    }

    [Fact]
    public void Inputs_captured_with_nothing_changed_are_equal_until_one_reads_the_current_directory()
    {
        // The launcher reuses a command's plan model when the inputs are equal (record equality): an input the
        // build read (the current directory, for relative paths) must make them differ from inputs that did not.
        var a = SpawnInputs.Capture(1);
        var b = SpawnInputs.Capture(1);

        Assert.Equal(a, b);
        _ = a.CurrentDirectory;
        Assert.NotEqual(a, b);
        Assert.NotEqual(SpawnInputs.Capture(1), SpawnInputs.Capture(2));

        int reads = 0;
        Func<int> readParent = () => ++reads;
        var c = SpawnInputs.Capture(readParent);
        var d = SpawnInputs.Capture(readParent);
        Assert.Equal(c, d);
        Assert.Equal(0, reads); // read on first use only
        Assert.Equal(1, c.ParentProcessId);
        Assert.Equal(1, c.ParentProcessId);
        Assert.NotEqual(c, d);
        Assert.Equal(1, reads);
    }

    private static string? Value(CallerEnvironment env, string name) =>
        env.TryGetValue(name, out var value) ? value.ToString() : null;

    private static List<(string, string)> Pairs(CallerEnvironment env)
    {
        var pairs = new List<(string, string)>();
        for (int i = 0; i < env.Count; i++)
            pairs.Add((env[i].Name.ToString(), env[i].Value.ToString()));
        return [.. pairs.OrderBy(p => p.Item1, StringComparer.Ordinal)];
    }

    private static List<(string, string)> Pairs(IDictionary variables) =>
        [.. variables.Cast<DictionaryEntry>().Select(e => ((string)e.Key, (string)e.Value!)).OrderBy(p => p.Item1, StringComparer.Ordinal)];
}
