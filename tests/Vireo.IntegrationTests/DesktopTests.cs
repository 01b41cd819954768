using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Vireo.IntegrationTests;

/// <summary>A SPICE desktop of the kind virt-install writes, started under TCG by the real QEMU; and what is refused at start.</summary>
[Collection("vireo")]
public sealed class DesktopTests(VireoFixture fx)
{
    [Fact]
    public async Task A_spice_desktop_gets_its_own_port_a_password_sound_usb_redirection_and_disk_limits()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var disk = Path.Combine(d.Root, "desk.raw");
        await using (var f = File.Create(disk)) f.SetLength(16 << 20);
        await d.DefineAsync(d.GuestXml("desk", devices: $"""
            <disk type='file' device='disk'>
              <driver name='qemu' type='raw'/><source file='{disk}'/><target dev='vda' bus='virtio'/>
              <iotune><total_bytes_sec>10485760</total_bytes_sec><read_iops_sec>400</read_iops_sec></iotune>
            </disk>
            <controller type='usb' model='ich9-ehci1'/>
            <controller type='usb' model='ich9-uhci1'><master startport='0'/></controller>
            <controller type='usb' model='ich9-uhci2'><master startport='2'/></controller>
            <controller type='usb' model='ich9-uhci3'><master startport='4'/></controller>
            <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
            <input type='tablet' bus='usb'/>
            <graphics type='spice' port='-1' tlsPort='-1' autoport='yes' passwd='s3cret'><image compression='off'/></graphics>
            <sound model='ich9'/>
            <video><model type='qxl'/></video>
            <redirdev bus='usb' type='spicevmc'/>
            <redirdev bus='usb' type='spicevmc'/>
            <watchdog model='i6300esb' action='reset'/>
            """));
        var inactive = await d.OkAsync("dumpxml", "desk");
        Assert.Contains("<audio id='1' type='spice'/>", inactive);
        Assert.Contains("<model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>", inactive);
        Assert.Contains("<graphics type='spice' autoport='yes'", inactive);

        await d.OkAsync("start", "desk");
        await d.WaitForSerialAsync("desk", "VIREO-GUEST-READY");

        // The port QEMU serves on is the one the live XML names; the password locks it (set over QMP).
        var live = await d.OkAsync("dumpxml", "desk");
        var port = int.Parse(Regex.Match(live, "<graphics type='spice' port='(\\d+)' autoport='yes'").Groups[1].Value);
        Assert.InRange(port, 5900, 65535);
        var spice = Return(await d.OkAsync("qemu-monitor-command", "desk", "{\"execute\":\"query-spice\"}"));
        Assert.True(spice["enabled"]!.GetValue<bool>());
        Assert.Equal(port, spice["port"]!.GetValue<int>());
        Assert.Equal("127.0.0.1", spice["host"]!.GetValue<string>());
        Assert.Equal("spice", spice["auth"]!.GetValue<string>());
        Assert.DoesNotContain("s3cret", File.ReadAllText(Path.Combine(d.RunDir, "qemu", "desk.log")));

        // The devices libvirt would give this guest are in the running QEMU.
        var tree = await d.OkAsync("qemu-monitor-command", "desk", "--hmp", "info qtree");
        foreach (var dev in new[] { "qxl-vga", "ich9-intel-hda", "hda-duplex", "usb-redir", "ich9-usb-ehci1", "ich9-usb-uhci3", "virtserialport", "i6300esb" })
            Assert.Contains($"dev: {dev}", tree);
        Assert.Equal(2, Regex.Matches(tree, "dev: usb-redir").Count);
        Assert.Contains("name = \"com.redhat.spice.0\"", tree);

        // <iotune> is QEMU's throttle on the disk.
        var blk = Return(await d.OkAsync("qemu-monitor-command", "desk", "{\"execute\":\"query-block\"}")).AsArray()
            .Single(b => b!["qdev"]?.GetValue<string>() == "/machine/peripheral/virtio-disk0/virtio-backend")!["inserted"]!;
        Assert.Equal(10485760, blk["bps"]!.GetValue<long>());
        Assert.Equal(400, blk["iops_rd"]!.GetValue<long>());
        Assert.Equal(0, blk["iops_wr"]!.GetValue<long>());

        await d.OkAsync("destroy", "desk");
        Assert.DoesNotContain(" port='", Regex.Match(await d.OkAsync("dumpxml", "desk"), "<graphics[^>]*>").Value);
    }

    [Fact]
    public async Task What_is_kept_but_not_carried_out_defines_and_is_refused_at_start_with_the_element_named()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("tpm", devices: "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm-nosuch'/></backend></tpm>"));
        await d.DefineAsync(d.GuestXml("pin", extra: "<cputune><vcpusched vcpus='0' scheduler='fifo' priority='1'/></cputune>"));
        await d.DefineAsync(d.GuestXml("gl", devices: "<graphics type='spice' autoport='yes'><gl enable='yes'/></graphics><video><model type='virtio'/></video>"));

        var r = await d.FailAsync("start", "tpm");
        Assert.Contains("<tpm><backend type='passthrough'> uses the host's TPM at /dev/tpm-nosuch, which this host does not have; use <backend type='emulator' version='2.0'/> (swtpm) instead", r);
        r = await d.FailAsync("start", "pin");
        Assert.Contains("<cputune><vcpusched> is kept in the definition but not applied by Vireo yet; remove it to start this guest.", r);
        r = await d.FailAsync("start", "gl");
        Assert.Contains("<gl enable='yes'/> needs a GPU render node (/dev/dri)", r);
        foreach (var n in new[] { "tpm", "pin", "gl" }) Assert.StartsWith("shut off", await d.StateAsync(n));
        Assert.Empty(Directory.GetFiles(Path.Combine(d.RunDir, "qemu"), "*.monitor"));
    }

    private static JsonNode Return(string qmpOutput)
    {
        var node = JsonNode.Parse(qmpOutput)!;
        return node is JsonObject o && o["return"] is { } r ? r : node;
    }
}
