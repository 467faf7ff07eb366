using System.Diagnostics;
using System.Text;
using Forklift.Processes;

namespace Forklift.Spawning;

/// <summary>The result of <see cref="CommandExecution.ExecuteBufferedAsync(Command, Encoding?, CancellationToken, CancellationToken)"/>.</summary>
public sealed record BufferedCommandResult
{
    internal BufferedCommandResult(int pid, ExitStatus exitStatus, byte[] standardOutputBytes, byte[] standardErrorBytes, Encoding encoding, TimeSpan runTime)
    {
        Pid = pid;
        ExitStatus = exitStatus;
        StandardOutputBytes = standardOutputBytes;
        StandardErrorBytes = standardErrorBytes;
        Encoding = encoding;
        RunTime = runTime;
    }

    /// <summary>The child's pid.</summary>
    public int Pid { get; }

    /// <summary>How the child ended.</summary>
    public ExitStatus ExitStatus { get; }

    /// <summary>Everything the child wrote to its standard output.</summary>
    public byte[] StandardOutputBytes { get; }

    /// <summary>Everything the child wrote to its standard error.</summary>
    public byte[] StandardErrorBytes { get; }

    /// <summary>The encoding <see cref="StandardOutput"/> and <see cref="StandardError"/> decode with (default UTF-8).</summary>
    public Encoding Encoding { get; }

    /// <summary>From just before the start to the end of both streams and the reap.</summary>
    public TimeSpan RunTime { get; }

    /// <summary><see cref="StandardOutputBytes"/> decoded.</summary>
    public string StandardOutput => Encoding.GetString(StandardOutputBytes);

    /// <summary><see cref="StandardErrorBytes"/> decoded.</summary>
    public string StandardError => Encoding.GetString(StandardErrorBytes);
}

/// <summary>Starting and running commands with <see cref="ProcessLauncher.Default"/> or a given launcher.</summary>
public static class CommandExecution
{
    /// <summary>Starts the command with <see cref="ProcessLauncher.Default"/> (see <see cref="ProcessLauncher.Start(Command)"/>).</summary>
    public static ChildProcess Start(this Command command) => ProcessLauncher.Default.Start(command);

    /// <summary>Starts the pipeline with <see cref="ProcessLauncher.Default"/>.</summary>
    public static IReadOnlyList<ChildProcess> Start(this Pipeline pipeline) => ProcessLauncher.Default.Start(pipeline);

    /// <summary>Connects this command's standard output to <paramref name="next"/>'s standard input.</summary>
    public static Pipeline PipeTo(this Command command, Command next)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(next);
        return new Pipeline([command, next]);
    }

    /// <summary>
    /// Starts the command (throwing synchronously if it cannot start) and completes with its exit status.
    /// Cancellation as in <see cref="IChildProcess.WaitForExitAsync"/>: forceful kills, graceful stops.
    /// </summary>
    public static Task<ExitStatus> ExecuteAsync(this Command command, CancellationToken forcefulCancellation = default,
        CancellationToken gracefulCancellation = default) =>
        ExecuteAsync(command, ProcessLauncher.Default, forcefulCancellation, gracefulCancellation);

    /// <summary>As <see cref="ExecuteAsync(Command, CancellationToken, CancellationToken)"/> with a given launcher.</summary>
    public static Task<ExitStatus> ExecuteAsync(this Command command, IProcessLauncher launcher,
        CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default)
    {
        ArgumentNullException.ThrowIfNull(launcher);
        var child = launcher.Start(command);
        return Wait(child);

        async Task<ExitStatus> Wait(IChildProcess c)
        {
            await using (c.ConfigureAwait(false))
                return await c.WaitForExitAsync(forcefulCancellation, gracefulCancellation).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs the command with its standard output and error captured, both read concurrently so that no size of
    /// either can deadlock the child; completes when both have reached end of file and the child has been reaped.
    /// A standard input set to <see cref="Stdio.Pipe"/> is closed at once (the child reads end of file). The
    /// streams end when every process holding them has closed them: a background grandchild that keeps the
    /// child's output open keeps this waiting.
    /// </summary>
    /// <exception cref="CommandException">Standard output or error is set to something other than inherit or pipe.</exception>
    public static Task<BufferedCommandResult> ExecuteBufferedAsync(this Command command, Encoding? encoding = null,
        CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default) =>
        ExecuteBufferedAsync(command, ProcessLauncher.Default, encoding, forcefulCancellation, gracefulCancellation);

    /// <summary>As <see cref="ExecuteBufferedAsync(Command, Encoding?, CancellationToken, CancellationToken)"/> with a given launcher.</summary>
    public static Task<BufferedCommandResult> ExecuteBufferedAsync(this Command command, IProcessLauncher launcher, Encoding? encoding = null,
        CancellationToken forcefulCancellation = default, CancellationToken gracefulCancellation = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(launcher);
        foreach (var (name, stdio) in new[] { ("StandardOutput", command.StandardOutput), ("StandardError", command.StandardError) })
        {
            if (stdio.Kind is not (StdioKind.Inherit or StdioKind.Pipe))
                throw new CommandException(name, $"is {stdio}, but ExecuteBufferedAsync captures it");
        }
        var stopwatch = Stopwatch.StartNew();
        var child = launcher.Start(command.WithStandardOutput(Stdio.Pipe).WithStandardError(Stdio.Pipe));
        return Run(child);

        async Task<BufferedCommandResult> Run(IChildProcess c)
        {
            await using (c.ConfigureAwait(false))
            {
                if (c.Command.StandardInput.Kind == StdioKind.Pipe)
                    await c.StandardInput.DisposeAsync().ConfigureAwait(false);
                var stdout = ReadAllAsync(c.StandardOutput);
                var stderr = ReadAllAsync(c.StandardError);
                ExitStatus status;
                try
                {
                    status = await c.WaitForExitAsync(forcefulCancellation, gracefulCancellation).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    await c.StandardOutput.DisposeAsync().ConfigureAwait(false);
                    await c.StandardError.DisposeAsync().ConfigureAwait(false);
                    try
                    {
                        await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // the reads were cut short on purpose
                    }
                    throw;
                }
                byte[] output = await stdout.ConfigureAwait(false);
                byte[] error = await stderr.ConfigureAwait(false);
                return new BufferedCommandResult(c.Pid, status, output, error, encoding ?? Encoding.UTF8, stopwatch.Elapsed);
            }
        }
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, 64 * 1024).ConfigureAwait(false);
        return buffer.ToArray();
    }
}
