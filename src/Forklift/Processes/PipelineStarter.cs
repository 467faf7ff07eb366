using Forklift.Abi;
using Forklift.Spawning;

namespace Forklift.Processes;

/// <summary>The primitives a launcher lends <see cref="PipelineStarter"/>: its kernel's pipe, close and start.</summary>
/// <typeparam name="TChild">The launcher's child type.</typeparam>
internal interface IPipelineKernel<TChild>
    where TChild : IChildProcess
{
    /// <summary>pipe2 with O_CLOEXEC in the parent: both ends, or the errno (<see cref="Errno.None"/> on success).</summary>
    Errno CreatePipe(out int readEnd, out int writeEnd);

    /// <summary>Closes one of the parent's fds.</summary>
    void Close(int fd);

    /// <summary>Starts one command, as the launcher's <c>Start(Command)</c>.</summary>
    TChild Start(Command command);
}

/// <summary>
/// How every launcher starts a <see cref="Pipeline"/>, whatever its kernel: each command's standard output is
/// the write end of a pipe whose read end is the next command's standard input, and the parent closes both ends
/// once the two children have them. If one fails to start, those already started are killed before the
/// exception propagates (the launcher's reaping collects them).
/// </summary>
internal static class PipelineStarter
{
    /// <exception cref="CommandException">A command sets a stream the pipeline connects, or is invalid.</exception>
    public static List<TChild> Start<TChild>(Pipeline pipeline, IPipelineKernel<TChild> kernel)
        where TChild : IChildProcess
    {
        var commands = pipeline.Commands;
        for (int i = 0; i < commands.Length; i++)
        {
            if (i < commands.Length - 1 && commands[i].StandardOutput.Kind != StdioKind.Inherit)
                throw new CommandException($"Commands[{i}].StandardOutput", $"is {commands[i].StandardOutput}, but the pipeline connects it to the next command's standard input");
            if (i > 0 && commands[i].StandardInput.Kind != StdioKind.Inherit)
                throw new CommandException($"Commands[{i}].StandardInput", $"is {commands[i].StandardInput}, but the pipeline connects it to the previous command's standard output");
            CommandValidator.Validate(commands[i]);
        }

        var started = new List<TChild>(commands.Length);
        int readEnd = -1;
        try
        {
            for (int i = 0; i < commands.Length; i++)
            {
                var command = commands[i];
                int nextRead = -1, write = -1;
                if (i < commands.Length - 1)
                {
                    var errno = kernel.CreatePipe(out nextRead, out write);
                    if (errno != Errno.None)
                        throw new SpawnException("Pipe2", errno, $"between commands {i} and {i + 1}", SpawnHints.ForSetup(errno), command.ToString());
                    command = command.WithStandardOutput(Stdio.FromFileDescriptor(write));
                }
                if (i > 0)
                    command = command.WithStandardInput(Stdio.FromFileDescriptor(readEnd));
                try
                {
                    started.Add(kernel.Start(command));
                }
                finally
                {
                    if (write >= 0)
                        kernel.Close(write);
                    if (readEnd >= 0)
                        kernel.Close(readEnd);
                    readEnd = nextRead;
                }
            }
            return started;
        }
        catch
        {
            if (readEnd >= 0)
                kernel.Close(readEnd);
            foreach (var child in started)
            {
                child.Kill();
                child.Dispose();
            }
            throw;
        }
    }
}
