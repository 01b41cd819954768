using System.Xml.Linq;
namespace Vireo.IntegrationTests;

[Collection("vireo")]
public sealed class HostTests(VireoFixture fx)
{
    [Fact]
    public async Task Host_validate_prints_a_verdict_per_check_with_hints()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var r = await d.RunAsync("host-validate");
        Assert.Contains("QEMU: Checking for hardware virtualization", r.Stdout);
        Assert.Contains("QEMU: Checking if device /dev/net/tun exists", r.Stdout);
        Assert.Matches(@"QEMU: Checking for qemu-system-x86_64 +: PASS \(QEMU emulator version", r.Stdout);
        var kvm = Vireo.Host.HostProbe.Kvm();
        if (!kvm.Usable && File.Exists("/dev/kvm"))
        {
            // /dev/kvm is there but cannot run guests (kvm_pvm here): told apart, with a hint.
            Assert.Contains($"Checking if KVM can run guests", r.Stdout);
            Assert.Contains($": FAIL ({kvm.Reason})", r.Stdout);
            Assert.Contains("hint: Use <domain type='qemu'> (TCG) here", r.Stdout);
            Assert.Equal(1, r.ExitCode);
        }
        var vhost = File.Exists("/dev/vhost-net") ? "PASS" : "WARN";
        Assert.Matches($@"Checking if device /dev/vhost-net exists +: {vhost}", r.Stdout);
    }

    [Fact]
    public async Task Capabilities_come_from_qemu_itself()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var caps = await d.OkAsync("capabilities");
        Assert.Contains("<emulator>/usr/bin/qemu-system-x86_64</emulator>", caps);
        Assert.Matches("<machine canonical='pc-i440fx-[0-9.]+' maxCpus='[0-9]+'>pc</machine>", caps);
        Assert.Matches("<machine canonical='pc-q35-[0-9.]+' maxCpus='[0-9]+'>q35</machine>", caps);
        Assert.Contains("<domain type='qemu'/>", caps);
        Assert.Equal(Vireo.Host.HostProbe.Kvm().Usable, caps.Contains("<domain type='kvm'/>"));
        var dom = await d.OkAsync("domcapabilities");
        Assert.Contains("<model usable='yes'>qemu64</model>", dom);
        Assert.Contains("<domain>qemu</domain>", dom);
        // What this host's QEMU, swtpm and OVMF give a guest, as virt-install reads it.
        var devices = XElement.Parse(dom).Element("devices")!;
        string[] Values(string dev, string e) => devices.Element(dev)!.Elements("enum").Single(x => x.Attribute("name")!.Value == e).Elements("value").Select(v => v.Value).ToArray();
        Assert.Contains("spice", Values("graphics", "type"));
        Assert.Contains("qxl", Values("video", "modelType"));
        Assert.Equal(["passthrough", "emulator"], Values("tpm", "backendModel"));
        Assert.Equal(["1.2", "2.0"], Values("tpm", "backendVersion"));
        Assert.Contains("/usr/share/OVMF/OVMF_CODE_4M.fd", XElement.Parse(await d.OkAsync("domcapabilities", "--machine", "q35")).Element("os")!.Element("loader")!.Elements("value").Select(v => v.Value));
        Assert.Contains("QEMU has no machine type 'nope'", await d.FailAsync("domcapabilities", "--machine", "nope"));
    }

    [Fact]
    public async Task The_cli_says_how_to_reach_a_daemon_that_is_not_there()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.KillAsync();
        File.Delete(d.Socket);
        var err = await d.FailAsync("list");
        Assert.Equal($"error: failed to connect to the daemon at unix:{d.Socket}: No such file or directory. Start it with './vireo daemon', or point --connect / VIREO_CONNECT at its socket.\n", err);
    }
}
