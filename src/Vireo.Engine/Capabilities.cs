using System.Xml.Linq;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>What the host and its QEMU can give a guest, in libvirt's formats.</summary>
/// <remarks>
/// virt-install and virt-manager decide what to write from domcapabilities (SPICE or VNC, qxl or
/// virtio video, a TPM, UEFI, virtiofs…), so every value here is something Vireo really starts:
/// a device is listed only when this QEMU has it (qom-list-types) and Vireo drives it; what
/// Vireo refuses (SDL or D-Bus displays, floppy, SCSI LUN passthrough, egd RNGs) is left out.
/// </remarks>
public static class Capabilities
{
    public sealed record Host(bool KvmUsable, bool Swtpm, IReadOnlyList<FirmwareDescriptor> Firmware, bool Vfio);

    public static Host Probe(bool kvmUsable) => new(
        kvmUsable,
        File.Exists(Vm.Swtpm) && File.Exists(Vm.SwtpmSetup),
        FirmwareDescriptor.LoadAll(),
        File.Exists("/dev/vfio/vfio"));

    /// <summary>virsh domcapabilities: what a domain of this virt type and machine can use.</summary>
    public static XElement Domain(QemuCapabilities q, Host host, string virtType, string? machine)
    {
        if (virtType is not ("qemu" or "kvm"))
            throw new VireoException(ErrorCode.InvalidArgument, $"Unknown virttype '{virtType}'; use kvm or qemu.");
        var m = machine is null
            ? q.Machines.FirstOrDefault(x => x.IsDefault)
            : q.Machines.FirstOrDefault(x => x.Name == machine || x.Alias == machine);
        if (m.Name is null)
            throw new VireoException(ErrorCode.InvalidArgument, machine is null ? "QEMU reports no default machine type; give --machine." : $"QEMU has no machine type '{machine}'; see 'vireo capabilities'.");
        var q35 = m.Name.Contains("q35", StringComparison.Ordinal);
        var kvm = virtType == "kvm";
        var usable = !kvm || host.KvmUsable;

        var loaders = host.Firmware.Where(f => f.Supports(m.Name)).Select(f => f.Code).Distinct().ToList();
        var os = new XElement("os", Yes(true),
            Enum("firmware", loaders.Count > 0 ? ["efi"] : []),
            new XElement("loader", Yes(loaders.Count > 0),
                loaders.Select(l => new XElement("value", l)),
                Enum("type", "rom", "pflash"),
                Enum("readonly", "yes", "no"),
                Enum("secure", q35 ? ["yes", "no"] : ["no"])));

        var cpu = new XElement("cpu",
            new XElement("mode", new XAttribute("name", "host-passthrough"), Yes(kvm && host.KvmUsable),
                kvm && host.KvmUsable ? Enum("hostPassthroughMigratable", "on", "off") : null),
            new XElement("mode", new XAttribute("name", "maximum"), Yes(true), Enum("maximumMigratable", "on", "off")),
            // host-model is QEMU's "max" CPU under TCG and "host" under KVM.
            new XElement("mode", new XAttribute("name", "host-model"), Yes(true)),
            new XElement("mode", new XAttribute("name", "custom"), Yes(true),
                q.CpuModels.Select(c => new XElement("model", new XAttribute("usable", c.Usable ? "yes" : "no"), c.Name))));

        string[] Has(params (string Value, string Device)[] options) => options.Where(o => q.HasDevice(o.Device)).Select(o => o.Value).ToArray();
        var devices = new XElement("devices",
            new XElement("disk", Yes(true),
                Enum("diskDevice", "disk", "cdrom"),
                Enum("bus", q35 ? ["scsi", "virtio", "usb", "sata"] : ["ide", "scsi", "virtio", "usb", "sata"]),
                Enum("model", "virtio", "virtio-transitional", "virtio-non-transitional")),
            new XElement("graphics", Yes(true), Enum("type", q.HasSpice ? ["vnc", "spice"] : ["vnc"])),
            new XElement("video", Yes(true), Enum("modelType",
                [.. Has(("vga", "VGA"), ("cirrus", "cirrus-vga"), ("qxl", "qxl-vga"), ("virtio", "virtio-vga")), "none", .. Has(("bochs", "bochs-display"), ("ramfb", "ramfb"))])),
            new XElement("hostdev", Yes(true),
                Enum("mode", "subsystem"),
                Enum("startupPolicy", "default", "mandatory", "requisite", "optional"),
                Enum("subsysType", [.. Has(("usb", "usb-host"), ("pci", "vfio-pci"))]),
                Enum("capsType"),
                Enum("pciBackend", q.HasDevice("vfio-pci") && host.Vfio ? ["vfio"] : [])),
            new XElement("rng", Yes(true), Enum("model", "virtio", "virtio-transitional", "virtio-non-transitional"), Enum("backendModel", "random", "builtin")),
            new XElement("filesystem", Yes(true), Enum("driverType", [.. new[] { "path" }, .. q.HasDevice("vhost-user-fs-pci") && File.Exists(Vm.DefaultVirtiofsd) ? ["virtiofs"] : Array.Empty<string>()])),
            new XElement("tpm", Yes(q.TpmTypes.Count > 0),
                Enum("model", [.. Has(("tpm-tis", "tpm-tis"), ("tpm-crb", "tpm-crb"))]),
                Enum("backendModel", [.. q.TpmTypes.Where(t => t == "passthrough" || t == "emulator" && host.Swtpm)]),
                Enum("backendVersion", host.Swtpm ? ["1.2", "2.0"] : [])),
            new XElement("redirdev", Yes(q.HasDevice("usb-redir") && q.HasSpice), Enum("bus", "usb")),
            new XElement("channel", Yes(true), Enum("type", q.HasSpice ? ["pty", "unix", "spicevmc"] : ["pty", "unix"])));

        var features = new XElement("features",
            new XElement("gic", Yes(false)),
            new XElement("vmcoreinfo", Yes(q.HasDevice("vmcoreinfo"))),
            new XElement("genid", Yes(false)),
            new XElement("backingStoreInput", Yes(true)),
            new XElement("backup", Yes(false)),
            new XElement("sev", Yes(false)),
            new XElement("sgx", Yes(false)),
            // Under TCG QEMU takes only these two enlightenments (the others need KVM), as libvirt reports.
            new XElement("hyperv", Yes(true), Enum("features", kvm ? DomainHypervNames : ["spinlocks", "vendor_id"])));

        return new XElement("domainCapabilities",
            new XElement("path", q.Emulator),
            new XElement("domain", virtType),
            new XElement("machine", m.Name),
            new XElement("arch", "x86_64"),
            usable ? null : new XComment(" KVM cannot run guests on this host; use virttype qemu "),
            new XElement("vcpu", new XAttribute("max", m.MaxCpus)),
            new XElement("iothreads", Yes(true)),
            os,
            cpu,
            new XElement("memoryBacking", Yes(true), Enum("sourceType", "file", "anonymous", "memfd")),
            devices,
            features);
    }

    /// <summary>The Hyper-V enlightenments Vireo passes to QEMU (hv-*).</summary>
    private static readonly string[] DomainHypervNames =
        ["relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset", "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi", "evmcs", "avic"];

    /// <summary>virsh capabilities: the host and the guests it can run.</summary>
    public static XElement HostXml(QemuCapabilities q, Host host, bool vhostNet, string hostUuid)
    {
        var arch = new XElement("arch", new XAttribute("name", "x86_64"),
            new XElement("wordsize", 64), new XElement("emulator", q.Emulator));
        foreach (var m in q.Machines)
        {
            arch.Add(new XElement("machine", new XAttribute("maxCpus", m.MaxCpus), m.Name));
            if (m.Alias is { } alias)
                arch.Add(new XElement("machine", new XAttribute("canonical", m.Name), new XAttribute("maxCpus", m.MaxCpus), alias));
        }
        arch.Add(new XElement("domain", new XAttribute("type", "qemu")));
        if (host.KvmUsable) arch.Add(new XElement("domain", new XAttribute("type", "kvm")));
        var online = Affinity.OnlineCpus();
        var cpus = CpuList.Parse(online) ?? [];
        return new XElement("capabilities",
            new XElement("host",
                new XElement("uuid", hostUuid),
                new XElement("cpu",
                    new XElement("arch", "x86_64"),
                    new XElement("topology", new XAttribute("sockets", 1), new XAttribute("dies", 1), new XAttribute("cores", cpus.Count), new XAttribute("threads", 1)),
                    new XElement("pages", new XAttribute("unit", "KiB"), new XAttribute("size", 4))),
                new XElement("power_management"),
                new XElement("iommu", new XAttribute("support", Directory.Exists("/sys/kernel/iommu_groups") && Directory.EnumerateDirectories("/sys/kernel/iommu_groups").Any() ? "yes" : "no")),
                new XElement("migration_features", new XElement("live"), new XElement("uri_transports", new XElement("uri_transport", "tcp"))),
                new XElement("topology", new XElement("cells", new XAttribute("num", 1),
                    new XElement("cell", new XAttribute("id", 0),
                        new XElement("memory", new XAttribute("unit", "KiB"), MemTotalKiB()),
                        new XElement("cpus", new XAttribute("num", cpus.Count),
                            cpus.Select(c => new XElement("cpu", new XAttribute("id", c), new XAttribute("socket_id", 0), new XAttribute("die_id", 0), new XAttribute("core_id", c), new XAttribute("siblings", c))))))),
                new XElement("secmodel", new XElement("model", "none"), new XElement("doi", 0)),
                new XComment($" vhost-net: {(vhostNet ? "yes" : "no")} ")),
            new XElement("guest", new XElement("os_type", "hvm"), arch,
                new XElement("features",
                    new XElement("acpi", new XAttribute("default", "on"), new XAttribute("toggle", "yes")),
                    new XElement("apic", new XAttribute("default", "on"), new XAttribute("toggle", "no")),
                    new XElement("cpuselection"),
                    new XElement("deviceboot"),
                    new XElement("disksnapshot", new XAttribute("default", "on"), new XAttribute("toggle", "no")))));
    }

    /// <summary>The host's UUID as libvirt reports it: SMBIOS's, else the machine id.</summary>
    /// <summary>
    /// virsh sysinfo: the host's SMBIOS tables as &lt;sysinfo type='smbios'&gt;, read from the
    /// kernel's copy in /sys/class/dmi/id (libvirt runs dmidecode for the same fields). A host
    /// without DMI (most VMs, containers) gets the element with what it has, possibly nothing.
    /// </summary>
    public static XElement HostSysinfo(string dmiDir = "/sys/class/dmi/id")
    {
        string? Read(string file)
        {
            try { return File.Exists(Path.Combine(dmiDir, file)) ? File.ReadAllText(Path.Combine(dmiDir, file)).Trim() : null; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }
        XElement? Block(string name, params (string Entry, string File)[] fields)
        {
            var entries = fields.Select(f => (f.Entry, Value: Read(f.File))).Where(f => !string.IsNullOrEmpty(f.Value))
                .Select(f => new XElement("entry", new XAttribute("name", f.Entry), f.Value)).ToList();
            return entries.Count == 0 ? null : new XElement(name, entries);
        }
        return new XElement("sysinfo", new XAttribute("type", "smbios"),
            Block("bios", ("vendor", "bios_vendor"), ("version", "bios_version"), ("date", "bios_date"), ("release", "bios_release")),
            Block("system", ("manufacturer", "sys_vendor"), ("product", "product_name"), ("version", "product_version"), ("serial", "product_serial"),
                ("uuid", "product_uuid"), ("sku", "product_sku"), ("family", "product_family")),
            Block("baseBoard", ("manufacturer", "board_vendor"), ("product", "board_name"), ("version", "board_version"), ("serial", "board_serial"),
                ("asset", "board_asset_tag")),
            Block("chassis", ("manufacturer", "chassis_vendor"), ("version", "chassis_version"), ("serial", "chassis_serial"), ("asset", "chassis_asset_tag")));
    }

    public static string HostUuid()
    {
        try
        {
            if (File.Exists("/sys/class/dmi/id/product_uuid") && Guid.TryParse(File.ReadAllText("/sys/class/dmi/id/product_uuid").Trim(), out var u)) return u.ToString();
            if (File.Exists("/etc/machine-id") && Guid.TryParse(File.ReadAllText("/etc/machine-id").Trim(), out var m)) return m.ToString();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Guid.Empty.ToString();
    }

    private static ulong MemTotalKiB()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or FormatException) { return 0; }
    }

    private static XAttribute Yes(bool b) => new("supported", b ? "yes" : "no");

    private static XElement Enum(string name, params string[] values) =>
        new("enum", new XAttribute("name", name), values.Select(v => new XElement("value", v)));
}
