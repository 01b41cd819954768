using System.Xml.Linq;
using Vireo.Engine;
using Vireo.Qemu;

namespace Vireo.Tests;

/// <summary>
/// domcapabilities against libvirt 9.0's for the same QEMU 7.2 (tests/Vireo.Tests/Reference,
/// from the reference libvirtd): virt-install decides what to write from it, so Vireo may claim
/// nothing libvirt would not, and leaves out exactly what it does not drive.
/// </summary>
public class CapabilitiesTests
{
    /// <summary>The devices and commands of Debian 12's QEMU 7.2 that domcapabilities looks at.</summary>
    private static readonly QemuCapabilities Qemu = new("/usr/bin/qemu-system-x86_64", "7.2.0",
        [("pc-i440fx-7.2", "pc", true, 255), ("pc-q35-7.2", "q35", false, 288)], [("qemu64", true), ("Nehalem", true)], false)
    {
        Devices = new HashSet<string> { "VGA", "cirrus-vga", "qxl-vga", "virtio-vga", "bochs-display", "ramfb", "usb-host", "vfio-pci", "vhost-user-fs-pci", "tpm-tis", "tpm-crb", "usb-redir", "vmcoreinfo" },
        Commands = new HashSet<string> { "query-spice", "query-tpm-types" },
        TpmTypes = ["passthrough", "emulator"],
    };

    /// <summary>Debian 12's ovmf firmware descriptors (Reference/firmware, as /usr/share/qemu/firmware has them).</summary>
    private static readonly Capabilities.Host Host = new(KvmUsable: false, Swtpm: true,
        Firmware: Vireo.Host.FirmwareDescriptor.LoadAll([Path.Combine(AppContext.BaseDirectory, "Reference", "firmware")]), Vfio: false);

    /// <summary>What libvirt offers and Vireo does not drive (and so does not offer).</summary>
    private static readonly string[] NotDriven =
    [
        "devices/disk/diskDevice=floppy", "devices/disk/diskDevice=lun", "devices/disk/bus=fdc",
        "devices/graphics/type=sdl", "devices/graphics/type=egl-headless", "devices/graphics/type=dbus",
        "devices/video/modelType=vmvga", "devices/hostdev/subsysType=scsi", "devices/rng/backendModel=egd",
        "devices/filesystem/driverType=handle", "devices/tpm/backendModel=external",
    ];

    [Theory]
    [InlineData("q35")]
    [InlineData("pc")]
    public void Domcapabilities_claim_what_libvirt_claims_less_what_vireo_does_not_drive(string machine)
    {
        var libvirt = XElement.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", $"libvirt-domcapabilities-qemu-{machine}.xml")));
        var vireo = Capabilities.Domain(Qemu, Host, "qemu", machine);
        Assert.Equal(libvirt.Element("machine")!.Value, vireo.Element("machine")!.Value);
        Assert.Equal(libvirt.Element("vcpu")!.Attribute("max")!.Value, vireo.Element("vcpu")!.Attribute("max")!.Value);

        var theirs = Enums(libvirt);
        var ours = Enums(vireo);
        Assert.Empty(ours.Except(theirs));
        Assert.Equal(NotDriven.Order(), theirs.Except(ours).Where(v => !v.StartsWith("cpu/")).Order());
        // The same UEFI firmware, in libvirt's order of preference.
        Assert.Equal(libvirt.Element("os")!.Element("loader")!.Elements("value").Select(v => v.Value), vireo.Element("os")!.Element("loader")!.Elements("value").Select(v => v.Value));

        // Each kind of device libvirt offers, Vireo offers (or says it does not).
        foreach (var dev in libvirt.Element("devices")!.Elements())
            Assert.Equal(dev.Attribute("supported")?.Value, vireo.Element("devices")!.Element(dev.Name)?.Attribute("supported")?.Value);
        Assert.Equal("yes", vireo.Element("os")!.Attribute("supported")!.Value);
        Assert.Equal(machine == "q35" ? ["yes", "no"] : ["no"], vireo.Descendants("enum").Single(e => e.Attribute("name")!.Value == "secure").Elements().Select(v => v.Value));
    }

    [Fact]
    public void What_this_qemu_lacks_is_not_offered()
    {
        var noSpice = new QemuCapabilities(Qemu.Emulator, Qemu.Version, Qemu.Machines, Qemu.CpuModels, false)
        {
            Devices = new HashSet<string> { "VGA", "virtio-vga" },
            Commands = new HashSet<string>(),
        };
        var x = Capabilities.Domain(noSpice, Host with { Swtpm = false }, "qemu", "q35");
        var enums = Enums(x);
        Assert.DoesNotContain("devices/graphics/type=spice", enums);
        Assert.DoesNotContain("devices/video/modelType=qxl", enums);
        Assert.Equal("no", x.Element("devices")!.Element("tpm")!.Attribute("supported")!.Value);
        Assert.Equal("no", x.Element("devices")!.Element("redirdev")!.Attribute("supported")!.Value);
        Assert.DoesNotContain("devices/channel/type=spicevmc", enums);
        Assert.Contains("devices/video/modelType=virtio", enums);
    }

    [Fact]
    public void Kvm_that_cannot_run_says_so_and_host_passthrough_is_not_offered()
    {
        var x = Capabilities.Domain(Qemu, Host, "kvm", null);
        Assert.Equal("pc-i440fx-7.2", x.Element("machine")!.Value);
        Assert.Contains(x.Nodes().OfType<XComment>(), c => c.Value.Contains("KVM cannot run guests"));
        Assert.Equal("no", x.Element("cpu")!.Elements("mode").Single(m => m.Attribute("name")!.Value == "host-passthrough").Attribute("supported")!.Value);
        var e = Assert.Throws<VireoException>(() => Capabilities.Domain(Qemu, Host, "xen", null));
        Assert.Contains("Unknown virttype 'xen'", e.Message);
    }

    /// <summary>"devices/video/modelType=qxl" for every enum value.</summary>
    private static HashSet<string> Enums(XElement root) =>
        root.Descendants("enum").SelectMany(e => e.Elements("value").Select(v =>
            $"{string.Join('/', e.Ancestors().TakeWhile(a => a != root).Reverse().Select(a => a.Name.LocalName))}/{e.Attribute("name")!.Value}={v.Value}")).ToHashSet();

    [Fact]
    public void Sysinfo_is_the_hosts_smbios_as_the_kernel_shows_it()
    {
        var dmi = Directory.CreateTempSubdirectory("dmi-").FullName;
        try
        {
            foreach (var (file, value) in new[] { ("bios_vendor", "SeaBIOS"), ("bios_version", "1.16.2"), ("sys_vendor", "ACME\n"), ("product_name", "Box 9"), ("board_name", "") })
                File.WriteAllText(Path.Combine(dmi, file), value);
            Assert.Equal("<sysinfo type=\"smbios\"><bios><entry name=\"vendor\">SeaBIOS</entry><entry name=\"version\">1.16.2</entry></bios>" +
                "<system><entry name=\"manufacturer\">ACME</entry><entry name=\"product\">Box 9</entry></system></sysinfo>",
                Capabilities.HostSysinfo(dmi).ToString(SaveOptions.DisableFormatting));
            Assert.Equal("<sysinfo type=\"smbios\" />", Capabilities.HostSysinfo(Path.Combine(dmi, "none")).ToString()); // no DMI: an empty table
        }
        finally { Directory.Delete(dmi, true); }
    }
}
