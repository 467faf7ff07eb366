using System.Collections.Immutable;
using Forklift.Abi;

namespace Forklift.Tests.Abi;

public class CodecSpecs
{
    private static CloneArgs Sample => new()
    {
        Flags = CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd | CloneFlags.IntoCgroup,
        Pidfd = 0x1111, ChildTid = 0x2222, ParentTid = 0x3333, ExitSignal = 17, Stack = 0x4444, StackSize = 0x5555,
        Tls = 0x6666, SetTid = 0x7777, SetTidSize = 2, Cgroup = 9, SetTidValues = ImmutableArray<int>.Empty,
    };

    [Fact]
    public void Clone3_struct_round_trips_at_the_current_size()
    {
        var bytes = Clone3Struct.Encode(Sample);
        Assert.Equal(88, bytes.Length);
        Assert.Equal(Errno.None, Clone3Struct.Decode(bytes, out var back));
        Assert.Equal(Sample, back);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(72)]
    [InlineData(80)]
    [InlineData(84)]
    public void Smaller_sizes_read_missing_fields_as_zero(int size)
    {
        var bytes = Clone3Struct.Encode(Sample, size);
        Assert.Equal(size, bytes.Length);
        Assert.Equal(Errno.None, Clone3Struct.Decode(bytes, out var back));
        Assert.Equal(Clone3Struct.Truncate(Sample, (ulong)size), back);
        Assert.Equal(size >= 72 ? Sample.SetTid : 0UL, back.SetTid);
        Assert.Equal(size >= 80 ? Sample.SetTidSize : 0UL, back.SetTidSize);
        Assert.Equal(size >= 88 ? Sample.Cgroup : size > 80 ? Sample.Cgroup & ((1UL << ((size - 80) * 8)) - 1) : 0UL, back.Cgroup);
    }

    [Fact]
    public void The_smallest_size_keeps_every_field_the_request_uses()
    {
        var plain = new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd, Pidfd = 8, ExitSignal = 17, Stack = 4096, StackSize = 65536 };
        var withTid = plain with { SetTid = 4096, SetTidSize = 1 };
        var intoCgroup = plain with { Flags = plain.Flags | CloneFlags.IntoCgroup, Cgroup = 0 };

        Assert.Equal([64, 80, 88], new[] { plain, withTid, intoCgroup }.Select(a => Clone3Struct.SmallestSize(a)));
        foreach (var args in new[] { plain, withTid, intoCgroup })
        {
            Assert.Equal(Errno.None, Clone3Struct.Decode(Clone3Struct.Encode(args, Clone3Struct.SmallestSize(args)), out var back));
            Assert.Equal(args, back with { SetTidValues = args.SetTidValues });
        }
    }

    [Fact]
    public void Larger_sizes_need_a_zero_tail()
    {
        var bytes = Clone3Struct.Encode(Sample, 128);
        Assert.Equal(Errno.None, Clone3Struct.Decode(bytes, out var back));
        Assert.Equal(Sample, back);
        bytes[100] = 1;
        Assert.Equal(Errno.E2BIG, Clone3Struct.Decode(bytes, out _));
        Assert.Equal(Errno.EINVAL, Clone3Struct.Decode(new byte[63], out _));
        Assert.Equal(Errno.E2BIG, Clone3Struct.Decode(new byte[4097], out _));
        Assert.Equal(Errno.None, Clone3Struct.Decode(new byte[4096], out _));
    }

    [Fact]
    public void Fields_sit_at_the_kernel_offsets_little_endian()
    {
        var bytes = Clone3Struct.Encode(Sample);
        Assert.Equal(0x00, bytes[0]);
        Assert.Equal(0x51, bytes[1]); // VM 0x100 | VFORK 0x4000 | PIDFD 0x1000 -> 0x5100
        Assert.Equal(0x02, bytes[4]); // INTO_CGROUP is bit 33
        Assert.Equal(17, bytes[32]);
        Assert.Equal(9, bytes[80]);
    }

    [Fact]
    public void Legacy_registers_homogenize_like_the_kernel()
    {
        var regs = new LegacyCloneRegisters(0x1_0000_0000UL | (ulong)CloneFlags.Pidfd | 17, NewSp: 0x9000, ParentTid: 0x3333, ChildTid: 0x2222, Tls: 0x6666);
        var a = regs.ToArgs();
        Assert.Equal(CloneFlags.Pidfd, a.Flags); // bit 32 dropped, exit signal byte split off
        Assert.Equal(17UL, a.ExitSignal);
        Assert.Equal(0x3333UL, a.Pidfd);
        Assert.Equal(0x3333UL, a.ParentTid);
        Assert.Equal(0x9000UL, a.Stack);
        Assert.True(LegacyCloneRegisters.TryFromArgs(a, out var again, out _));
        Assert.Equal(regs with { Flags = regs.Flags & 0xffffffff }, again);
    }

    [Theory]
    [InlineData(LegacyCloneAbi.Default, new ulong[] { 1, 2, 3, 4, 5 })]
    [InlineData(LegacyCloneAbi.Backwards, new ulong[] { 1, 2, 3, 5, 4 })]
    [InlineData(LegacyCloneAbi.Backwards2, new ulong[] { 2, 1, 3, 4, 5 })]
    [InlineData(LegacyCloneAbi.Backwards3, new ulong[] { 1, 2, 0, 3, 4, 5 })]
    public void Legacy_argument_orders_are_data(LegacyCloneAbi abi, ulong[] expected)
    {
        var regs = new LegacyCloneRegisters(1, 2, 3, 4, 5);
        Assert.Equal(expected, regs.ToRegisters(abi));
        Assert.Equal(regs, LegacyCloneRegisters.FromRegisters(abi, expected));
    }

    [Theory]
    [InlineData(CloneFlags.ClearSighand, 0UL, "above bit 31")]
    [InlineData(CloneFlags.NewTime, 0UL, "exit signal")]
    [InlineData(CloneFlags.None, 256UL, "one byte")]
    public void Legacy_form_refuses_what_it_cannot_express(CloneFlags flags, ulong exit, string why)
    {
        Assert.False(LegacyCloneRegisters.TryFromArgs(new CloneArgs { Flags = flags, ExitSignal = exit }, out _, out var reason));
        Assert.Contains(why, reason);
    }

    [Fact]
    public void Fork_and_vfork_are_kernel_clone_with_sigchld()
    {
        Assert.Equal(new CloneArgs { ExitSignal = 17 }, CloneCall.Fork().Args);
        Assert.Equal(new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork, ExitSignal = 17 }, CloneCall.Vfork().Args);
    }

    [Theory]
    [InlineData("VM|VFORK", CloneFlags.Vm | CloneFlags.Vfork)]
    [InlineData("clone_vm, CLONE_vfork", CloneFlags.Vm | CloneFlags.Vfork)]
    [InlineData("0x100|FILES", CloneFlags.Vm | CloneFlags.Files)]
    [InlineData("256", CloneFlags.Vm)]
    [InlineData("", CloneFlags.None)]
    [InlineData("INTO_CGROUP|CLEAR_SIGHAND|NEWTIME", CloneFlags.IntoCgroup | CloneFlags.ClearSighand | CloneFlags.NewTime)]
    public void Flags_parse_from_names_and_numbers(string text, CloneFlags expected) =>
        Assert.Equal(expected, CloneFlagNames.Parse(text));

    [Fact]
    public void Flags_format_back_and_keep_unknown_bits()
    {
        Assert.Equal("CLONE_VM|CLONE_VFORK", CloneFlagNames.Format(CloneFlags.Vm | CloneFlags.Vfork));
        Assert.Equal("CLONE_INTO_CGROUP|0x400000011", CloneFlagNames.Format((CloneFlags)0x6_0000_0011UL));
        foreach (var (flag, name) in CloneFlagNames.All)
        {
            Assert.Equal(flag, CloneFlagNames.Parse(name));
            Assert.Equal(name, CloneFlagNames.Format(flag));
        }
        Assert.Equal(27, CloneFlagNames.All.Count); // NEWTIME + the 24 bits 8..31 + the two clone3-only flags
    }

    [Fact]
    public void Unknown_flag_names_are_refused_with_a_suggestion()
    {
        Assert.False(CloneFlagNames.TryParse("VM|NEWPDI", out _, out var error));
        Assert.Contains("NEWPDI", error);
        Assert.Contains("CLONE_NEWPID", error);
    }

    [Theory]
    [InlineData("SIGCHLD", 17)]
    [InlineData("chld", 17)]
    [InlineData("17", 17)]
    [InlineData("SIGRTMIN", 32)]
    [InlineData("SIGRTMIN+2", 34)]
    [InlineData("RTMAX-1", 63)]
    [InlineData("SIGRTMAX", 64)]
    [InlineData("255", 255)]
    public void Signals_parse(string text, int expected) => Assert.Equal(expected, Forklift.Abi.Signals.Parse(text));

    [Fact]
    public void Signal_names_cover_1_to_64()
    {
        for (int s = 1; s <= 64; s++)
        {
            Assert.Equal(s, Forklift.Abi.Signals.Parse(Forklift.Abi.Signals.Name(s)));
        }
        Assert.False(Forklift.Abi.Signals.TryParse("SIGFOO", out _, out _));
        Assert.False(Forklift.Abi.Signals.TryParse("256", out _, out _));
    }

    [Fact]
    public void Errno_names_and_messages()
    {
        Assert.Equal("EINVAL", ErrnoInfo.Name(Errno.EINVAL));
        Assert.Equal("Invalid argument", ErrnoInfo.Message(Errno.EINVAL));
        Assert.True(ErrnoInfo.TryParse("eexist", out var e) && e == Errno.EEXIST);
        Assert.Equal("errno 1000", ErrnoInfo.Name((Errno)1000));
    }
}

public class Clone6FormSpecs
{
    [Fact]
    public void Clone6_round_trips_through_struct_and_words()
    {
        var args = new CloneArgs { Flags = CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd, Pidfd = 0x1234, ExitSignal = 17, SetTidValues = [] };
        var call = CloneCall.Clone6(args, 88);
        var form = Clone6Form.Encode(call);
        Assert.Equal(5, form.FlagWords.Length);
        Assert.Equal((uint)(CloneFlags.Vm | CloneFlags.Vfork | CloneFlags.Pidfd), form.FlagWords[0]);
        Assert.Equal(0UL, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(form.Struct)); // struct flags unused
        Assert.Equal(Errno.None, Clone6Form.Decode(form.Struct, form.FlagWords, out var back));
        Assert.Equal(call with { ArgsPointer = back.ArgsPointer }, back);
    }

    [Fact]
    public void Clone6_reserved_words_reach_the_model_and_are_refused()
    {
        var form = new Clone6Form(Clone3Struct.Encode(new CloneArgs()), [0, 0, 0, 7, 0]);
        Assert.Equal(Errno.None, Clone6Form.Decode(form.Struct, form.FlagWords, out var call));
        var verdict = Forklift.Rules.CloneRules.Evaluate(call, Forklift.Rules.CallerContext.Root);
        Assert.Equal("R-X1", verdict.Rule?.Name);
        Assert.Throws<ArgumentException>(() => Clone6Form.Encode(CloneCall.Clone6(new CloneArgs { Flags = CloneFlags.ClearSighand })));
        Assert.Equal("R-B2", Forklift.Rules.CloneRules.Evaluate(CloneCall.Clone6(new CloneArgs { Flags = CloneFlags.Detached }), Forklift.Rules.CallerContext.Root).Rule?.Name);
    }
}
