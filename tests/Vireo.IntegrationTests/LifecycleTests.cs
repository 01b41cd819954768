using System.Diagnostics;

namespace Vireo.IntegrationTests;

[Collection("vireo")]
public sealed class LifecycleTests(VireoFixture fx)
{
    [Fact]
    public async Task Define_start_pause_resume_reboot_shutdown_undefine()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var events = Task.Run(() => d.RunAsync("event", "--all", "--loop", "--timeout", "600")); // ended by KillAsync below
        var share = Directory.CreateDirectory(Path.Combine(d.Root, "share")).FullName;
        var data = Path.Combine(d.Root, "data.img");
        await File.WriteAllBytesAsync(data, new byte[4 << 20]);
        await d.DefineAsync(d.GuestXml("life", appendLog: true, devices: $"""
            <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
            <filesystem type='mount' accessmode='mapped'><source dir='{share}'/><target dir='hostshare'/></filesystem>
            <disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' io='native'/><source file='{data}'/><target dev='sda' bus='sata'/></disk>
            """));
        Assert.Contains(" -    life   shut off", await d.OkAsync("list", "--all"));
        Assert.Equal("shut off (unknown)", await d.StateAsync("life"));

        Assert.Equal("Domain 'life' started\n", await d.OkAsync("start", "life"));
        Assert.Equal("running (booted)", await d.StateAsync("life"));
        await d.WaitForSerialAsync("life", "VIREO-GUEST-READY");
        var serial = await File.ReadAllTextAsync(d.SerialLog("life"));
        Assert.Contains("VIREO-GUEST: cpus 1", serial);
        Assert.Contains("VIREO-GUEST: rng virtio_rng.0", serial);
        Assert.Contains("VIREO-GUEST: 9p hostshare", serial);
        Assert.Contains("VIREO-GUEST: disk sda 4194304 bytes ro=0", serial);

        var list = await d.OkAsync("list");
        Assert.Matches(@" 1 +life +running", list);
        Assert.Equal("1", (await d.OkAsync("domid", "life")).Trim());
        var uuid = (await d.OkAsync("domuuid", "life")).Trim();
        Assert.Equal("life", (await d.OkAsync("domname", uuid)).Trim());
        Assert.Equal("life", (await d.OkAsync("domname", "1")).Trim());
        var info = await d.OkAsync("dominfo", "life");
        Assert.Contains("State:          running", info);
        Assert.Contains("Max memory:     131072 KiB", info);
        Assert.Contains("Persistent:     yes", info);

        // The running XML carries the id and the pty QEMU chose; the inactive one does not.
        var live = await d.OkAsync("dumpxml", "life");
        Assert.StartsWith("<domain type='qemu' id='1'>", live);
        Assert.Matches("<source path='/dev/pts/[0-9]+'/>", live);
        Assert.DoesNotContain("/dev/pts", await d.OkAsync("dumpxml", "life", "--inactive"));

        Assert.Equal("VM status: running", (await d.OkAsync("qemu-monitor-command", "life", "--hmp", "info", "status")).Trim());
        Assert.Contains("\"status\":\"running\"", await d.OkAsync("qemu-monitor-command", "life", "{\"execute\":\"query-status\"}"));

        Assert.Equal("Domain 'life' suspended\n", await d.OkAsync("suspend", "life"));
        Assert.Equal("paused (user)", await d.StateAsync("life"));
        Assert.Contains("\"status\":\"paused\"", await d.OkAsync("qemu-monitor-command", "life", "{\"execute\":\"query-status\"}"));
        Assert.Contains("is not running", await d.FailAsync("suspend", "life"));
        Assert.Equal("Domain 'life' resumed\n", await d.OkAsync("resume", "life"));
        Assert.Equal("running (unpaused)", await d.StateAsync("life"));

        // ACPI reboot: the guest powers off, QEMU pauses instead of exiting, the engine resets it.
        Assert.Equal("Domain 'life' is being rebooted\n", await d.OkAsync("reboot", "life"));
        await d.WaitForSerialAsync("life", "VIREO-GUEST-READY", count: 2);
        Assert.Contains("power button", await File.ReadAllTextAsync(d.SerialLog("life")));
        Assert.Equal("running (unpaused)", await d.StateAsync("life"));

        Assert.Equal("Domain 'life' was reset\n", await d.OkAsync("reset", "life"));
        await d.WaitForSerialAsync("life", "VIREO-GUEST-READY", count: 3);

        Assert.Equal("Domain 'life' has been shut down\n", await d.OkAsync("shutdown", "life"));
        Assert.Equal("shut off (shutdown)", await d.StateAsync("life"));
        Assert.Contains("is not running", await d.FailAsync("destroy", "life"));
        Assert.Contains(" -    life   shut off", await d.OkAsync("list", "--all"));
        Assert.DoesNotContain("life", await d.OkAsync("list"));
        Assert.Empty(d.QemuPids());
        Assert.False(File.Exists(Path.Combine(d.RunDir, "qemu", "life.monitor")));

        Assert.Equal("Domain 'life' has been undefined\n", await d.OkAsync("undefine", "life"));
        Assert.DoesNotContain("life", await d.OkAsync("list", "--all"));
        Assert.False(File.Exists(Path.Combine(d.ConfigDir, "qemu", "life.xml")));

        await d.KillAsync(); // ends the event stream
        var ev = (await events).Stdout;
        var expected = new[]
        {
            "event 'lifecycle' for domain 'life': Defined Added",
            "event 'lifecycle' for domain 'life': Started Booted",
            "event 'lifecycle' for domain 'life': Suspended Paused",
            "event 'lifecycle' for domain 'life': Resumed Unpaused",
            "event 'reboot' for domain 'life'",
            "event 'lifecycle' for domain 'life': Shutdown Finished",
            "event 'lifecycle' for domain 'life': Stopped Shutdown",
            "event 'lifecycle' for domain 'life': Undefined Removed",
        };
        var pos = 0;
        foreach (var line in expected)
        {
            var i = ev.IndexOf(line, pos, StringComparison.Ordinal);
            Assert.True(i >= 0, $"missing or out of order: '{line}' in\n{ev}");
            pos = i;
        }
    }

    [Fact]
    public async Task Guest_poweroff_is_noticed_at_once_and_on_poweroff_restart_is_honoured()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("bye", cmdlineExtra: "vireo.poweroff=1"));
        await d.DefineAsync(d.GuestXml("again", cmdlineExtra: "vireo.poweroff=1", extra: "<on_poweroff>restart</on_poweroff>", appendLog: true));
        await d.OkAsync("start", "bye");
        await d.OkAsync("start", "again");
        await d.WaitForSerialAsync("bye", "powering off by itself");
        await d.WaitForStateAsync("bye", "shut off (shutdown)");
        Assert.False(d.QemuPids().ContainsKey("bye"));
        // "again" powers off, is reset by the engine, and boots once more.
        await d.WaitForSerialAsync("again", "VIREO-GUEST-READY", count: 2);
        Assert.StartsWith("running", await d.StateAsync("again"));
        await d.OkAsync("destroy", "again");
        Assert.Equal("shut off (destroyed)", await d.StateAsync("again"));
    }

    [Fact]
    public async Task Start_paused_then_resume_and_console_round_trip()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("con"));
        await d.OkAsync("start", "con", "--paused");
        Assert.Equal("paused (user)", await d.StateAsync("con"));
        await Task.Delay(500);
        Assert.False(File.Exists(d.SerialLog("con")) && (await File.ReadAllTextAsync(d.SerialLog("con"))).Contains("VIREO-GUEST-BOOTED"), "a paused guest must not run");
        await d.OkAsync("resume", "con");
        await d.WaitForSerialAsync("con", "VIREO-GUEST-READY");
        await Task.Delay(300); // let the console shell print its prompt

        // vireo console: type a command, see its output, leave with Ctrl+].
        var token = $"marker-{Guid.NewGuid():N}"[..20];
        var session = d.RunWithInputAsync(async stdin =>
        {
            await Task.Delay(700);
            await stdin.WriteAsync("\n");
            await stdin.FlushAsync();
            await Task.Delay(300);
            await stdin.WriteAsync($"echo {token}-$((6*7))\n");
            await stdin.FlushAsync();
            await Task.Delay(3000); // room for a slow TCG guest to echo it

            await stdin.WriteAsync("\u001d");
            await stdin.FlushAsync();
        }, "console", "con");
        await Task.Delay(500);
        // One session at a time: a second one is refused with the reason.
        Assert.Equal("error: A console session for 'con' is already open; use --force to take it over.\n", await d.FailAsync("console", "con"));
        var r = await session;
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Connected to domain 'con'", r.Stdout);
        Assert.Contains("Escape character is ^]", r.Stdout);
        Assert.Contains($"{token}-42", r.Stdout);
        await d.OkAsync("destroy", "con");
    }

    [Fact]
    public async Task Five_guests_start_in_parallel()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var names = Enumerable.Range(1, 5).Select(i => $"par{i}").ToList();
        foreach (var n in names) await d.DefineAsync(d.GuestXml(n, memoryMiB: 96));
        var starts = await Task.WhenAll(names.Select(n => d.RunAsync("start", n)));
        Assert.All(starts, r => Assert.True(r.ExitCode == 0, r.ToString()));
        var list = await d.OkAsync("list");
        foreach (var n in names) Assert.Matches($@" \d+ +{n} +running", list);
        Assert.Equal(5, d.QemuPids().Values.Distinct().Count());
        await Task.WhenAll(names.Select(n => d.WaitForSerialAsync(n, "VIREO-GUEST-READY", timeoutSeconds: 150)));
        var ids = new List<string>();
        foreach (var n in names) ids.Add((await d.OkAsync("domid", n)).Trim());
        Assert.Equal(5, ids.Distinct().Count());
        var destroys = await Task.WhenAll(names.Select(n => d.RunAsync("destroy", n)));
        Assert.All(destroys, r => Assert.True(r.ExitCode == 0, r.ToString()));
        Assert.Empty(d.QemuPids());
    }

    [Fact]
    public async Task Virt_install_q35_output_defines_and_boots()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var disk = Path.Combine(d.Root, "debian12.qcow2");
        using (var p = Process.Start("qemu-img", ["create", "-q", "-f", "qcow2", disk, "64M"])) await p.WaitForExitAsync();
        // What virt-install --print-xml gives for a q35 Linux guest (tests/Vireo.Tests/Golden), made to
        // run here: TCG instead of KVM, our test kernel instead of an installer ISO.
        var xml = File.ReadAllText(Path.Combine(fx.Repo, "tests", "Vireo.Tests", "Golden", "virt-install-q35.xml"))
            .Replace("<domain type=\"kvm\">", "<domain type=\"qemu\">")
            .Replace("<cpu mode=\"host-passthrough\"/>", "<cpu mode=\"host-model\"/>")
            .Replace("/var/lib/libvirt/images/debian12.qcow2", disk)
            .Replace("<source file=\"/srv/iso/debian-12.iso\"/>", "")
            .Replace("<memory>2097152</memory>", "<memory>262144</memory>").Replace("<currentMemory>2097152</currentMemory>", "<currentMemory>262144</currentMemory>")
            .Replace("<boot dev=\"hd\"/>", $"<kernel>{fx.GuestDir}/vmlinuz</kernel><initrd>{fx.GuestDir}/initrd.img</initrd><cmdline>console=ttyS0 quiet panic=-1 vireo.dhcp=eth0</cmdline>")
            .Replace("<console type=\"pty\"/>", $"<console type=\"pty\"><log file=\"{d.SerialLog("debian12")}\"/></console>");
        await d.DefineAsync(xml);
        await d.OkAsync("start", "debian12");
        await d.WaitForSerialAsync("debian12", "VIREO-GUEST-READY", timeoutSeconds: 120);
        var serial = await File.ReadAllTextAsync(d.SerialLog("debian12"));
        Assert.Contains("VIREO-GUEST: cpus 2", serial);
        Assert.Contains("VIREO-GUEST: disk vda 67108864 bytes ro=0", serial);
        Assert.Contains("VIREO-GUEST: nic eth0 52:54:00:3c:5d:7e", serial);
        Assert.Contains("VIREO-GUEST: disk sr0", serial);
        Assert.Contains("VIREO-GUEST: lease eth0 10.0.2.15/24", serial); // QEMU's user-mode DHCP, inside QEMU
        Assert.True(File.Exists(Path.Combine(d.RunDir, "qemu", "channel", "debian12", "org.qemu.guest_agent.0.sock")));
        Assert.Matches("<graphics type='vnc' port='59[0-9][0-9]'", await d.OkAsync("dumpxml", "debian12"));
        await d.OkAsync("destroy", "debian12");
        Assert.False(Directory.Exists(Path.Combine(d.RunDir, "qemu", "channel", "debian12")));
    }
}
