using System.Collections.Immutable;
using System.Text;
using Forklift.Abi;
using Forklift.Simulation.Programs;

namespace Forklift.Simulation.Launching;

/// <summary>
/// What a simulated program needs beyond <see cref="ProgramContext"/> to stand in for a real one started by a
/// <see cref="SimulatedProcessLauncher"/>: reading its standard input (a step, since it may block), writing bytes
/// with pipe semantics, its environment and its working directory, virtual-time sleeps by <see cref="TimeSpan"/>,
/// and pipes of its own.
/// </summary>
/// <example>
/// A <c>cat</c>: copy fd 0 to fd 1 until end of file.
/// <code>
/// launcher.Programs.Register("/bin/cat", Cat);
/// static IEnumerable&lt;ProgramStep&gt; Cat(ProgramContext ctx)
/// {
///     while (true)
///     {
///         yield return ctx.Read(0);
///         if (ctx.LastResult.Value &lt;= 0)
///             yield return ctx.Exit(ctx.LastResult.Ok ? 0 : 1);
///         ctx.WriteBytes(1, ctx.ReadBytes().Span);
///     }
/// }
/// </code>
/// </example>
public static class ProgramIo
{
    /// <summary>
    /// A step: <c>read(fd, maxBytes)</c>. It blocks (in virtual time) while <paramref name="fd"/> is an empty pipe
    /// whose write end is open somewhere; then <see cref="ProgramContext.LastResult"/> holds the byte count (0 at
    /// end of file, or the errno: EBADF, EINTR when a handled signal interrupted it) and <see cref="ReadBytes"/>
    /// the bytes. <c>/dev/null</c> and the console read as empty; a regular file of the model reads on from the
    /// description's offset.
    /// </summary>
    public static ProgramStep Read(this ProgramContext ctx, int fd = 0, int maxBytes = 64 * 1024)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var io = SimIo.Of(ctx.Kernel);
        var r = io.TryRead(ctx.Task, fd, maxBytes);
        if (r is { } done)
        {
            ctx.LastResult = done;
            // Let the other programs due now run first, as returning from a read would.
            return ctx.Yield();
        }
        // pipe_read's wait_event_interruptible: a pause that the pipe ends (or a handled signal, with EINTR).
        return ctx.Pause();
    }

    /// <summary>The bytes the last <see cref="Read"/> returned.</summary>
    public static ReadOnlyMemory<byte> ReadBytes(this ProgramContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return SimIo.Of(ctx.Kernel).LastReadOf(ctx.Task);
    }

    /// <summary>The bytes the last <see cref="Read"/> returned, decoded as UTF-8.</summary>
    public static string ReadText(this ProgramContext ctx) => Encoding.UTF8.GetString(ctx.ReadBytes().Span);

    /// <summary>
    /// <c>write(fd, data)</c> with pipe semantics: into a pipe whose read end is closed everywhere, EPIPE and
    /// SIGPIPE to the writer (fatal by default). <see cref="ProgramContext.Write"/> (text) goes through the
    /// kernel's write, which does not model SIGPIPE.
    /// </summary>
    public static SysResult WriteBytes(this ProgramContext ctx, int fd, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return ctx.LastResult = SimIo.Of(ctx.Kernel).Write(ctx.Task, fd, data);
    }

    /// <summary><see cref="WriteBytes"/> of <paramref name="text"/> in UTF-8.</summary>
    public static SysResult WriteText(this ProgramContext ctx, int fd, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ctx.WriteBytes(fd, Encoding.UTF8.GetBytes(text));
    }

    /// <summary>The program's environment (given by the launcher at exec; a child a program forked itself has its parent's).</summary>
    public static ImmutableSortedDictionary<string, string> Environment(this ProgramContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return SimIo.Of(ctx.Kernel).EnvironmentOf(ctx.Task);
    }

    /// <summary>One environment variable, or null.</summary>
    public static string? GetEnvironmentVariable(this ProgramContext ctx, string name) =>
        ctx.Environment().TryGetValue(name, out var value) ? value : null;

    /// <summary>The working directory (<c>getcwd</c>).</summary>
    public static string WorkingDirectory(this ProgramContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return ctx.Task.Fs.Cwd;
    }

    /// <summary>A step: sleep <paramref name="duration"/> of virtual time (rounded up to the tick, a millisecond).</summary>
    public static ProgramStep Sleep(this ProgramContext ctx, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return ctx.Sleep(SimulatedProcessLauncher.ToTicks(duration));
    }

    /// <summary><c>pipe2(flags)</c> (flags: O_CLOEXEC or 0): two new fds, the read end and the write end.</summary>
    public static SysResult Pipe(this ProgramContext ctx, out int readFd, out int writeFd, int flags = 0)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        if ((flags & ~SimConst.OCloexec) != 0)
        {
            readFd = writeFd = -1;
            return ctx.LastResult = SysResult.Fail(Errno.EINVAL);
        }
        return ctx.LastResult = SimIo.Of(ctx.Kernel).CreatePipe(ctx.Task, (flags & SimConst.OCloexec) != 0, out readFd, out writeFd, out _);
    }
}
