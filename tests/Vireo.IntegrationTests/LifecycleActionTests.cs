namespace Vireo.IntegrationTests;

/// <summary>on_reboot / on_crash, a guest that ignores the power button, and qemu-img.</summary>
[Collection("vireo")]
public sealed class LifecycleActionTests(VireoFixture fx)
{
    [Fact]
    public async Task On_reboot_destroy_and_on_crash_actions_are_honoured()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        const string panic = "<panic model='isa'/>";
        await d.DefineAsync(d.GuestXml("rb", cmdlineExtra: "vireo.reboot=1", extra: "<on_reboot>destroy</on_reboot>"));
        await d.DefineAsync(d.GuestXml("crash", cmdlineExtra: "vireo.panic=1", devices: panic));
        await d.DefineAsync(d.GuestXml("keep", cmdlineExtra: "vireo.panic=1", devices: panic, extra: "<on_crash>preserve</on_crash>"));
        var events = Task.Run(() => d.RunAsync("event", "--all", "--loop", "--timeout", "600")); // ended by KillAsync below
        await Task.Delay(200);
        foreach (var n in new[] { "rb", "crash", "keep" }) await d.OkAsync("start", n);

        await d.WaitForSerialAsync("rb", "rebooting by itself");
        await d.WaitForStateAsync("rb", "shut off (shutdown)");

        await d.WaitForSerialAsync("crash", "panicking");
        await d.WaitForStateAsync("crash", "shut off (crashed)");

        await d.WaitForSerialAsync("keep", "panicking");
        await d.WaitForStateAsync("keep", "crashed (panicked)");
        Assert.Contains("\"status\":\"guest-panicked\"", await d.OkAsync("qemu-monitor-command", "keep", "{\"execute\":\"query-status\"}"));
        await d.OkAsync("destroy", "keep");
        Assert.Equal("shut off (destroyed)", await d.StateAsync("keep"));

        await d.KillAsync();
        var ev = (await events).Stdout;
        Assert.Contains("event 'lifecycle' for domain 'crash': Stopped Crashed", ev);
        Assert.Contains("event 'lifecycle' for domain 'keep': Crashed Panicked", ev);
        Assert.Contains("event 'lifecycle' for domain 'rb': Stopped Shutdown", ev);
    }

    [Fact]
    public async Task A_guest_that_ignores_the_power_button_is_reported_and_keeps_running()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("deaf", cmdlineExtra: "vireo.noacpid"));
        await d.OkAsync("start", "deaf");
        await d.WaitForSerialAsync("deaf", "VIREO-GUEST-READY");
        var err = await d.FailAsync("shutdown", "deaf", "--timeout", "3");
        Assert.Equal("error: Domain 'deaf' did not shut down within 3 s: the guest ignored the ACPI power button. Use 'vireo destroy deaf' to force it off.\n", err);
        Assert.StartsWith("running", await d.StateAsync("deaf"));
        await d.OkAsync("destroy", "deaf");
        Assert.Equal("shut off (destroyed)", await d.StateAsync("deaf"));
    }

    [Fact]
    public async Task Qemu_img_is_driven_through_its_json_output()
    {
        var dir = Directory.CreateTempSubdirectory("vireo-img-").FullName;
        try
        {
            var baseImg = Path.Combine(dir, "base.qcow2");
            await Vireo.Qemu.QemuImg.CreateAsync(baseImg, "qcow2", 64UL << 20);
            var info = await Vireo.Qemu.QemuImg.InfoAsync(baseImg);
            Assert.Equal(("qcow2", 64UL << 20, (string?)null), (info.Format, info.VirtualSize, info.BackingFile));
            var overlay = Path.Combine(dir, "overlay.qcow2");
            await Vireo.Qemu.QemuImg.CreateAsync(overlay, "qcow2", 0, backingFile: baseImg, backingFormat: "qcow2");
            var o = await Vireo.Qemu.QemuImg.InfoAsync(overlay);
            Assert.Equal((64UL << 20, baseImg), (o.VirtualSize, o.BackingFile));
            var e = await Assert.ThrowsAsync<Vireo.Host.CommandException>(() => Vireo.Qemu.QemuImg.InfoAsync(Path.Combine(dir, "missing.img")));
            Assert.Contains("missing.img", e.Message);
            Assert.Contains("qemu-img info --output=json", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
