using System.Collections.Immutable;
using System.Diagnostics.Contracts;

namespace Forklift.Spawning;

/// <summary>
/// Commands connected fd to fd: each one's standard output is a pipe into the next one's standard input, with
/// no copy through the parent (<c>a | b | c</c>). Build with <see cref="CommandExecution.PipeTo"/>; start with
/// <see cref="Processes.IProcessLauncher.Start(Pipeline)"/>.
/// </summary>
public sealed record Pipeline
{
    internal Pipeline(ImmutableArray<Command> commands) => Commands = commands;

    /// <summary>The commands, in data-flow order (at least two).</summary>
    public ImmutableArray<Command> Commands { get; }

    /// <summary>Appends a command reading what the last one writes.</summary>
    [Pure]
    public Pipeline PipeTo(Command next)
    {
        ArgumentNullException.ThrowIfNull(next);
        return new Pipeline(Commands.Add(next));
    }

    /// <inheritdoc/>
    public bool Equals(Pipeline? other) => other is not null && Commands.SequenceEqual(other.Commands);

    /// <inheritdoc/>
    public override int GetHashCode() => Commands.Aggregate(0, (h, c) => HashCode.Combine(h, c));

    /// <inheritdoc/>
    public override string ToString() => string.Join(" | ", Commands);
}
