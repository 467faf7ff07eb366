namespace Forklift.Processes;

/// <summary>
/// The parent's end of a child's stdio pipe as a <see cref="Stream"/>, whatever kernel holds the pipe: the read
/// end of the child's standard output or error, or the write end of its standard input. One-directional, no
/// length, no position, nothing to flush; the array overloads forward to the span and memory ones, which the
/// kernel's end implements (<see cref="ChildPipeStream"/> on the real kernel, the simulated launcher's own).
/// </summary>
internal abstract class PipeEndStream : Stream
{
    private readonly bool _readable;

    /// <param name="readable">True for the read end of the child's stdout/stderr; false for the write end of its stdin.</param>
    protected PipeEndStream(bool readable) => _readable = readable;

    /// <summary>Set once the end is closed (under whatever lock the kernel's end guards it with).</summary>
    protected bool IsDisposed { get; set; }

    /// <inheritdoc/>
    public override bool CanRead => _readable && !IsDisposed;

    /// <inheritdoc/>
    public override bool CanWrite => !_readable && !IsDisposed;

    /// <inheritdoc/>
    public override bool CanSeek => false;

    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException("A pipe has no length.");

    /// <inheritdoc/>
    public override long Position
    {
        get => throw new NotSupportedException("A pipe has no position.");
        set => throw new NotSupportedException("A pipe has no position.");
    }

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A pipe cannot seek.");

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException("A pipe has no length.");

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public abstract override int Read(Span<byte> buffer);

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <inheritdoc/>
    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public abstract override void Write(ReadOnlySpan<byte> buffer);

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <inheritdoc/>
    public abstract override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>Throws unless this end is open and goes the way asked (read, or write).</summary>
    protected void EnsureCan(bool read)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (read != _readable)
            throw new NotSupportedException(read ? "This is the write end of the child's standard input." : "This is the read end of the child's output.");
    }
}
