using Vireo.Model;

namespace Vireo.Tests;

public class StorageTests
{
    [Fact]
    public void Pool_define_reads_virsh_pool_dumpxml_and_writes_it_back()
    {
        var p = StorageRules.ParsePoolForDefine(GoldenFiles.Read("storage/default-pool.xml"), [], out var uuidGiven);
        Assert.True(uuidGiven);
        Assert.Equal("/var/lib/libvirt/images", p.TargetPath); // trailing slash dropped
        var written = StorageXml.WritePool(p, (100, 40, 60));
        GoldenFiles.Check("storage/default-pool.out.xml", written);
        Assert.Equal(written, StorageXml.WritePool(StorageXml.ParsePool(written), (100, 40, 60)));
    }

    [Fact]
    public void Volume_xml_reads_what_virsh_vol_dumpxml_prints()
    {
        var v = StorageXml.ParseVolume("""
            <volume type='file'>
              <name>web.qcow2</name>
              <key>/var/lib/libvirt/images/web.qcow2</key>
              <capacity unit='G'>20</capacity>
              <allocation unit='bytes'>200704</allocation>
              <target>
                <path>/var/lib/libvirt/images/web.qcow2</path>
                <format type='qcow2'/>
                <permissions><mode>0600</mode><owner>0</owner><group>0</group></permissions>
                <compat>1.1</compat>
                <features><lazy_refcounts/></features>
              </target>
              <backingStore><path>/var/lib/libvirt/images/base.qcow2</path><format type='qcow2'/></backingStore>
            </volume>
            """);
        Assert.Equal(("web.qcow2", 20UL << 30, 200704UL, "qcow2"), (v.Name, v.Capacity, v.Allocation!.Value, v.Format));
        Assert.Equal(("1.1", true, "/var/lib/libvirt/images/base.qcow2"), (v.Compat, v.LazyRefcounts, v.BackingPath));
        var xml = StorageXml.WriteVolume(v, "/pool/web.qcow2", 200704, 262144);
        Assert.Contains("<capacity unit='bytes'>21474836480</capacity>", xml);
        Assert.Contains("<key>/pool/web.qcow2</key>", xml);
        Assert.Equal(xml, StorageXml.WriteVolume(StorageXml.ParseVolume(xml), "/pool/web.qcow2", 200704, 262144));
    }

    [Theory]
    [InlineData("<volume><name>x</name><capacity>-5</capacity></volume>", "<capacity> of -5 bytes is negative")]
    [InlineData("<volume><name>x</name><capacity unit='parsecs'>5</capacity></volume>", "Unknown unit 'parsecs' in <capacity>")]
    [InlineData("<volume><name>x</name><capacity>1</capacity><target><format type='floppy'/></target></volume>", "Unsupported type of <format> 'floppy'")]
    [InlineData("<volume><name>x</name></volume>", "A <volume> needs <capacity")]
    [InlineData("<volume><name>x</name><capacity>1</capacity><encryption/></volume>", "line 1: Unsupported element <encryption> in <volume>")]
    public void Bad_volumes_get_exact_errors(string xml, string error)
    {
        var e = Assert.Throws<DefinitionException>(() => StorageXml.ParseVolume(xml));
        Assert.Contains(error, e.Message);
    }

    [Theory]
    [InlineData("<pool type='logical'><name>x</name></pool>", "Unsupported type of <pool> 'logical'; expected 'dir'.")]
    [InlineData("<pool type='dir'><name>x</name></pool>", "A dir pool needs <target><path>")]
    [InlineData("<pool type='dir'><name>x</name><target><path>images</path></target></pool>", "Pool path 'images' must be absolute.")]
    [InlineData("<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>", "Pool name 'a/b' is not allowed")]
    [InlineData("<pool type='dir'><name>x</name><target><path>/x</path><permissions><mode>999</mode></permissions></target></pool>", "Permission mode '999' is not an octal mode")]
    public void Bad_pools_get_exact_errors(string xml, string error)
    {
        var e = Assert.Throws<DefinitionException>(() => StorageRules.ParsePoolForDefine(xml, [], out _));
        Assert.Contains(error, e.Message);
    }

    [Fact]
    public void Pools_may_not_share_or_nest_directories()
    {
        var a = StorageRules.ParsePoolForDefine("<pool type='dir'><name>a</name><target><path>/srv/images</path></target></pool>", [], out _);
        var same = Assert.Throws<DefinitionException>(() => StorageRules.ParsePoolForDefine("<pool type='dir'><name>b</name><target><path>/srv/images/</path></target></pool>", [a], out _));
        Assert.Contains("Pool 'a' already uses /srv/images", same.Message);
        var nested = Assert.Throws<DefinitionException>(() => StorageRules.ParsePoolForDefine("<pool type='dir'><name>b</name><target><path>/srv/images/iso</path></target></pool>", [a], out _));
        Assert.Contains("contain one another", nested.Message);
        StorageRules.ParsePoolForDefine("<pool type='dir'><name>b</name><target><path>/srv/images-2</path></target></pool>", [a], out _);
    }

    [Theory]
    [InlineData("disk.qcow2", null)]
    [InlineData("../etc/passwd", "contains '/'")]
    [InlineData("a/b.img", "contains '/'")]
    [InlineData(".hidden", "is not allowed")]
    [InlineData("", "A volume needs a name.")]
    public void Volume_names_are_file_names_in_the_pool(string name, string? problem)
    {
        var p = StorageRules.VolumeNameProblem(name);
        if (problem is null) Assert.Null(p);
        else Assert.Contains(problem, p);
    }
}
