using Vireo.Api;
using Vireo.Cli;
using Vireo.Model;

namespace Vireo.Tests;

public class SnapshotOvfTests
{
    [Fact]
    public void Snapshot_xml_round_trips_with_its_domain_and_external_disks()
    {
        var s = new SnapshotDef
        {
            Name = "before-upgrade", Description = "clean", State = "disk-snapshot", Parent = "base", CreationTime = 1700000000,
            Disks = [new SnapshotDiskDef { Name = "vda", Snapshot = "external", SourceFile = "/pool/disk.before-upgrade", DriverType = "qcow2" }],
            Domain = DomainRules.ParseForDefine("<domain type='qemu'><name>web</name><memory unit='MiB'>128</memory><devices><disk type='file' device='disk'><source file='/pool/disk.raw'/><target dev='vda'/></disk></devices></domain>"),
        };
        var xml = SnapshotXml.Write(s, current: true);
        Assert.Contains("<disk name='vda' snapshot='external' type='file'>\n      <driver type='qcow2'/>\n      <source file='/pool/disk.before-upgrade'/>", xml);
        Assert.Contains("<active>1</active>", xml);
        Assert.Contains("<source file='/pool/disk.raw'/>", xml);
        var back = SnapshotXml.Parse(xml);
        Assert.Equal((s.Name, s.Description, s.State, s.Parent, s.CreationTime), (back.Name, back.Description, back.State, back.Parent, back.CreationTime));
        Assert.True(back.IsExternal);
        Assert.Equal("/pool/disk.before-upgrade", back.Disks[0].SourceFile);
        Assert.Equal("/pool/disk.raw", back.Domain!.Devices.Disks[0].Source);
        Assert.Equal(xml, SnapshotXml.Write(back, current: true));
    }

    [Fact]
    public void Snapshot_xml_from_the_user_is_checked()
    {
        var e = Assert.Throws<DefinitionException>(() => SnapshotXml.Parse("<domainsnapshot><name>x</name><memory snapshot='external'/></domainsnapshot>"));
        Assert.Contains("external", e.Message);
        Assert.Throws<DefinitionException>(() => SnapshotXml.Parse("<domain><name>x</name></domain>"));
    }

    [Fact]
    public void A_volume_disk_keeps_pool_and_volume_and_gets_no_format_until_start()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>v</name><memory unit='MiB'>64</memory><devices><disk type='volume' device='disk'><source pool='default' volume='v.qcow2'/><target dev='vda'/></disk></devices></domain>");
        var disk = d.Devices.Disks[0];
        Assert.Equal(("volume", "default", "v.qcow2", null, null), (disk.Type, disk.SourcePool, disk.SourceVolume, disk.Source, disk.Format));
        Assert.Contains("<source pool='default' volume='v.qcow2'/>", DomainXml.Write(d));
        var bad = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine("<domain type='qemu'><name>v</name><memory unit='MiB'>64</memory><devices><disk type='volume' device='disk'><source pool='default' volume='a/b'/><target dev='vda'/></disk><disk type='volume' device='disk'><source pool='default'/><target dev='vdb'/></disk></devices></domain>"));
        Assert.Contains("Disk 'vda': Volume name 'a/b' contains '/'; a volume is a file directly in its pool.", bad.Message);
        Assert.Contains("Disk 'vdb' of type 'volume' needs <source pool='POOL' volume='VOLUME'/>.", bad.Message);
    }

    private const string Ovf = """
        <Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/2"
                  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
          <References><File ovf:id="f1" ovf:href="a.vmdk"/><File ovf:id="f2" ovf:href="b.vmdk"/></References>
          <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1"/><Disk ovf:diskId="d2" ovf:fileRef="f2"/></DiskSection>
          <VirtualSystem ovf:id="vm-id">
            <VirtualHardwareSection>
              <Item><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity></Item>
              <Item><rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
              <Item><rasd:InstanceID>10</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>
              <Item><rasd:InstanceID>11</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
              <Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>10</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
              <Item><rasd:HostResource>ovf:/disk/d2</rasd:HostResource><rasd:Parent>11</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
              <Item><rasd:ResourceType>10</rasd:ResourceType></Item>
              <Item><rasd:ResourceType>10</rasd:ResourceType></Item>
            </VirtualHardwareSection>
          </VirtualSystem>
        </Envelope>
        """;

    [Fact]
    public void Ovf_descriptors_give_name_cpus_memory_disks_and_nics()
    {
        var m = Vireo.Model.Ovf.Parse(Ovf);
        Assert.Equal(("vm-id", 4, 2048UL, 2), (m.Name, m.Cpus, m.MemoryMiB, m.Nics));
        Assert.Equal([new OvfDisk("a.vmdk", "scsi"), new OvfDisk("b.vmdk", "ide")], m.Disks);
        var e = Assert.Throws<DefinitionException>(() => Vireo.Model.Ovf.Parse(Ovf.Replace("ovf:/disk/d2", "ovf:/disk/d9")));
        Assert.Contains("points at 'ovf:/disk/d9', which the descriptor's References do not hold", e.Message);
        Assert.Contains("not well-formed", Assert.Throws<DefinitionException>(() => Vireo.Model.Ovf.Parse("<Envelope>")).Message);
    }

    [Fact]
    public void Snapshot_tree_is_drawn_like_virsh()
    {
        static SnapshotInfo S(string n, string? p) => new(n, "d", 0, "running", p, false, "internal", null, 0, 0);
        var tree = CliMain.SnapshotTree([S("a", null), S("b", "a"), S("c", "b"), S("d", "a")]);
        Assert.Equal("a\n  |\n  +- b\n  |   |\n  |   +- c\n  |\n  +- d\n\n", tree);
    }

    [Theory]
    [InlineData("-1G", "Capacity '-1G' is negative; sizes are 0 or more (to make a volume smaller use vol-resize --shrink).")]
    [InlineData("ten", "Capacity 'ten' is not a size; write a number with an optional unit, like 10G, 512M or 1073741824.")]
    [InlineData("3X", "Capacity '3X' is not a size; write a number with an optional unit, like 10G, 512M or 1073741824.")]
    public void Sizes_on_the_command_line_are_checked(string text, string message) =>
        Assert.Equal(message, Assert.Throws<CliException>(() => CliMain.ParseSize(text, "Capacity")).Message);

    [Fact]
    public void Sizes_on_the_command_line_use_virsh_units() =>
        Assert.Equal((1UL << 30, 1_000_000UL, 512UL), (CliMain.ParseSize("1G", "x"), CliMain.ParseSize("1MB", "x"), CliMain.ParseSize("512", "x")));
}
