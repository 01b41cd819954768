using Vireo.Model;

namespace Vireo.Tests;

public class DomainXmlTests
{
    private const string Minimal = """
        <domain type='qemu'>
          <name>vm1</name>
          <memory unit='MiB'>256</memory>
          <os><type>hvm</type></os>
        </domain>
        """;

    [Theory]
    [MemberData(nameof(GoldenFiles.Inputs), MemberType = typeof(GoldenFiles))]
    public void Define_fills_like_libvirt_and_dumpxml_round_trips(string name)
    {
        var def = DomainRules.ParseForDefine(GoldenFiles.Read(name + ".xml"));
        var written = DomainXml.Write(def);
        GoldenFiles.Check(name + ".out.xml", written);
        // What dumpxml prints must define again to the same thing.
        var again = DomainXml.Write(DomainRules.ParseForDefine(written));
        Assert.Equal(written, again);
    }

    [Fact]
    public void Deep_huge_and_entity_laden_documents_are_refused_before_a_tree_is_built()
    {
        string Nested(int levels) => string.Concat(Enumerable.Repeat("<a>", levels)) + string.Concat(Enumerable.Repeat("</a>", levels));
        string Doc(string metadata) => $"<domain type='qemu'><name>m</name><memory>65536</memory><os><type>hvm</type></os><metadata>{metadata}</metadata></domain>";
        // 16,000 levels (112 kB) once took 5 GB and 18 s; libxml2 (libvirt) stops at 256 too.
        var deep = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine(Doc(Nested(16_000))));
        Assert.Equal("The XML nests elements more than 256 levels deep (at <a>); flatten it.", deep.Problems.Single().Message);
        Assert.Equal(1, deep.Problems.Single().Line);
        // 200 levels is fine and round-trips.
        var ok = DomainRules.ParseForDefine(Doc(Nested(200)));
        var written = DomainXml.Write(ok);
        Assert.Equal(200, written.Split("<a>").Length - 1);
        Assert.True(written.Length < 100_000, $"200 levels written as {written.Length} characters");
        var huge = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine(Doc(new string('x', 5_000_000))));
        Assert.StartsWith("The XML is 5,000,", huge.Problems.Single().Message);
        Assert.Contains("the limit is 4,194,304 (4 MiB)", huge.Problems.Single().Message);
        var entity = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine("<!DOCTYPE d [<!ENTITY e 'x'>]>" + Doc("&e;")));
        Assert.StartsWith("The XML is not well-formed: ", entity.Problems.Single().Message);
        Assert.Contains("DTD", entity.Problems.Single().Message);
        // Plain words, not .NET's resource keys.
        var bad = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine("<domain><name>x</domain>"));
        Assert.Equal("The XML is not well-formed: The 'name' start tag on line 1 position 10 does not match the end tag of 'domain'. Line 1, position 18.", bad.Problems.Single().Message);
    }

    [Fact]
    public void A_device_alone_is_read_as_inside_devices()
    {
        var (kind, d) = DomainXml.ParseDevice("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/a.qcow2'/><target dev='vdb' bus='virtio'/></disk>");
        Assert.Equal("disk", kind);
        var disk = Assert.Single(d.Disks);
        Assert.Equal(("/i/a.qcow2", "qcow2", "vdb", "virtio"), (disk.Source, disk.Format, disk.TargetDev, disk.TargetBus));
        Assert.Empty(d.Interfaces);

        var (nicKind, n) = DomainXml.ParseDevice("<interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>");
        Assert.Equal("interface", nicKind);
        Assert.Equal("default", Assert.Single(n.Interfaces).SourceNetwork);
    }

    [Fact]
    public void A_device_document_names_its_problem_and_line()
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.ParseDevice("<disk type='file'>\n  <target dev='vdb'/>\n  <foo/>\n</disk>"));
        Assert.Equal("line 3: Unsupported element <foo> in <disk>; remove it or see the list of supported elements in ARCHITECTURE.md.", e.Message);
        var whole = Assert.Throws<DefinitionException>(() => DomainXml.ParseDevice(Minimal));
        Assert.Contains("Expected one device element (<disk>, <interface>, …), found <domain>", whole.Message);
        Assert.Contains("Unsupported element <nosuch> in <devices>", Assert.Throws<DefinitionException>(() => DomainXml.ParseDevice("<nosuch/>")).Message);
    }

    [Fact]
    public void Define_generates_uuid_mac_and_aliases()
    {
        var def = DomainRules.ParseForDefine("""
            <domain type='qemu'><name>n</name><memory>1024</memory><os><type>hvm</type></os>
              <devices>
                <disk type='file' device='disk'><source file='/x.img'/><target dev='vdb'/></disk>
                <interface type='user'/><interface type='user'/>
                <console type='pty'/>
              </devices>
            </domain>
            """);
        Assert.NotEqual(Guid.Empty, def.Uuid);
        Assert.All(def.Devices.Interfaces, n => Assert.StartsWith("52:54:00:", n.Mac));
        Assert.NotEqual(def.Devices.Interfaces[0].Mac, def.Devices.Interfaces[1].Mac);
        Assert.Equal(["net0", "net1"], def.Devices.Interfaces.Select(n => n.Alias));
        var disk = Assert.Single(def.Devices.Disks);
        Assert.Equal(("virtio", "raw", "virtio-disk1"), (disk.TargetBus, disk.Format, disk.Alias));
        // A console on a serial target brings its serial port, as in libvirt.
        var serial = Assert.Single(def.Devices.Serials);
        Assert.Equal(("pty", 0, "serial0"), (serial.Type, serial.TargetPort, serial.Alias));
        Assert.Equal(1024UL, def.CurrentMemoryKiB);
    }

    [Theory]
    [InlineData("2", "GiB", 2097152UL)]
    [InlineData("1000", "MB", 976563UL)]
    [InlineData("512", null, 512UL)]
    [InlineData("1048576", "bytes", 1024UL)]
    [InlineData("1", "T", 1073741824UL)]
    public void Memory_units_are_converted_to_KiB(string value, string? unit, ulong kib)
    {
        var u = unit is null ? "" : $" unit='{unit}'";
        var d = DomainXml.Parse($"<domain type='qemu'><name>m</name><memory{u}>{value}</memory><os><type>hvm</type></os></domain>");
        Assert.Equal(kib, d.MemoryKiB);
    }

    [Fact]
    public void Unsupported_element_is_named_with_its_line()
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.Parse("""
            <domain type='qemu'>
              <name>vm1</name>
              <memory>1024</memory>
              <devices>
                <gpu model='fast'/>
              </devices>
            </domain>
            """));
        var p = Assert.Single(e.Problems);
        Assert.Equal(5, p.Line);
        Assert.Contains("Unsupported element <gpu> in <devices>", p.Message);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.Parse("""
            <domain type='xen'>
              <name>vm1</name>
              <memory unit='parsecs'>3</memory>
              <frobnicate/>
              <devices><gpu/><disk type='nvme' device='disk'><target dev='vda'/></disk></devices>
            </domain>
            """));
        var text = string.Join("\n", e.Problems);
        Assert.Contains("line 1: Unsupported type of <domain> 'xen'", text);
        Assert.Contains("line 3: Bad memory size '3' unit 'parsecs'", text);
        Assert.Contains("line 4: Unsupported element <frobnicate> in <domain>", text);
        Assert.Contains("line 5: Unsupported element <gpu> in <devices>", text);
        Assert.Contains("Unsupported type of <disk> 'nvme'", text);
        Assert.Equal(5, e.Problems.Count);
    }

    [Fact]
    public void Malformed_xml_says_so_with_the_line()
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.Parse("<domain type='qemu'>\n<name>x</nam>\n</domain>"));
        Assert.StartsWith("line 2: The XML is not well-formed", e.Message);
    }

    [Fact]
    public void Network_xml_is_pointed_to_net_define()
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.Parse("<network><name>default</name></network>"));
        Assert.Contains("use net-define", e.Message);
    }

    [Theory]
    [InlineData("<name>bad/name</name><memory>1024</memory>", "Domain name 'bad/name' is not allowed")]
    [InlineData("<name>a</name>", "needs <memory> greater than zero")]
    [InlineData("<name>a</name><memory>1024</memory><vcpu current='4'>2</vcpu>", "vcpu current='4' must be between 1 and the maximum (2)")]
    [InlineData("<name>a</name><memory>1024</memory><vcpu>4</vcpu><cpu><topology sockets='1' cores='2' threads='1'/></cpu>", "CPU topology gives 2 CPUs")]
    [InlineData("<name>a</name><memory>1024</memory><devices><disk type='file' device='disk'><target dev='vda'/></disk></devices>", "Disk 'vda' has no <source>")]
    [InlineData("<name>a</name><memory>1024</memory><devices><disk type='file' device='disk'><source file='/a'/><target dev='vda'/></disk><disk type='file' device='disk'><source file='/b'/><target dev='vda'/></disk></devices>", "Disk target 'vda' is used twice")]
    [InlineData("<name>a</name><memory>1024</memory><devices><interface type='user'><mac address='52:54:00:00:00:01'/></interface><interface type='user'><mac address='52:54:00:00:00:01'/></interface></devices>", "MAC address '52:54:00:00:00:01' is used by more than one interface")]
    [InlineData("<name>a</name><memory>1024</memory><devices><interface type='network'/></devices>", "needs <source network='NAME'/>")]
    [InlineData("<name>a</name><memory>1024</memory><os><type>hvm</type><boot dev='hd'/></os><devices><disk type='file' device='disk'><source file='/a'/><target dev='vda'/><boot order='1'/></disk></devices>", "cannot be mixed")]
    public void Validation_names_the_problem(string body, string expected)
    {
        var e = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine($"<domain type='qemu'>{body}</domain>"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Multicast_and_malformed_macs_are_rejected()
    {
        var e = Assert.Throws<DefinitionException>(() => DomainXml.Parse(
            "<domain type='qemu'><name>a</name><memory>1</memory><devices><interface type='user'><mac address='01:00:5e:00:00:01'/></interface><interface type='user'><mac address='52:54:zz:00:00:01'/></interface></devices></domain>"));
        Assert.Contains("is a multicast address", e.Message);
        Assert.Contains("Malformed MAC address '52:54:zz:00:00:01'", e.Message);
    }

    [Fact]
    public void Minimal_definition_writes_libvirt_layout()
    {
        var d = DomainRules.ParseForDefine(Minimal);
        var xml = DomainXml.Write(d);
        Assert.StartsWith("<domain type='qemu'>\n  <name>vm1</name>\n  <uuid>", xml);
        Assert.Contains("<memory unit='KiB'>262144</memory>", xml);
        Assert.Contains("<on_poweroff>destroy</on_poweroff>", xml);
    }

    [Theory]
    [InlineData("vda", 0)]
    [InlineData("vdb", 1)]
    [InlineData("sdz", 25)]
    [InlineData("sdaa", 26)]
    [InlineData("hdc", 2)]
    public void Disk_names_map_to_libvirt_indexes(string dev, int index) => Assert.Equal(index, DomainRules.DiskIndex(dev));

    [Fact]
    public void Pci_slots_are_assigned_on_define_and_stay_when_devices_are_added()
    {
        var first = DomainRules.ParseForDefine("""
            <domain type='qemu'><name>p</name><memory>65536</memory>
              <devices>
                <interface type='user'><mac address='52:54:00:00:00:01'/></interface>
                <video><model type='vga'/></video>
                <rng model='virtio'/>
              </devices>
            </domain>
            """);
        string Slot(AddressDef? a) => $"{a!.Get("bus")}:{a.Get("slot")}.{a.Get("function")}";
        Assert.Equal("0x00:0x02.0x0", Slot(first.Devices.Videos[0].Address)); // pc: video on slot 2
        var nicSlot = Slot(first.Devices.Interfaces[0].Address);
        var rngSlot = Slot(first.Devices.Rngs[0].Address);
        Assert.NotEqual(nicSlot, rngSlot);

        // What dumpxml printed, plus a new disk and a channel (which brings a virtio-serial controller).
        var xml = DomainXml.Write(first).Replace("<devices>", """
            <devices>
                <disk type='file' device='disk'><source file='/d.img'/><target dev='vda'/></disk>
                <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
            """);
        var second = DomainRules.ParseForDefine(xml);
        Assert.Equal(nicSlot, Slot(second.Devices.Interfaces[0].Address));
        Assert.Equal(rngSlot, Slot(second.Devices.Rngs[0].Address));
        var slots = new[] { second.Devices.Disks[0].Address, second.Devices.Controllers.Single(c => c.Type == "virtio-serial").Address, second.Devices.Interfaces[0].Address, second.Devices.Rngs[0].Address, second.Devices.Videos[0].Address }
            .Select(Slot).ToList();
        Assert.Equal(slots.Count, slots.Distinct().Count());
    }
}
