using Forklift.Isolation;

namespace Forklift.Tests.Isolation;

/// <summary>Limits and options are checked before anything is made; each refusal names the property.</summary>
public sealed class CgroupLimitsSpecs
{
    public static TheoryData<CgroupLimits, string, string> Refused => new()
    {
        { new CgroupLimits { MemoryMax = 100 }, "MemoryMax", "one page" },
        { new CgroupLimits { MemoryMax = ulong.MaxValue }, "MemoryMax", "2^63" },
        { new CgroupLimits { MemoryAndSwapMax = 1 << 30 }, "MemoryAndSwapMax", "needs MemoryMax" },
        { new CgroupLimits { MemoryMax = 1 << 30, MemoryAndSwapMax = 1 << 20 }, "MemoryAndSwapMax", "less than MemoryMax" },
        { new CgroupLimits { PidsMax = 0 }, "PidsMax", "1..4194304" },
        { new CgroupLimits { PidsMax = 5_000_000 }, "PidsMax", "out of range" },
        { new CgroupLimits { CpuFraction = 0 }, "CpuFraction", "positive" },
        { new CgroupLimits { CpuFraction = -0.5 }, "CpuFraction", "positive" },
        { new CgroupLimits { CpuFraction = double.NaN }, "CpuFraction", "positive" },
        { new CgroupLimits { CpuFraction = double.PositiveInfinity }, "CpuFraction", "positive" },
        { new CgroupLimits { CpuFraction = 0.005 }, "CpuFraction", "under 1 ms" },
        { new CgroupLimits { CpuFraction = 1e12 }, "CpuFraction", "maximum" },
        { new CgroupLimits { CpuFraction = 1, CpuPeriod = TimeSpan.FromSeconds(2) }, "CpuPeriod", "1 ms .. 1 s" },
        { new CgroupLimits { CpuWeight = 0 }, "CpuWeight", "1..10000" },
        { new CgroupLimits { CpuWeight = 10001 }, "CpuWeight", "1..10000" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Bad_limits_are_refused_naming_the_property(CgroupLimits limits, string option, string why)
    {
        var e = Assert.Throws<CgroupLimitsException>(limits.Validate);
        Assert.Equal(option, e.Option);
        Assert.Contains(why, e.Reason);
        Assert.StartsWith(option + ": ", e.Message);
    }

    [Fact]
    public void Good_limits_pass_and_print_in_binary_units()
    {
        var limits = new CgroupLimits { MemoryMax = 64 << 20, MemoryAndSwapMax = 64 << 20, PidsMax = 1, CpuFraction = 0.01, CpuWeight = 1 };
        limits.Validate();
        Assert.Equal("memory 64 MiB, memory+swap 64 MiB, pids 1, cpu 0.01 per 100 ms, cpu weight 1", limits.ToString());
        Assert.Equal("no limits", CgroupLimits.None.ToString());
        Assert.True(CgroupLimits.None.IsEmpty);
        Assert.False(limits.IsEmpty);
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(100, 1024)]
    [InlineData(200, 2048)]
    [InlineData(10000, 102400)]
    public void A_v2_weight_becomes_v1_shares_as_the_kernel_converts_it(int weight, long shares) =>
        Assert.Equal(shares, CgroupLimits.SharesFromWeight(weight));

    [Fact]
    public void The_quota_is_the_fraction_of_the_period()
    {
        var limits = new CgroupLimits { CpuFraction = 2.5, CpuPeriod = TimeSpan.FromMilliseconds(20) };
        Assert.Equal(20_000, limits.PeriodMicroseconds);
        Assert.Equal(50_000, limits.QuotaMicroseconds);
    }

    [Theory]
    [InlineData("", "cannot be empty")]
    [InlineData("a/../b", "'..'")]
    [InlineData("a\0b", "NUL")]
    public void Bad_parents_are_refused(string parent, string why)
    {
        var e = Assert.Throws<CgroupLimitsException>(new CgroupOptions { Parent = parent }.Validate);
        Assert.Equal("Parent", e.Option);
        Assert.Contains(why, e.Reason);
    }

    [Fact]
    public void A_parent_outside_every_cgroup_mount_is_refused()
    {
        var layout = FakeLayouts.Hybrid();
        var e = Assert.Throws<CgroupLimitsException>(() => ControlGroup.Create(new CgroupLimits { PidsMax = 2 }, new CgroupOptions { Parent = "/var/lib/x" }, layout, FakeLayouts.Files(layout)));
        Assert.Equal("Parent", e.Option);
        Assert.Contains("not inside a mounted cgroup hierarchy", e.Reason);
    }
}
