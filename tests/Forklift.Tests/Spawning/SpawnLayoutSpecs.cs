using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Forklift.Interop;

namespace Forklift.Tests.Spawning;

/// <summary>The C# mirrors match the frozen layout of native/include/forklift_spawn.h.</summary>
public sealed class SpawnLayoutSpecs
{
    [Fact]
    public void The_spawn_mirrors_have_the_native_sizes()
    {
        Assert.Equal(112, SpawnNative.SizeOfSpawnPlan());
        Assert.Equal(48, SpawnNative.SizeOfSpawnStep());
        Assert.Equal(48, SpawnNative.SizeOfSpawnResult());
        Assert.Equal(SpawnNative.SizeOfSpawnPlan(), Unsafe.SizeOf<FlSpawnPlan>());
        Assert.Equal(SpawnNative.SizeOfSpawnStep(), Unsafe.SizeOf<FlSpawnStep>());
        Assert.Equal(SpawnNative.SizeOfSpawnResult(), Unsafe.SizeOf<FlSpawnResult>());
        Assert.Equal(12, Unsafe.SizeOf<EpollEvent>()); // packed on x86-64
    }

    [Theory]
    [InlineData(nameof(FlSpawnPlan.Flags), 4)]
    [InlineData(nameof(FlSpawnPlan.CloneFlags), 8)]
    [InlineData(nameof(FlSpawnPlan.ExitSignal), 16)]
    [InlineData(nameof(FlSpawnPlan.CgroupFd), 24)]
    [InlineData(nameof(FlSpawnPlan.SetTid), 32)]
    [InlineData(nameof(FlSpawnPlan.StackSize), 48)]
    [InlineData(nameof(FlSpawnPlan.ExecPaths), 56)]
    [InlineData(nameof(FlSpawnPlan.ExecPathCount), 64)]
    [InlineData(nameof(FlSpawnPlan.StepCount), 68)]
    [InlineData(nameof(FlSpawnPlan.Argv), 72)]
    [InlineData(nameof(FlSpawnPlan.Envp), 80)]
    [InlineData(nameof(FlSpawnPlan.Steps), 88)]
    [InlineData(nameof(FlSpawnPlan.Sigmask), 96)]
    [InlineData(nameof(FlSpawnPlan.ExecErrnos), 104)]
    public void The_plan_fields_are_at_the_native_offsets(string field, int offset)
    {
        Assert.Equal(offset, Marshal.OffsetOf<FlSpawnPlan>(field).ToInt32());
    }

    [Theory]
    [InlineData(nameof(FlSpawnResult.Ok), 8)]
    [InlineData(nameof(FlSpawnResult.ErrorStep), 24)]
    [InlineData(nameof(FlSpawnResult.SyncFd), 32)]
    [InlineData(nameof(FlSpawnResult.CallNanoseconds), 40)]
    public void The_result_fields_are_at_the_native_offsets(string field, int offset)
    {
        Assert.Equal(offset, Marshal.OffsetOf<FlSpawnResult>(field).ToInt32());
    }

    [Theory]
    [InlineData(nameof(FlSpawnStep.A), 8)]
    [InlineData(nameof(FlSpawnStep.Str), 32)]
    [InlineData(nameof(FlSpawnStep.Ptr), 40)]
    public void The_step_fields_are_at_the_native_offsets(string field, int offset)
    {
        Assert.Equal(offset, Marshal.OffsetOf<FlSpawnStep>(field).ToInt32());
    }
}
