namespace Vireo.IntegrationTests;

/// <summary>vireo install (first layer: options, new pool volumes, define, start, --print-xml, --dry-run).</summary>
[Collection("vireo")]
public sealed class InstallTests(VireoFixture fx)
{
    [Fact]
    public async Task Install_makes_the_disk_defines_and_starts_the_domain()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var boot = $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1";
        var r = await d.RunAsync("install", "--name", "inst", "--os-variant", "generic", "--memory", "128", "--boot", boot,
            "--disk", "pool=default,size=0.03", "--network", "none", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Allocating 'inst.qcow2' (30.72 MiB) in pool 'default'", r.Stdout);
        Assert.Contains("Domain creation completed.", r.Stdout);
        Assert.StartsWith("running", await d.StateAsync("inst"));
        Assert.Matches($@"sda\s+{d.Images}/inst\.qcow2", await d.OkAsync("domblklist", "inst"));

        // --print-xml is what define takes, unchanged; --dry-run makes nothing.
        var xml = await d.OkAsync("install", "--name", "printed", "--os-variant", "debian12", "--import", "--disk", "vol=default/inst.qcow2", "--print-xml");
        Assert.Contains("<source pool='default' volume='inst.qcow2'/>", xml);
        await d.DefineAsync(xml);
        Assert.Contains("printed", await d.OkAsync("list", "--all", "--name"));
        Assert.Equal("Dry run completed successfully\n", await d.OkAsync("install", "--name", "dry", "--import", "--disk", "pool=default,size=1", "--os-variant", "generic", "--dry-run"));
        Assert.DoesNotContain("dry", await d.OkAsync("vol-list", "default"));

        // Bad options: exact errors, nothing made.
        Assert.Equal("error: Unknown --os-variant 'debain12'; close names: debian12, debian11 (or 'generic').\n",
            await d.FailAsync("install", "--name", "x", "--os-variant", "debain12", "--import"));
        Assert.Equal("error: Domain 'inst' already exists; pick another --name (or 'vireo undefine inst' first).\n",
            await d.FailAsync("install", "--name", "inst", "--os-variant", "generic", "--import", "--disk", "pool=default,size=0.01"));
        Assert.DoesNotContain("inst-", await d.OkAsync("vol-list", "default"));
    }
}
