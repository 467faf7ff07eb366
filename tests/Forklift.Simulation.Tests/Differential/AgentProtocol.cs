using System.Buffers.Binary;
using System.Text;

namespace Forklift.Simulation.Tests.Differential;

/// <summary>The agent's ops (native/agent/agent_proto.h, FA_*; AgentProtocolSpecs checks the numbers).</summary>
internal enum AgentOp : uint
{
    Fork = 1, Vfork, Clone, Clone3, Execve, Exit, ExitGroup, Wait4, Waitid, Kill, Tgkill, PidfdSendSignal, PidfdOpen,
    Getpid, Gettid, Getppid, Getpgid, Getsid, Setsid, Setpgid, Unshare, Setns, Prctl, Open, Close, Dup, Dup2, Dup3,
    Fcntl, Sigaction, Umask, Chdir, Store, Observe, Semget, Semop, SemctlGetval,
}

/// <summary>What FA_OBSERVE reads (FA_OBS_*).</summary>
internal enum AgentObservation
{
    Fd = 1, Cwd, Umask, Disposition, Mem, Subreaper, Received, Pdeathsig,
}

/// <summary>A command for an agent (struct fa_cmd, 192 bytes).</summary>
internal sealed class AgentCommand
{
    public const int Size = 192;
    private const int TextSize = 104;

    public AgentCommand(AgentOp op, params long[] args)
    {
        if (args.Length > 10)
        {
            throw new ArgumentException("at most 10 arguments", nameof(args));
        }
        Op = op;
        Args = new long[10];
        args.CopyTo(Args, 0);
    }

    public AgentOp Op { get; }
    public long[] Args { get; }
    public byte[] Text { get; } = new byte[TextSize];

    /// <summary>A NUL-terminated path in the text field.</summary>
    public AgentCommand WithText(string text)
    {
        int n = Encoding.UTF8.GetBytes(text, Text);
        if (n >= TextSize)
        {
            throw new ArgumentException($"'{text}' is longer than {TextSize - 1} bytes", nameof(text));
        }
        return this;
    }

    /// <summary>int32 values in the text field (set_tid).</summary>
    public AgentCommand WithInts(IReadOnlyList<int> values)
    {
        for (int i = 0; i < values.Count && i < TextSize / 4; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(Text.AsSpan(4 * i), values[i]);
        }
        return this;
    }

    public void Encode(uint seq, Span<byte> buf)
    {
        buf[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(buf, (uint)Op);
        BinaryPrimitives.WriteUInt32LittleEndian(buf[4..], seq);
        for (int i = 0; i < 10; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(buf[(8 + 8 * i)..], Args[i]);
        }
        Text.CopyTo(buf[88..]);
    }
}

/// <summary>A message from an agent (struct fa_msg, 128 bytes).</summary>
internal readonly record struct AgentMessage(uint Kind, uint Seq, long Ret, int Index, int NsPid, int NsTid, int[] W, string Text)
{
    public const int Size = 128;
    public const uint Hello = 1, Reply = 2, Blocked = 3;

    public static AgentMessage Decode(ReadOnlySpan<byte> b)
    {
        var w = new int[8];
        for (int i = 0; i < 8; i++)
        {
            w[i] = BinaryPrimitives.ReadInt32LittleEndian(b[(32 + 4 * i)..]);
        }
        var text = b.Slice(64, 64);
        int nul = text.IndexOf((byte)0);
        return new AgentMessage(
            BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
            BinaryPrimitives.ReadInt64LittleEndian(b[8..]), BinaryPrimitives.ReadInt32LittleEndian(b[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(b[20..]), BinaryPrimitives.ReadInt32LittleEndian(b[24..]),
            w, Encoding.UTF8.GetString(nul < 0 ? text : text[..nul]));
    }
}
