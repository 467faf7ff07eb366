using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using Forklift.Interop;

namespace Forklift.Spawning;

/// <summary>
/// A <see cref="PlanModel"/> laid out as one block of unmanaged memory for <c>fl_spawn</c>: the
/// <c>fl_spawn_plan</c>, its steps, the argv/envp/exec-path pointer arrays, the exec errno array, the gid
/// arrays and every string, all pointing into the same block, which does not move and is freed by
/// <see cref="Dispose"/> after the call. Nothing in the child touches managed memory.
/// </summary>
internal sealed unsafe class SpawnPlan : IDisposable
{
    private byte* _block;

    private SpawnPlan(PlanModel model, byte* block, nuint size)
    {
        Model = model;
        _block = block;
        Size = size;
    }

    /// <summary>The managed model the block was made from (step names for errors).</summary>
    public PlanModel Model { get; }

    /// <summary>The block's size in bytes.</summary>
    public nuint Size { get; }

    /// <summary>The <c>fl_spawn_plan</c> at the start of the block.</summary>
    public FlSpawnPlan* Native
    {
        get
        {
            ObjectDisposedException.ThrowIf(_block == null, this);
            return (FlSpawnPlan*)_block;
        }
    }

    /// <summary>Lays out <paramref name="model"/>.</summary>
    public static SpawnPlan Create(PlanModel model)
    {
        var utf8 = Encoding.UTF8;
        nuint size = Align((nuint)sizeof(FlSpawnPlan));
        size += Align((nuint)(sizeof(FlSpawnStep) * model.Steps.Length));
        size += Align((nuint)(sizeof(nint) * model.ExecPaths.Length));
        size += Align((nuint)(sizeof(int) * model.ExecPaths.Length));
        size += Align((nuint)(sizeof(nint) * (model.Argv.Length + 1)));
        // The caller's environment inherited unchanged (the common case) is copied in one piece, already UTF-8.
        var inherited = model.Environment is { Inherited: { } caller, Changes.Count: 0 } ? caller.Utf8 : null;
        int envc = 0;
        if (inherited is not null)
        {
            size += Align((nuint)inherited.Bytes.Length);
            envc = inherited.Starts.Length;
        }
        else
        {
            foreach (var (name, value) in model.Environment)
            {
                size += (nuint)utf8.GetByteCount(name) + 1 + (nuint)utf8.GetByteCount(value) + 1;
                envc++;
            }
        }
        size += Align((nuint)(sizeof(nint) * (envc + 1)));
        size += Align((nuint)(sizeof(int) * model.SetTid.Length));
        foreach (var step in model.Steps)
        {
            if (!step.Ids.IsDefault)
                size += Align((nuint)(sizeof(uint) * step.Ids.Length));
            if (step.Str is not null)
                size += (nuint)utf8.GetByteCount(step.Str) + 1;
            if (step.Data is not null)
                size += (nuint)utf8.GetByteCount(step.Data) + 1;
        }
        foreach (var s in model.ExecPaths)
            size += (nuint)utf8.GetByteCount(s) + 1;
        foreach (var s in model.Argv)
            size += (nuint)utf8.GetByteCount(s) + 1;

        // Not zeroed as a whole: Take zeroes the structs and arrays it hands out; strings and the environment's
        // bytes are written whole (most of the block), so clearing them first would only cost a pass over memory.
        byte* block = (byte*)NativeMemory.Alloc(size);
        var w = new Writer(block, size);
        var plan = (FlSpawnPlan*)w.Take((nuint)sizeof(FlSpawnPlan));
        var steps = (FlSpawnStep*)w.Take((nuint)(sizeof(FlSpawnStep) * model.Steps.Length));
        var execPaths = (byte**)w.Take((nuint)(sizeof(nint) * model.ExecPaths.Length));
        var execErrnos = (int*)w.Take((nuint)(sizeof(int) * model.ExecPaths.Length));
        var argv = (byte**)w.Take((nuint)(sizeof(nint) * (model.Argv.Length + 1)));
        var envp = (byte**)w.Take((nuint)(sizeof(nint) * (envc + 1)));
        int* setTid = model.SetTid.IsEmpty ? null : (int*)w.Take((nuint)(sizeof(int) * model.SetTid.Length));
        for (int i = 0; i < model.SetTid.Length; i++)
            setTid[i] = model.SetTid[i];

        for (int i = 0; i < model.Steps.Length; i++)
        {
            var step = model.Steps[i];
            steps[i].Op = step.Op;
            steps[i].A = step.A;
            steps[i].B = step.B;
            steps[i].C = step.C;
            if (!step.Ids.IsDefault)
            {
                var ids = (uint*)w.Take((nuint)(sizeof(uint) * step.Ids.Length));
                step.Ids.AsSpan().CopyTo(new Span<uint>(ids, step.Ids.Length));
                steps[i].Ptr = ids;
            }
        }
        for (int i = 0; i < model.Steps.Length; i++)
        {
            if (model.Steps[i].Str is { } str)
                steps[i].Str = w.String(str);
            if (model.Steps[i].Data is { } data)
                steps[i].Ptr = w.String(data);
        }
        for (int i = 0; i < model.ExecPaths.Length; i++)
            execPaths[i] = w.String(model.ExecPaths[i]);
        for (int i = 0; i < model.Argv.Length; i++)
            argv[i] = w.String(model.Argv[i]);
        if (inherited is not null)
        {
            byte* bytes = w.TakeUninitialized((nuint)inherited.Bytes.Length);
            inherited.Bytes.CopyTo(new Span<byte>(bytes, inherited.Bytes.Length));
            for (int i = 0; i < envc; i++)
                envp[i] = bytes + inherited.Starts[i];
        }
        else
        {
            int e = 0;
            foreach (var (name, value) in model.Environment)
            {
                if (e == envc)
                    throw new InvalidOperationException("spawn plan layout overflow: the environment changed while it was laid out");
                envp[e++] = w.Variable(name, value);
            }
            if (e != envc)
                throw new InvalidOperationException("spawn plan layout: the environment changed while it was laid out");
        }

        plan->Version = FlSpawnPlan.CurrentVersion;
        plan->Flags = model.Flags;
        plan->CloneFlags = model.CloneFlags;
        plan->CgroupFd = model.CgroupFd;
        plan->ExitSignal = model.ExitSignal;
        plan->StackSize = SpawnPlanBuilder.StackSize;
        plan->ExecPaths = execPaths;
        plan->ExecPathCount = (uint)model.ExecPaths.Length;
        plan->StepCount = (uint)model.Steps.Length;
        plan->Argv = argv;
        plan->Envp = envp;
        plan->Steps = steps;
        plan->Sigmask = model.Sigmask;
        plan->ExecErrnos = execErrnos;
        plan->SetTid = setTid;
        plan->SetTidSize = (ulong)model.SetTid.Length;
        return new SpawnPlan(model, block, size);
    }

    /// <summary>The errno execve returned for each exec candidate (after the call; 0: not tried).</summary>
    public ImmutableArray<ExecAttempt> ExecAttempts()
    {
        var plan = Native;
        var result = ImmutableArray.CreateBuilder<ExecAttempt>((int)plan->ExecPathCount);
        for (int i = 0; i < plan->ExecPathCount; i++)
            result.Add(new ExecAttempt(Model.ExecPaths[i], (Abi.Errno)plan->ExecErrnos[i]));
        return result.MoveToImmutable();
    }

    /// <summary>
    /// The plan as the native stage will read it, decoded back from the unmanaged block (not from the model):
    /// one line per field and step. For tests, logs and dry runs.
    /// </summary>
    public string Describe() => Describe(Native);

    /// <summary>Decodes any <c>fl_spawn_plan</c>.</summary>
    public static string Describe(FlSpawnPlan* plan)
    {
        var sb = new StringBuilder();
        sb.Append("version=").Append(plan->Version).Append(" flags=").Append(plan->Flags)
          .Append(" clone_flags=0x").Append(plan->CloneFlags.ToString("x")).Append(" exit_signal=").Append(plan->ExitSignal)
          .Append(" sigmask=0x").Append(plan->Sigmask.ToString("x")).AppendLine();
        for (int i = 0; i < plan->ExecPathCount; i++)
            sb.Append("exec ").AppendLine(Marshal.PtrToStringUTF8((nint)plan->ExecPaths[i]));
        for (int i = 0; plan->Argv[i] != null; i++)
            sb.Append("argv ").AppendLine(Marshal.PtrToStringUTF8((nint)plan->Argv[i]));
        int envc = 0;
        while (plan->Envp[envc] != null)
            envc++;
        sb.Append("envp ").Append(envc).AppendLine(" entries");
        for (int i = 0; i < plan->StepCount; i++)
        {
            var s = plan->Steps[i];
            uint[]? ids = null;
            if (s.Op == SpawnOp.SetGroups && s.Ptr != null)
                ids = new ReadOnlySpan<uint>(s.Ptr, (int)s.A).ToArray();
            sb.AppendLine(PlanStep.Format(s.Op, s.A, s.B, s.C, s.Str == null ? null : Marshal.PtrToStringUTF8((nint)s.Str), ids));
        }
        return sb.ToString();
    }

    /// <summary>The decoded environment (for tests).</summary>
    public static string[] DecodeEnvp(FlSpawnPlan* plan)
    {
        var list = new List<string>();
        for (int i = 0; plan->Envp[i] != null; i++)
            list.Add(Marshal.PtrToStringUTF8((nint)plan->Envp[i])!);
        return [.. list];
    }

    /// <summary>Frees the block.</summary>
    public void Dispose()
    {
        if (_block != null)
        {
            NativeMemory.Free(_block);
            _block = null;
        }
    }

    private static nuint Align(nuint n) => (n + 7) & ~(nuint)7;

    private struct Writer(byte* block, nuint size)
    {
        private nuint _used;

        /// <summary>The next <paramref name="bytes"/> (8-aligned), zeroed.</summary>
        public byte* Take(nuint bytes)
        {
            byte* p = TakeUninitialized(bytes);
            NativeMemory.Clear(p, bytes);
            return p;
        }

        /// <summary>The next <paramref name="bytes"/> (8-aligned), for the caller to write whole.</summary>
        public byte* TakeUninitialized(nuint bytes)
        {
            byte* p = block + _used;
            _used += Align(bytes);
            if (_used > size)
                throw new InvalidOperationException("spawn plan layout overflow");
            return p;
        }

        /// <summary>Writes <c>name=value</c> and its NUL.</summary>
        public byte* Variable(ReadOnlySpan<char> name, ReadOnlySpan<char> value)
        {
            int n = Encoding.UTF8.GetByteCount(name), v = Encoding.UTF8.GetByteCount(value);
            byte* p = block + _used;
            _used += (nuint)n + 1 + (nuint)v + 1;
            if (_used > size)
                throw new InvalidOperationException("spawn plan layout overflow");
            Encoding.UTF8.GetBytes(name, new Span<byte>(p, n));
            p[n] = (byte)'=';
            Encoding.UTF8.GetBytes(value, new Span<byte>(p + n + 1, v));
            p[n + 1 + v] = 0;
            return p;
        }

        public byte* String(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            byte* p = block + _used;
            _used += (nuint)n + 1;
            if (_used > size)
                throw new InvalidOperationException("spawn plan layout overflow");
            Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
            p[n] = 0;
            return p;
        }
    }
}
