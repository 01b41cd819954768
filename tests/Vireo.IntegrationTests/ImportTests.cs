using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Vireo.Host;
using Vireo.Qemu;

namespace Vireo.IntegrationTests;

/// <summary>vireo import of OVA, VMDK, VHD and VDI images made in the test with the real qemu-img.</summary>
[Collection("vireo")]
public sealed class ImportTests(VireoFixture fx)
{
    private static string Ovf(string vmdk) => $"""
        <?xml version="1.0" encoding="UTF-8"?>
        <Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
                  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
          <References><File ovf:id="file1" ovf:href="{vmdk}"/></References>
          <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="33554432"/></DiskSection>
          <NetworkSection><Info>nets</Info><Network ovf:name="NAT"/></NetworkSection>
          <VirtualSystem ovf:id="appliance">
            <Info>A test appliance</Info>
            <Name>Test Appliance 1</Name>
            <VirtualHardwareSection>
              <Info>hardware</Info>
              <Item><rasd:ElementName>2 virtual CPUs</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
              <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>160 MB</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>160</rasd:VirtualQuantity></Item>
              <Item><rasd:ElementName>sataController0</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>20</rasd:ResourceType></Item>
              <Item><rasd:ElementName>disk1</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
              <Item><rasd:Connection>NAT</rasd:Connection><rasd:ElementName>Ethernet 1</rasd:ElementName><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
            </VirtualHardwareSection>
          </VirtualSystem>
        </Envelope>
        """;

    private static async Task<string> OvaAsync(string dir, string raw, bool damaged = false)
    {
        var vmdk = Path.Combine(dir, "appliance-disk1.vmdk");
        await Exec.CheckedAsync(QemuImg.Binary, ["convert", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk]);
        var ovf = Path.Combine(dir, "appliance.ovf");
        await File.WriteAllTextAsync(ovf, Ovf("appliance-disk1.vmdk"));
        var hash = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(vmdk))).ToLowerInvariant();
        if (damaged) hash = new string('0', hash.Length);
        var mf = Path.Combine(dir, "appliance.mf");
        await File.WriteAllTextAsync(mf, $"SHA256(appliance-disk1.vmdk)= {hash}\n");
        var ova = Path.Combine(dir, damaged ? "damaged.ova" : "appliance.ova");
        await using (var tar = File.Create(ova))
        await using (var w = new TarWriter(tar, TarEntryFormat.Ustar))
        {
            foreach (var f in new[] { ovf, mf, vmdk }) await w.WriteEntryAsync(f, Path.GetFileName(f));
        }
        return ova;
    }

    [Fact]
    public async Task An_ova_and_foreign_disk_images_become_domains()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var raw = Path.Combine(d.Root, "disk.raw");
        var bytes = new byte[32 << 20];
        Encoding.ASCII.GetBytes("IMPORTED-DISK").CopyTo(bytes, 1 << 20);
        await File.WriteAllBytesAsync(raw, bytes);
        var ova = await OvaAsync(d.Root, raw);

        var r = await d.RunAsync("import", ova, "--boot", $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("Domain 'Test_Appliance_1' imported: 2 vCPUs, 160 MiB, sda (sata) = Test_Appliance_1.qcow2 in pool 'default'\n", r.Stdout);
        Assert.Contains("Importing appliance.ova: done in", r.Stderr);
        var imported = Path.Combine(d.Images, "Test_Appliance_1.qcow2");
        Assert.Equal("qcow2", (await QemuImg.InfoAsync(imported)).Format);
        Assert.Equal(0, (await Exec.RunAsync(QemuImg.Binary, ["compare", "-q", raw, imported])).ExitCode);
        Assert.Empty(Directory.GetDirectories(d.Images)); // the unpacked OVA is gone

        // It boots: the guest sees its 2 CPUs, its memory and the imported disk on SATA.
        var xml = await d.OkAsync("dumpxml", "Test_Appliance_1", "--inactive");
        Assert.Contains("<source pool='default' volume='Test_Appliance_1.qcow2'/>", xml);
        Assert.Contains("<interface type='user'>", xml);
        await d.DefineAsync(xml.Replace("<serial type='pty'>", $"<serial type='pty'><log file='{d.SerialLog("Test_Appliance_1")}' append='off'/>"));
        await d.OkAsync("start", "Test_Appliance_1");
        await d.WaitForSerialAsync("Test_Appliance_1", "VIREO-GUEST-READY");
        var serial = await File.ReadAllTextAsync(d.SerialLog("Test_Appliance_1"));
        Assert.Contains("VIREO-GUEST: cpus 2", serial);
        Assert.Contains("VIREO-GUEST: disk sda 33554432 bytes ro=0", serial);
        await d.OkAsync("destroy", "Test_Appliance_1");

        // Single images of other hypervisors.
        foreach (var (fmt, ext) in new[] { ("vpc", "vhd"), ("vdi", "vdi"), ("vhdx", "vhdx"), ("vmdk", "vmdk") })
        {
            var img = Path.Combine(d.Root, $"other.{ext}");
            await Exec.CheckedAsync(QemuImg.Binary, ["convert", "-O", fmt, raw, img]);
            var name = $"from-{ext}";
            Assert.StartsWith($"Domain '{name}' imported: 1 vCPU, 128 MiB, sda (sata) = {name}.qcow2", await d.OkAsync("import", img, "--name", name, "--memory", "128"));
            Assert.Equal(0, (await Exec.RunAsync(QemuImg.Binary, ["compare", "-q", raw, Path.Combine(d.Images, $"{name}.qcow2")])).ExitCode);
        }

        // Bad input: nothing is left behind.
        var before = Directory.GetFileSystemEntries(d.Images).Order().ToArray();
        Assert.Equal("error: Domain 'from-vdi' already exists; give the import another --name.\n", await d.FailAsync("import", ova, "--name", "from-vdi"));
        var damaged = await OvaAsync(Directory.CreateTempSubdirectory("vireo-ova-").FullName, raw, damaged: true);
        Assert.Equal("error: appliance-disk1.vmdk does not match its SHA256 in the OVA's manifest; the package is damaged.\n", await d.FailAsync("import", damaged, "--name", "bad"));
        Assert.Equal($"error: Cannot import '{d.Root}/nope.vmdk': No such file.\n", await d.FailAsync("import", Path.Combine(d.Root, "nope.vmdk")));
        Assert.Equal(before, Directory.GetFileSystemEntries(d.Images).Order().ToArray());
        Directory.Delete(Path.GetDirectoryName(damaged)!, true);
    }
}
