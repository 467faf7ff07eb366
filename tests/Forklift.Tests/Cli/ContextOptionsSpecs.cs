using Forklift.Cli.Explain;
using Forklift.Rules;
using Forklift.Verification;
using Xunit;

namespace Forklift.Tests.Cli;

/// <summary>
/// The caller options of <c>explain</c> gathered in <see cref="ContextOptions"/>: the model's view of the
/// caller, and the recipe that makes the same caller real for <c>--verify</c>.
/// </summary>
public sealed class ContextOptionsSpecs
{
    private static readonly CallerContext Live = CallerContext.Root;

    [Fact]
    public void No_option_leaves_the_live_context_as_it_is()
    {
        var options = new ContextOptions();

        Assert.Equal(Live, options.ToModel(Live));
        Assert.True(options.TryToRecipe(Live, out var recipe, out _));
        Assert.Equal(ContextRecipe.Plain, recipe);
    }

    [Fact]
    public void A_uid_other_than_0_loses_global_root_and_every_capability_unless_caps_are_given()
    {
        var bare = new ContextOptions { Uid = 1000 }.ToModel(Live);
        var withCaps = new ContextOptions { Uid = 1000, Caps = 1UL << Capabilities.SysAdmin }.ToModel(Live);

        Assert.Equal(1000u, bare.Uid);
        Assert.False(bare.IsGlobalRoot);
        Assert.Equal(0UL, bare.Capabilities);
        Assert.Equal(1UL << Capabilities.SysAdmin, withCaps.Capabilities);
    }

    [Fact]
    public void Dropped_capabilities_come_off_the_set_last()
    {
        var c = new ContextOptions { DropCaps = 1UL << Capabilities.SysAdmin }.ToModel(Live);

        Assert.False(c.Has(Capabilities.SysAdmin));
        Assert.True(c.Has(Capabilities.CheckpointRestore));
    }

    [Fact]
    public void An_unmapped_user_namespace_is_at_least_level_1_and_has_no_mapping()
    {
        var c = new ContextOptions { UserNsUnmapped = true }.ToModel(Live);

        Assert.Equal(1, c.UserNsLevel);
        Assert.False(c.UidMapped);
        Assert.False(c.IsGlobalRoot);
    }

    [Fact]
    public void As_init_goes_one_pid_namespace_deeper_unless_the_level_is_given()
    {
        var relative = new ContextOptions { AsInit = true }.ToModel(Live);
        var absolute = new ContextOptions { AsInit = true, PidNsLevel = 3 }.ToModel(Live);

        Assert.Equal((1, true), (relative.PidNsLevel, relative.IsPidNsInit));
        Assert.Equal((3, true), (absolute.PidNsLevel, absolute.IsPidNsInit));
    }

    [Fact]
    public void An_exited_pid_namespace_init_implies_an_unshared_pid_namespace()
    {
        var c = new ContextOptions { PidNsInitExited = true }.ToModel(Live);

        Assert.True(c.PidNsForChildrenUnshared);
        Assert.True(c.PidNsForChildrenInitExited);
    }

    [Fact]
    public void The_recipe_nests_namespaces_up_to_the_requested_levels()
    {
        Assert.True(new ContextOptions { UserNsLevel = 2, PidNsLevel = 3, AsInit = true }.TryToRecipe(Live, out var recipe, out _));

        Assert.Equal(2, recipe.UserNsNesting);
        Assert.Equal(RecipeUserNs.None, recipe.UserNs);
        Assert.Equal(2, recipe.PidNsNesting);
        Assert.True(recipe.AsInit);
        var model = recipe.ToModel(Live);
        Assert.Equal((2, 3, true), (model.UserNsLevel, model.PidNsLevel, model.IsPidNsInit));
    }

    [Fact]
    public void The_recipe_ends_in_an_unmapped_user_namespace_at_the_requested_level()
    {
        Assert.True(new ContextOptions { UserNsLevel = 3, UserNsUnmapped = true }.TryToRecipe(Live, out var recipe, out _));

        Assert.Equal(RecipeUserNs.Unmapped, recipe.UserNs);
        Assert.Equal(2, recipe.UserNsNesting);
        Assert.Equal(3, recipe.ToModel(Live).UserNsLevel);
    }

    [Fact]
    public void The_recipe_keeps_root_for_uid_0_and_folds_dropped_capabilities_into_caps()
    {
        Assert.True(new ContextOptions { Uid = 0, DropCaps = 1UL << Capabilities.SysAdmin }.TryToRecipe(Live, out var recipe, out _));

        Assert.Null(recipe.Uid);
        Assert.Equal(Live.Capabilities & ~(1UL << Capabilities.SysAdmin), recipe.Caps);
    }

    [Fact]
    public void The_recipe_cannot_go_back_to_a_shallower_namespace_or_another_kernel()
    {
        var deep = Live with { UserNsLevel = 2, PidNsLevel = 2 };

        Assert.False(new ContextOptions { UserNsLevel = 1 }.TryToRecipe(deep, out _, out var whyUser));
        Assert.False(new ContextOptions { PidNsLevel = 1 }.TryToRecipe(deep, out _, out var whyPid));
        Assert.False(new ContextOptions { Kernel = new KernelVersion(6, 8) }.TryToRecipe(Live, out _, out var whyKernel));
        Assert.Contains("user namespace depth 1", whyUser);
        Assert.Contains("pid namespace depth 1", whyPid);
        Assert.Contains("drop --kernel", whyKernel);
    }
}
