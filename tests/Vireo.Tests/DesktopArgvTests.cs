using Vireo.Engine;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Tests;

/// <summary>The QEMU arguments for SPICE desktops, Windows enlightenments, SMBIOS and disk limits, from the corpus documents.</summary>
public class DesktopArgvTests
{
    private static (DomainDef Def, List<string> Argv) Build(string corpusCase)
    {
        var d = DomainRules.ParseForDefine(CorpusTests.Read(corpusCase, "dumpxml.xml"));
        return (d, QemuArgv.Build(d, CorpusTests.Context(d)));
    }

    private static string After(List<string> argv, string flag) => argv[argv.IndexOf(flag) + 1];

    [Fact]
    public void Spice_options_become_the_spice_server_settings()
    {
        var (_, argv) = Build("spice-full");
        Assert.Equal("port=5930,addr=127.0.0.1,agent-mouse=on,disable-ticketing=on,image-compression=auto_glz,jpeg-wan-compression=never," +
                     "zlib-glz-wan-compression=never,playback-compression=off,streaming-video=filter,disable-copy-paste=on,disable-agent-file-xfer=on,seamless-migration=on",
            After(argv, "-spice"));
        Assert.Contains("""{"id":"audio1","driver":"spice"}""", argv);
    }

    [Fact]
    public void A_spice_desktop_gets_its_agent_channel_usb_redirection_and_sound()
    {
        var (_, argv) = Build("win11-installed");
        Assert.Contains("spicevmc,id=charchannel0,name=vdagent", argv);
        Assert.Contains("spicevmc,id=charredir0,name=usbredir", argv);
        Assert.Contains(argv, a => a.Contains("\"driver\":\"hda-duplex\"") && a.Contains("\"audiodev\":\"audio1\"") && a.Contains("\"bus\":\"sound0.0\""));
        Assert.Contains(argv, a => a.StartsWith("{\"driver\":\"qxl-vga\",\"id\":\"video0\",\"max_outputs\":1,\"ram_size\":67108864,\"vram_size\":67108864"));
    }

    [Fact]
    public void Hyper_v_enlightenments_are_cpu_flags()
    {
        var (_, argv) = Build("win10-hyperv-full");
        var cpu = After(argv, "-cpu");
        foreach (var flag in new[] { "hv-time=on", "hv-relaxed=on", "hv-vapic=on", "hv-spinlocks=0x1fff", "hv-vpindex=on", "hv-synic=on", "hv-stimer=on", "hv-vendor-id=KVMKVMKVM", "kvm=off" })
            Assert.Contains(flag, cpu.Split(','));
    }

    [Fact]
    public void Sysinfo_becomes_smbios_tables()
    {
        var (_, argv) = Build("sysinfo-smbios");
        var smbios = argv.Select((a, i) => (a, i)).Where(x => x.a == "-smbios").Select(x => argv[x.i + 1]).ToList();
        Assert.Equal(["type=0,vendor=Vireo,version=1.2", "type=1,manufacturer=ACME,product=Rocket,version=3,serial=SN-42,sku=SKU1,family=Birds",
            "type=2,manufacturer=ACME,product=Board1", "type=3,manufacturer=ACME,serial=CH-7", "type=11,value=vireo:test"], smbios);
    }

    [Fact]
    public void Spice_gl_and_tls_ports_are_refused_with_the_fix()
    {
        var d = DomainRules.ParseForDefine(CorpusTests.Read("spice-full", "dumpxml.xml"));
        d.Devices.Graphics[0].GlEnable = "yes";
        var e = Assert.Throws<LaunchException>(() => QemuArgv.Build(d, CorpusTests.Context(d)));
        Assert.Contains("render node", e.Message);
        d.Devices.Graphics[0].GlEnable = null;
        d.Devices.Graphics[0].TlsPort = 5999;
        e = Assert.Throws<LaunchException>(() => QemuArgv.Build(d, CorpusTests.Context(d)));
        Assert.Contains("TLS certificates", e.Message);
    }

    [Fact]
    public void Iotune_becomes_qemu_throttle_limits()
    {
        var d = DomainRules.ParseForDefine(CorpusTests.Read("disk-iotune", "dumpxml.xml"));
        Assert.Equal("""{"id":"/machine/peripheral/virtio-disk0/virtio-backend","bps":10485760,"bps_rd":0,"bps_wr":0,"iops":0,"iops_rd":400,"iops_wr":200}""",
            Vm.Throttle(d.Devices.Disks[0]).ToJsonString());
        d.Devices.Disks[0].Iotune = [("read_bytes_sec_max", "5"), ("write_iops_sec_max_length", "3"), ("size_iops_sec", "4096"), ("group_name", "g")];
        Assert.Equal("""{"id":"/machine/peripheral/virtio-disk0/virtio-backend","bps":0,"bps_rd":0,"bps_wr":0,"iops":0,"iops_rd":0,"iops_wr":0,"bps_rd_max":5,"iops_wr_max_length":3,"iops_size":4096,"group":"g"}""",
            Vm.Throttle(d.Devices.Disks[0]).ToJsonString());
    }

    [Fact]
    public void Every_iotune_limit_the_reader_takes_has_a_qemu_name()
    {
        string[] names =
        [
            "total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec", "write_iops_sec",
            "total_bytes_sec_max", "read_bytes_sec_max", "write_bytes_sec_max", "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max",
            "total_bytes_sec_max_length", "read_bytes_sec_max_length", "write_bytes_sec_max_length",
            "total_iops_sec_max_length", "read_iops_sec_max_length", "write_iops_sec_max_length", "size_iops_sec",
        ];
        var d = DomainRules.ParseForDefine($"""
            <domain type='qemu'><name>t</name><memory>65536</memory><devices><disk type='file' device='disk'><source file='/x.raw'/>
            <target dev='sda' bus='sata'/><iotune>{string.Concat(names.Select((n, i) => $"<{n}>{i + 1}</{n}>"))}<group_name>g</group_name></iotune></disk></devices></domain>
            """);
        var args = Vm.Throttle(d.Devices.Disks[0]);
        Assert.Equal("sata0-0-0", args["id"]!.GetValue<string>());
        Assert.Equal(1 + 19 + 1, args.Count);
        Assert.Equal(Enumerable.Range(1, 19).Select(i => (long)i), args.Where(kv => kv.Key is not ("id" or "group")).Select(kv => kv.Value!.GetValue<long>()));
    }

    [Fact]
    public void A_transitional_balloon_reaches_qemu_with_its_address()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>t</name><memory>65536</memory><devices><memballoon model='virtio-transitional'/></devices></domain>");
        var argv = QemuArgv.Build(d, CorpusTests.Context(d));
        Assert.Contains(argv, a => a.StartsWith("{\"driver\":\"virtio-balloon-pci-transitional\",\"id\":\"balloon0\",\"bus\":\"pci.0\",\"addr\":"));
    }

    [Fact]
    public void Usb2_companions_join_their_ehci_bus()
    {
        var (_, argv) = Build("usb2-ehci");
        Assert.Contains(argv, a => a.StartsWith("{\"driver\":\"ich9-usb-uhci2\",\"masterbus\":\"usb.0\",\"firstport\":2,"));
        Assert.Single(argv, a => a.Contains("\"id\":\"usb\""));
    }

    [Fact]
    public void Numatune_is_the_ram_backends_host_nodes_and_policy_as_libvirt_passes_it()
    {
        var (_, argv) = Build("numatune-strict");
        var libvirt = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Corpus", "numatune-strict", "qemu-argv")).Single(a => a.Contains("\"id\":\"pc.ram\""));
        var vireo = argv.Single(a => a.Contains("\"id\":\"pc.ram\""));
        Assert.Equal(System.Text.Json.Nodes.JsonNode.Parse(libvirt)!.ToJsonString(), System.Text.Json.Nodes.JsonNode.Parse(vireo)!.ToJsonString());
        Assert.Contains("memory-backend=pc.ram", argv[argv.IndexOf("-machine") + 1]);
    }
}
