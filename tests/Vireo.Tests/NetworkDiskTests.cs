using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Tests;

public class NetworkDiskTests
{
    private static DomainDef Guest(string disk) => DomainRules.ParseForDefine($"""
        <domain type='qemu'><name>n</name><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>
          <devices>{disk}</devices></domain>
        """);

    [Fact]
    public void Http_cdrom_and_nbd_disk_become_qemu_block_nodes_and_round_trip()
    {
        var d = Guest("""
            <disk type='network' device='cdrom'><source protocol='https' name='/iso/debian.iso'><host name='mirror.example' port='8443'/></source><target dev='hdc' bus='ide'/></disk>
            <disk type='network' device='disk'><driver name='qemu' type='qcow2'/><source protocol='nbd' name='vm1'><host name='10.0.0.5'/></source><target dev='vda' bus='virtio'/></disk>
            """);
        Assert.Equal("https://mirror.example:8443/iso/debian.iso", d.Devices.Disks[0].Url);
        Assert.Equal("nbd://10.0.0.5:10809/vm1", d.Devices.Disks[1].Url);
        var xml = DomainXml.Write(d);
        Assert.Contains("<source protocol='https' name='/iso/debian.iso'>", xml);
        Assert.Contains("<host name='mirror.example' port='8443'/>", xml);
        Assert.Contains("<host name='10.0.0.5'/>", xml);
        var argv = QemuArgv.Build(DomainRules.ParseForDefine(xml), new LaunchContext { Emulator = "/q", MonitorFd = 3, ChannelDir = "/c" });
        Assert.Contains("""{"driver":"https","url":"https://mirror.example:8443/iso/debian.iso","node-name":"ide0-1-0-storage","read-only":true}""", argv);
        Assert.Contains("""{"driver":"nbd","server":{"type":"inet","host":"10.0.0.5","port":"10809"},"node-name":"virtio-disk0-storage","read-only":false,"export":"vm1"}""", argv);
        Assert.Contains("""{"node-name":"virtio-disk0-format","read-only":false,"driver":"qcow2","file":"virtio-disk0-storage"}""", argv);
    }

    [Theory]
    [InlineData("<disk type='network' device='disk'><source protocol='http' name='/a.img'><host name='h'/></source><target dev='vda'/></disk>",
        "Disk 'vda' reads over http, which QEMU serves read-only; add <readonly/> (a CD-ROM is read-only anyway), or use the image as the backing image of a local qcow2.")]
    [InlineData("<disk type='network' device='cdrom'><source protocol='http' name='/a.iso'/><target dev='hdc' bus='ide'/></disk>",
        "Disk 'hdc' of type 'network' needs <source protocol='http|https|nbd' name='…'><host name='HOST' port='PORT'/></source>.")]
    [InlineData("<disk type='network' device='cdrom'><source protocol='https'><host name='h'/></source><target dev='hdc' bus='ide'/></disk>",
        "Disk 'hdc' needs the path of the file on the https server in <source name='/path/image.iso'>.")]
    public void Incomplete_network_disks_are_refused(string disk, string message)
    {
        var e = Assert.Throws<DefinitionException>(() => Guest(disk));
        Assert.Contains(message, e.Problems.Select(p => p.Message));
    }
}
