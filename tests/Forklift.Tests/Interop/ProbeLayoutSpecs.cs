using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Forklift.Interop;
using Xunit;

namespace Forklift.Tests.Interop;

/// <summary>The C# mirrors match the frozen C layout of native/include/forklift_native.h.</summary>
public sealed unsafe class ProbeLayoutSpecs
{
    [Fact]
    public void The_native_library_reports_the_expected_abi_version()
    {
        Assert.Equal(NativeProbe.ExpectedAbiVersion, NativeProbe.AbiVersion());
    }

    [Fact]
    public void The_mirrors_have_the_native_sizes()
    {
        Assert.Equal(920, NativeProbe.SizeOfProbeRequest());
        Assert.Equal(32, NativeProbe.SizeOfProbeResult());
        Assert.Equal(384, NativeProbe.SizeOfContext());
        Assert.Equal(NativeProbe.SizeOfProbeRequest(), Marshal.SizeOf<ProbeRequest>());
        Assert.Equal(NativeProbe.SizeOfProbeResult(), Marshal.SizeOf<ProbeResult>());
        Assert.Equal(NativeProbe.SizeOfContext(), Marshal.SizeOf<ProbeContext>());
        Assert.Equal(NativeProbe.SizeOfProbeRequest(), Unsafe.SizeOf<ProbeRequest>());
        Assert.Equal(NativeProbe.SizeOfProbeResult(), Unsafe.SizeOf<ProbeResult>());
        Assert.Equal(NativeProbe.SizeOfContext(), Unsafe.SizeOf<ProbeContext>());
    }

    [Theory]
    // the offsets the header asserts
    [InlineData(nameof(ProbeContext.RlimitNproc), 48)]
    [InlineData(nameof(ProbeContext.Caps), 56)]
    [InlineData(nameof(ProbeContext.NsLimits), 64)]
    [InlineData(nameof(ProbeContext.ChrootPath), 128)]
    // and every other field, from the C declaration order
    [InlineData(nameof(ProbeContext.UserNsMode), 0)]
    [InlineData(nameof(ProbeContext.UserNsNesting), 4)]
    [InlineData(nameof(ProbeContext.PidNsNesting), 8)]
    [InlineData(nameof(ProbeContext.AsInit), 12)]
    [InlineData(nameof(ProbeContext.PidNsInitExited), 16)]
    [InlineData(nameof(ProbeContext.UnsharePid), 20)]
    [InlineData(nameof(ProbeContext.UnshareTime), 24)]
    [InlineData(nameof(ProbeContext.Subreaper), 28)]
    [InlineData(nameof(ProbeContext.SchedDeadline), 32)]
    [InlineData(nameof(ProbeContext.SetCaps), 36)]
    [InlineData(nameof(ProbeContext.Uid), 40)]
    [InlineData(nameof(ProbeContext.Gid), 44)]
    public void Context_fields_sit_at_the_native_offsets(string field, int offset)
    {
        Assert.Equal(offset, (int)Marshal.OffsetOf<ProbeContext>(field));
    }

    [Theory]
    [InlineData(nameof(ProbeRequest.RawFlags), 56)]
    [InlineData(nameof(ProbeRequest.Flags), 64)]
    [InlineData(nameof(ProbeRequest.SetTidValues), 152)]
    [InlineData(nameof(ProbeRequest.CgroupPath), 280)]
    [InlineData(nameof(ProbeRequest.Context), 536)]
    [InlineData(nameof(ProbeRequest.Call), 0)]
    [InlineData(nameof(ProbeRequest.ArgsKind), 4)]
    [InlineData(nameof(ProbeRequest.ArgsRawPointer), 8)]
    [InlineData(nameof(ProbeRequest.Size), 16)]
    [InlineData(nameof(ProbeRequest.ReadableBytes), 24)]
    [InlineData(nameof(ProbeRequest.TailNonzeroAt), 28)]
    [InlineData(nameof(ProbeRequest.PidfdKind), 32)]
    [InlineData(nameof(ProbeRequest.ParentTidKind), 36)]
    [InlineData(nameof(ProbeRequest.ChildTidKind), 40)]
    [InlineData(nameof(ProbeRequest.SetTidKind), 44)]
    [InlineData(nameof(ProbeRequest.CgroupSource), 48)]
    [InlineData(nameof(ProbeRequest.Reserved0), 52)]
    // clone_args values in kernel order: flags@0 .. cgroup@80 of the struct, +64 here
    [InlineData(nameof(ProbeRequest.Pidfd), 64 + 8)]
    [InlineData(nameof(ProbeRequest.ChildTid), 64 + 16)]
    [InlineData(nameof(ProbeRequest.ParentTid), 64 + 24)]
    [InlineData(nameof(ProbeRequest.ExitSignal), 64 + 32)]
    [InlineData(nameof(ProbeRequest.Stack), 64 + 40)]
    [InlineData(nameof(ProbeRequest.StackSize), 64 + 48)]
    [InlineData(nameof(ProbeRequest.Tls), 64 + 56)]
    [InlineData(nameof(ProbeRequest.SetTid), 64 + 64)]
    [InlineData(nameof(ProbeRequest.SetTidSize), 64 + 72)]
    [InlineData(nameof(ProbeRequest.Cgroup), 64 + 80)]
    public void Request_fields_sit_at_the_native_offsets(string field, int offset)
    {
        Assert.Equal(offset, (int)Marshal.OffsetOf<ProbeRequest>(field));
    }

    [Theory]
    [InlineData(nameof(ProbeResult.Outcome), 0)]
    [InlineData(nameof(ProbeResult.Err), 4)]
    [InlineData(nameof(ProbeResult.Ret), 8)]
    [InlineData(nameof(ProbeResult.SetupStep), 16)]
    [InlineData(nameof(ProbeResult.Signal), 20)]
    [InlineData(nameof(ProbeResult.ChildStatus), 24)]
    [InlineData(nameof(ProbeResult.PidfdSeen), 28)]
    public void Result_fields_sit_at_the_native_offsets(string field, int offset)
    {
        Assert.Equal(offset, (int)Marshal.OffsetOf<ProbeResult>(field));
    }

    [Fact]
    public void The_enums_have_the_header_values()
    {
        Assert.Equal([0, 1, 2, 3], Enum.GetValues<ProbeCall>().Select(v => (int)v));
        Assert.Equal([0, 1, 2], Enum.GetValues<ProbePointerKind>().Select(v => (int)v));
        Assert.Equal([0, 1, 2, 3, 4], Enum.GetValues<ProbeCgroupSource>().Select(v => (int)v));
        Assert.Equal([0, 1, 2], Enum.GetValues<ProbeUserNsMode>().Select(v => (int)v));
        Assert.Equal([0, 1, 2, 3], Enum.GetValues<ProbeOutcome>().Select(v => (int)v));
        Assert.Equal(11, (int)ProbeSetupStep.Cgroup);
        Assert.Equal(4, Unsafe.SizeOf<ProbeCall>());
    }

    [Fact]
    public void The_default_context_keeps_everything()
    {
        var context = ProbeContext.Default;
        Assert.Equal(-1, context.Uid);
        Assert.Equal(-1, context.Gid);
        Assert.Equal(-1, context.RlimitNproc);
        for (var i = 0; i < ProbeContext.NsLimitCount; i++)
            Assert.Equal(-1, context.NsLimits[i]);
        Assert.Equal("", context.GetChrootPath());
    }

    [Fact]
    public void Paths_round_trip_and_too_long_ones_are_rejected()
    {
        var request = ProbeRequest.Create(ProbeCall.Clone3);
        request.SetCgroupPath("/sys/fs/cgroup/unified/é");
        request.Context.SetChrootPath(new string('a', 255));
        Assert.Equal("/sys/fs/cgroup/unified/é", request.GetCgroupPath());
        Assert.Equal(new string('a', 255), request.Context.GetChrootPath());

        Assert.Throws<ArgumentException>(() => request.SetCgroupPath(new string('a', 256)));
        Assert.Throws<ArgumentException>(() => request.SetCgroupPath(new string('é', 128))); // 256 bytes
        Assert.Throws<ArgumentException>(() => request.Context.SetChrootPath("/tmp\0/x"));
        Assert.Throws<ArgumentException>(() => request.SetSetTidValues(new int[33]));
    }
}
