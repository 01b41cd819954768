using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>libvirt domain XML: read (this file) and write (DomainXml.Writer.cs).</summary>
/// <remarks>
/// Hand-written on purpose: no .NET library models libvirt's schema, and the reader must name
/// every element it does not support, with its line, instead of dropping it silently.
/// </remarks>
public static partial class DomainXml
{
    public static DomainDef Parse(string xml)
    {
        var root = XmlReading.Load(xml, "domain", "use net-define for networks and pool-define for pools");
        var r = new Reader();
        var def = r.Domain(root);
        r.Problems.ThrowIfAny();
        return def;
    }

    /// <summary>
    /// One device element as attach-device, detach-device and update-device take it
    /// (<c>&lt;disk&gt;</c>, <c>&lt;interface&gt;</c>, …): read as if it stood in <c>&lt;devices&gt;</c>,
    /// so it gets the same checks as in a whole definition. The result holds that one device.
    /// </summary>
    public static (string Kind, DevicesDef Devices) ParseDevice(string xml)
    {
        var device = XmlReading.Parse(xml);
        if (device.Name.LocalName is "domain" or "devices")
            throw new DefinitionException($"Expected one device element (<disk>, <interface>, …), found <{device.Name.LocalName}>; give the device alone, as virsh dumpxml shows it inside <devices>.", ProblemList.LineOf(device));
        device.Remove(); // not copied into <devices>: a copy would lose the line numbers
        var r = new Reader();
        var devices = r.Devices(new XElement("devices", device));
        r.Problems.ThrowIfAny();
        return (device.Name.LocalName, devices);
    }

    /// <summary>A part of a device address: 0x-prefixed hex or decimal, not negative.</summary>
    internal static bool AddressNumber(string text, out long value)
    {
        value = 0;
        return text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? text.Length > 2 && long.TryParse(text.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out value) && value >= 0
            : long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
    }

    private sealed partial class Reader : XmlReading
    {
        public DomainDef Domain(XElement root)
        {
            var d = new DomainDef { Type = OneOf(root, "type", "kvm", "qemu") ?? "" };
            if (A(root, "type") is null) Problems.Add("The <domain> element needs a type attribute: 'kvm' or 'qemu'.", root);
            foreach (var e in root.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "name": d.Name = e.Value.Trim(); break;
                    case "uuid":
                        if (Uuid(e) is { } g) d.Uuid = g;
                        break;
                    case "title": d.Title = e.Value; break;
                    case "description": d.Description = e.Value; break;
                    case "metadata": d.Metadata = new XElement(e); break;
                    case "memory": d.MemoryKiB = Memory(e); break;
                    case "currentMemory": d.CurrentMemoryKiB = Memory(e); break;
                    case "vcpu":
                        d.VcpuPlacement = OneOf(e, "placement", "static", "auto") ?? "static";
                        d.VcpusCurrent = Int(e, "current");
                        d.VcpuCpuset = A(e, "cpuset");
                        if (d.VcpuCpuset is not null && CpuList.Parse(d.VcpuCpuset) is null)
                            Problems.Add($"<vcpu cpuset='{d.VcpuCpuset}'> is not a list of host CPUs (e.g. '0-3,^2').", e);
                        if (int.TryParse(e.Value.Trim(), out var n)) d.Vcpus = n;
                        else Problems.Add($"<vcpu> must hold a number of CPUs, not '{e.Value.Trim()}'.", e);
                        break;
                    case "os": d.Os = Os(e); break;
                    case "memoryBacking": d.MemoryBacking = MemoryBacking(e); break;
                    case "maxMemory": d.MaxMemory = new MaxMemoryDef { KiB = Memory(e), Slots = Int(e, "slots") ?? 0 }; break;
                    case "iothreads":
                        (d.Iothreads ??= new()).Count = int.TryParse(e.Value.Trim(), out var nt) ? nt : 0;
                        if (nt < 1) Problems.Add($"<iothreads> must hold a number of I/O threads, not '{e.Value.Trim()}'.", e);
                        break;
                    case "iothreadids":
                        d.Iothreads ??= new();
                        foreach (var t in e.Elements())
                            if (t.Name.LocalName == "iothread" && Int(t, "id") is { } tid) d.Iothreads.Ids.Add(tid);
                            else Unsupported(t, "iothreadids");
                        break;
                    case "cputune": d.Cputune = Cputune(e); break;
                    case "numatune": d.Numatune = Numatune(e); break;
                    case "memtune": d.Memtune = Memtune(e); break;
                    case "blkiotune": d.Blkiotune = Blkiotune(e); break;
                    case "sysinfo": d.Sysinfo.Add(Sysinfo(e)); break;
                    case "seclabel": d.Seclabels.Add(Seclabel(e)); break;
                    case "commandline" when e.Name.NamespaceName == QemuNs.NamespaceName: QemuCommandline(e, d); break;
                    case "features": d.Features = Features(e); break;
                    case "cpu": d.Cpu = Cpu(e); break;
                    case "clock": d.Clock = Clock(e); break;
                    case "on_poweroff": d.OnPoweroff = Lifecycle(e, "destroy", "restart"); break;
                    case "on_reboot": d.OnReboot = Lifecycle(e, "restart", "destroy"); break;
                    case "on_crash": d.OnCrash = Lifecycle(e, "destroy", "restart", "preserve"); break;
                    case "pm":
                        d.Pm = new PmDef
                        {
                            SuspendToMem = A(e.Element("suspend-to-mem"), "enabled"),
                            SuspendToDisk = A(e.Element("suspend-to-disk"), "enabled"),
                        };
                        break;
                    case "devices": d.Devices = Devices(e); break;
                    case "resource":
                        foreach (var c in e.Elements())
                            if (c.Name.LocalName == "partition") d.ResourcePartition = c.Value.Trim();
                            else Unsupported(c, "resource");
                        break;
                    default: Unsupported(e, "domain"); break;
                }
            }
            return d;
        }

        private ulong Memory(XElement e)
        {
            if (!Units.TryToKiB(e.Value, A(e, "unit"), out var kib))
                Problems.Add($"Bad memory size '{e.Value.Trim()}' unit '{A(e, "unit") ?? "KiB"}' in <{e.Name.LocalName}>; use e.g. <memory unit='MiB'>512</memory>.", e);
            return kib;
        }

        private string Lifecycle(XElement e, params string[] allowed)
        {
            var v = e.Value.Trim();
            if (!allowed.Contains(v)) BadValue(e, $"<{e.Name.LocalName}> action", v, string.Join(", ", allowed.Select(a => $"'{a}'")));
            return v;
        }

        private OsDef Os(XElement os)
        {
            var o = new OsDef { Firmware = OneOf(os, "firmware", "efi", "bios") };
            foreach (var e in os.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "type":
                        o.Type = e.Value.Trim();
                        if (o.Type != "hvm") BadValue(e, "OS type", o.Type, "'hvm'");
                        o.Arch = A(e, "arch") ?? "x86_64";
                        if (o.Arch != "x86_64") BadValue(e, "architecture", o.Arch, "'x86_64'");
                        o.Machine = A(e, "machine");
                        break;
                    case "boot":
                        var dev = OneOf(e, "dev", "hd", "cdrom", "network", "fd");
                        if (dev is not null) o.BootDevices.Add(dev);
                        break;
                    case "bootmenu": o.BootMenu = YesNo(A(e, "enable")); o.BootMenuTimeout = Int(e, "timeout"); break;
                    case "smbios": o.SmbiosMode = OneOf(e, "mode", "sysinfo", "host", "emulate"); break;
                    case "bios": o.BiosUseSerial = OneOf(e, "useserial", "yes", "no"); o.BiosRebootTimeout = Int(e, "rebootTimeout"); break;
                    case "kernel": o.Kernel = e.Value.Trim(); break;
                    case "initrd": o.Initrd = e.Value.Trim(); break;
                    case "cmdline": o.Cmdline = e.Value; break;
                    case "loader":
                        o.Loader = new LoaderDef
                        {
                            Path = e.Value.Trim(), ReadOnly = A(e, "readonly") != "no", Secure = YesNo(A(e, "secure")),
                            Type = OneOf(e, "type", "pflash", "rom") ?? "pflash",
                        };
                        break;
                    case "nvram": o.Nvram = new NvramDef { Path = e.Value.Trim() is { Length: > 0 } np ? np : null, Template = A(e, "template") }; break;
                    case "firmware":
                        foreach (var f in e.Elements("feature"))
                        {
                            var name = OneOf(f, "name", "secure-boot", "enrolled-keys");
                            if (name is not null) o.FirmwareFeatures.Add((name, YesNo(A(f, "enabled"))));
                        }
                        break;
                    default: Unsupported(e, "os"); break;
                }
            }
            return o;
        }

        private FeaturesDef Features(XElement fs)
        {
            var f = new FeaturesDef();
            foreach (var e in fs.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "acpi": f.Acpi = true; break;
                    case "apic": f.Apic = true; break;
                    case "pae": f.Pae = true; break;
                    case "vmport": f.VmPortState = A(e, "state"); break;
                    case "smm": f.Smm = A(e, "state") != "off"; break;
                    case "hyperv": f.Hyperv = Hyperv(e); break;
                    case "kvm":
                        f.Kvm = [];
                        foreach (var k in e.Elements())
                            if (k.Name.LocalName is "hidden" or "hint-dedicated" or "poll-control" or "pv-ipi" or "dirty-ring")
                                f.Kvm.Add((k.Name.LocalName, OneOf(k, "state", "on", "off") ?? "on"));
                            else Unsupported(k, "kvm");
                        break;
                    case "pvspinlock" or "pmu" or "vmcoreinfo" or "hap" or "privnet" or "htm" or "async-teardown":
                        f.Switches.Add((e.Name.LocalName, OneOf(e, e.Name.LocalName == "async-teardown" ? "enabled" : "state", "on", "off", "yes", "no") ?? "on"));
                        break;
                    case "ioapic": f.IoapicDriver = OneOf(e, "driver", "qemu", "kvm"); break;
                    case "msrs": f.MsrsUnknown = OneOf(e, "unknown", "ignore", "fail"); break;
                    default: Unsupported(e, "features"); break;
                }
            }
            return f;
        }

        private CpuDef Cpu(XElement c)
        {
            var cpu = new CpuDef
            {
                Mode = OneOf(c, "mode", "host-passthrough", "host-model", "custom", "maximum") ?? "custom",
                Match = A(c, "match"),
                Check = A(c, "check"),
                Migratable = A(c, "migratable"),
            };
            foreach (var e in c.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "model": cpu.Model = e.Value.Trim(); cpu.ModelFallback = A(e, "fallback"); break;
                    case "topology":
                        cpu.Sockets = Int(e, "sockets"); cpu.Dies = Int(e, "dies");
                        cpu.Cores = Int(e, "cores"); cpu.Threads = Int(e, "threads");
                        break;
                    case "feature":
                        cpu.Features.Add((OneOf(e, "policy", "force", "require", "optional", "disable", "forbid") ?? "require", A(e, "name") ?? ""));
                        break;
                    case "cache": cpu.CacheMode = OneOf(e, "mode", "passthrough", "emulate", "disable"); cpu.CacheLevel = Int(e, "level"); break;
                    case "maxphysaddr": cpu.MaxPhysAddrMode = OneOf(e, "mode", "passthrough", "emulate"); cpu.MaxPhysAddrBits = Int(e, "bits"); break;
                    case "vendor": break; // <vendor> is host-model's, written by libvirt only in live XML
                    case "numa":
                        foreach (var cell in e.Elements())
                        {
                            if (cell.Name.LocalName != "cell") { Unsupported(cell, "numa"); continue; }
                            if (!Units.TryToKiB(A(cell, "memory") ?? "", A(cell, "unit"), out var ck))
                                Problems.Add($"A NUMA <cell> needs memory='SIZE' (with unit=), not '{A(cell, "memory")}'.", cell);
                            cpu.NumaCells.Add(new NumaCellDef
                            {
                                Id = Int(cell, "id"), Cpus = A(cell, "cpus") ?? "", MemoryKiB = ck,
                                MemAccess = OneOf(cell, "memAccess", "shared", "private"), Discard = OneOf(cell, "discard", "yes", "no"),
                            });
                            foreach (var x in cell.Elements()) Unsupported(x, "cell");
                        }
                        break;
                    default: Unsupported(e, "cpu"); break;
                }
            }
            return cpu;
        }

        private ClockDef Clock(XElement c)
        {
            var clock = new ClockDef { Offset = OneOf(c, "offset", "utc", "localtime") ?? "utc" };
            foreach (var e in c.Elements())
            {
                if (e.Name.LocalName == "timer")
                    clock.Timers.Add(new TimerDef(A(e, "name") ?? "", A(e, "tickpolicy"), A(e, "present")));
                else Unsupported(e, "clock");
            }
            return clock;
        }

        private AddressDef Address(XElement e)
        {
            var a = new AddressDef
            {
                Type = OneOf(e, "type", "pci", "drive", "virtio-serial", "usb", "isa", "ccid", "unassigned") ?? "pci",
                Attributes = Attrs(e, "type"),
            };
            // Each part of an address is a number in range (libvirt's limits), written in hex (0x1f) or decimal.
            var limits = a.Type switch
            {
                "pci" => [("domain", 0xffff), ("bus", 0xff), ("slot", 0x1f), ("function", 7)],
                "drive" => [("controller", 0xffff), ("bus", 0xffff), ("target", 0xffff), ("unit", 0xffff)],
                "virtio-serial" or "ccid" => [("controller", 0xffff), ("bus", 0xffff), ("port", 0xffff), ("slot", 0xffff)],
                _ => Array.Empty<(string, int)>(),
            };
            foreach (var (name, max) in limits)
            {
                if (A(e, name) is not { } text) continue;
                if (!AddressNumber(text, out var v))
                    Problems.Add($"<address type='{a.Type}'> {name}='{text}' is not a number; write it as 0x1f or 31.", e);
                else if (v > max)
                    Problems.Add($"<address type='{a.Type}'> {name}='{text}' is out of range; it must be at most 0x{max:x}.", e);
            }
            return a;
        }


        public DevicesDef Devices(XElement ds)
        {
            var d = new DevicesDef();
            foreach (var e in ds.Elements())
            {
                switch (e.Name.LocalName)
                {
                    case "emulator": d.Emulator = e.Value.Trim(); break;
                    case "disk": d.Disks.Add(Disk(e)); break;
                    case "controller": d.Controllers.Add(Controller(e)); break;
                    case "interface": d.Interfaces.Add(Interface(e)); break;
                    case "serial": d.Serials.Add(Char(e, CharTypes)); break;
                    case "console": d.Consoles.Add(Char(e, CharTypes)); break;
                    case "channel": d.Channels.Add(Char(e, "unix", "pty", "spicevmc", "spiceport")); break;
                    case "parallel": d.Parallels.Add(Char(e, CharTypes)); break;
                    case "sound": d.Sounds.Add(Sound(e)); break;
                    case "audio": d.Audios.Add(Audio(e)); break;
                    case "redirdev": d.Redirdevs.Add(Redirdev(e)); break;
                    case "smartcard": d.Smartcards.Add(Smartcard(e)); break;
                    case "hub": d.Hubs.Add(Hub(e)); break;
                    case "tpm": d.Tpms.Add(Tpm(e)); break;
                    case "watchdog": d.Watchdogs.Add(Watchdog(e)); break;
                    case "hostdev": d.Hostdevs.Add(Hostdev(e)); break;
                    case "vsock":
                        if (d.Vsock is not null) Problems.Add("Only one <vsock> device is allowed.", e);
                        d.Vsock = Vsock(e);
                        break;
                    case "iommu":
                        if (d.Iommu is not null) Problems.Add("Only one <iommu> device is allowed.", e);
                        d.Iommu = Iommu(e);
                        break;
                    case "input": d.Inputs.Add(Input(e)); break;
                    case "graphics": d.Graphics.Add(Graphics(e)); break;
                    case "video": d.Videos.Add(Video(e)); break;
                    case "memballoon":
                        d.Memballoon = new MemballoonDef
                        {
                            Model = OneOf(e, "model", "virtio", "virtio-transitional", "virtio-non-transitional", "none") ?? "virtio",
                            Autodeflate = OneOf(e, "autodeflate", "on", "off"), FreePageReporting = OneOf(e, "freePageReporting", "on", "off"),
                        };
                        foreach (var c in e.Elements())
                            switch (c.Name.LocalName)
                            {
                                case "alias": d.Memballoon.Alias = A(c, "name"); break;
                                case "address": d.Memballoon.Address = Address(c); break;
                                case "stats": d.Memballoon.StatsPeriod = Int(c, "period"); break;
                                case "driver": d.Memballoon.Driver = Attrs(c); break;
                                default: Unsupported(c, "memballoon"); break;
                            }
                        break;
                    case "rng": d.Rngs.Add(Rng(e)); break;
                    case "filesystem": d.Filesystems.Add(Filesystem(e)); break;
                    case "panic":
                        var panic = new PanicDef { Model = OneOf(e, "model", "isa", "pvpanic", "hyperv") };
                        foreach (var c in e.Elements())
                            if (c.Name.LocalName == "address") panic.Address = Address(c);
                            else Unsupported(c, "panic");
                        d.Panics.Add(panic);
                        break;
                    default: Unsupported(e, "devices"); break;
                }
            }
            return d;
        }

        private DiskDef Disk(XElement e)
        {
            var disk = new DiskDef
            {
                Type = OneOf(e, "type", "file", "block", "volume", "network") ?? "file",
                Device = OneOf(e, "device", "disk", "cdrom", "floppy", "lun") ?? "disk",
            };
            foreach (var c in e.Elements())
            {
                switch (c.Name.LocalName)
                {
                    case "driver":
                        disk.DriverName = A(c, "name") ?? "qemu";
                        if (disk.DriverName != "qemu") BadValue(c, "disk driver name", disk.DriverName, "'qemu'");
                        disk.Format = OneOf(c, "type", "raw", "qcow2");
                        disk.Cache = OneOf(c, "cache", "default", "none", "writethrough", "writeback", "directsync", "unsafe");
                        disk.Io = OneOf(c, "io", "native", "threads", "io_uring");
                        disk.Discard = OneOf(c, "discard", "unmap", "ignore");
                        disk.Iothread = Int(c, "iothread");
                        disk.Queues = Int(c, "queues");
                        disk.ErrorPolicy = OneOf(c, "error_policy", "stop", "report", "ignore", "enospace");
                        disk.RerrorPolicy = OneOf(c, "rerror_policy", "stop", "report", "ignore");
                        disk.DetectZeroes = OneOf(c, "detect_zeroes", "off", "on", "unmap");
                        disk.CopyOnRead = OneOf(c, "copy_on_read", "on", "off");
                        foreach (var a in c.Attributes().Select(a => a.Name.LocalName).Except(DiskDriverAttributes))
                            Problems.Add($"Unsupported attribute {a} of <disk><driver>.", c);
                        break;
                    case "iotune":
                        foreach (var t in c.Elements())
                        {
                            var n = t.Name.LocalName;
                            if (!IotuneNames.Contains(n)) { Unsupported(t, "iotune"); continue; }
                            if (n != "group_name" && !ulong.TryParse(t.Value.Trim(), out _))
                                Problems.Add($"<iotune><{n}> must hold a whole number, not '{t.Value.Trim()}'.", t);
                            disk.Iotune.Add((n, t.Value.Trim()));
                        }
                        break;
                    case "wwn": disk.Wwn = c.Value.Trim(); break;
                    case "vendor": disk.Vendor = c.Value.Trim(); break;
                    case "product": disk.Product = c.Value.Trim(); break;
                    case "blockio": disk.BlockIoLogical = Int(c, "logical_block_size"); disk.BlockIoPhysical = Int(c, "physical_block_size"); break;
                    case "source":
                        disk.Source = A(c, "file") ?? A(c, "dev");
                        disk.StartupPolicy = OneOf(c, "startupPolicy", "mandatory", "requisite", "optional");
                        disk.SourcePool = A(c, "pool");
                        disk.SourceVolume = A(c, "volume");
                        if (disk.Type == "network")
                        {
                            disk.SourceProtocol = OneOf(c, "protocol", "http", "https", "nbd");
                            disk.SourceName = A(c, "name");
                            if (c.Element("host") is { } h) { disk.SourceHost = A(h, "name"); disk.SourcePort = Int(h, "port"); }
                        }
                        break;
                    case "target":
                        disk.TargetDev = A(c, "dev") ?? "";
                        disk.TargetBus = OneOf(c, "bus", "virtio", "sata", "scsi", "ide", "usb", "fdc");
                        disk.TargetRemovable = OneOf(c, "removable", "on", "off");
                        disk.TargetRotationRate = Int(c, "rotation_rate");
                        break;
                    case "readonly": disk.ReadOnly = true; break;
                    case "shareable": disk.Shareable = true; break;
                    case "boot": disk.BootOrder = Int(c, "order"); break;
                    case "serial": disk.Serial = c.Value.Trim(); break;
                    case "alias": disk.Alias = A(c, "name"); break;
                    case "address": disk.Address = Address(c); break;
                    default: Unsupported(c, "disk"); break;
                }
            }
            if (disk.TargetDev.Length == 0) Problems.Add("A <disk> needs <target dev='vda' bus='virtio'/>.", e);
            return disk;
        }

        private ControllerDef Controller(XElement e)
        {
            var c = new ControllerDef
            {
                Type = Needed(e, "type", "usb", "pci", "sata", "scsi", "virtio-serial", "ide", "fdc", "ccid"),
                Index = Int(e, "index"),
                Model = A(e, "model"),
                Ports = Int(e, "ports"),
                Vectors = Int(e, "vectors"),
            };
            if (c.Index < 0) Problems.Add($"<controller index='{c.Index}'> must not be negative.", e);
            if (c.Model is not null && ControllerModels.TryGetValue(c.Type, out var models) && !models.Contains(c.Model))
                BadValue(e.Attribute("model")!, $"model of <controller type='{c.Type}'>", c.Model, string.Join(", ", models.Select(m => $"'{m}'")));
            foreach (var x in e.Elements())
            {
                switch (x.Name.LocalName)
                {
                    case "alias": c.Alias = A(x, "name"); break;
                    case "address": c.Address = Address(x); break;
                    case "target":
                        c.TargetChassisNr = A(x, "chassisNr"); c.TargetChassis = A(x, "chassis"); c.TargetPort = A(x, "port"); c.TargetBusNr = A(x, "busNr");
                        c.TargetIndex = A(x, "index"); c.TargetHotplug = OneOf(x, "hotplug", "on", "off");
                        foreach (var n in x.Elements())
                            if (n.Name.LocalName == "node" && int.TryParse(n.Value.Trim(), out var node)) c.TargetNode = node;
                            else Unsupported(n, "target");
                        break;
                    case "model": c.ModelName = A(x, "name"); break;
                    case "master": c.MasterStartPort = Int(x, "startport"); break;
                    case "driver": c.Driver = Attrs(x); break;
                    default: Unsupported(x, "controller"); break;
                }
            }
            return c;
        }

        private InterfaceDef Interface(XElement e)
        {
            var n = new InterfaceDef { Type = OneOf(e, "type", "user", "network", "bridge", "direct", "ethernet") ?? "user" };
            foreach (var c in e.Elements())
            {
                switch (c.Name.LocalName)
                {
                    case "mac":
                        n.Mac = Mac(c);
                        break;
                    case "source":
                        n.SourceNetwork = A(c, "network"); n.SourceBridge = A(c, "bridge");
                        n.SourceDev = A(c, "dev"); n.SourceMode = A(c, "mode");
                        break;
                    case "model": n.Model = A(c, "type"); break;
                    case "target": n.TargetDev = A(c, "dev"); break;
                    case "link": n.LinkState = OneOf(c, "state", "up", "down"); break;
                    case "boot": n.BootOrder = Int(c, "order"); break;
                    case "alias": n.Alias = A(c, "name"); break;
                    case "address": n.Address = Address(c); break;
                    case "portForward": n.PortForwards.Add(PortForward(c)); break;
                    case "backend":
                        // libvirt's user-mode backends: slirp (QEMU's own) or passt. Both are
                        // served by QEMU's user networking here, port forwards included.
                        OneOf(c, "type", "default", "slirp", "passt");
                        n.Backend = A(c, "type");
                        break;
                    // <driver name='vhost'/> is a hint; vhost is used only where the host has it
                    case "driver": n.Driver = Attrs(c); break;
                    case "bandwidth":
                        n.Bandwidth = new BandwidthDef();
                        foreach (var b in c.Elements())
                        {
                            var attrs = Attrs(b);
                            foreach (var a in attrs.Where(a => a.Key is not ("average" or "peak" or "burst" or "floor") || !ulong.TryParse(a.Value, out _)))
                                Problems.Add($"<bandwidth><{b.Name.LocalName} {a.Key}='{a.Value}'>: use average, peak, burst (and floor on inbound) as whole numbers (KiB/s, KiB).", b);
                            if (b.Name.LocalName == "inbound") n.Bandwidth.Inbound = attrs;
                            else if (b.Name.LocalName == "outbound") n.Bandwidth.Outbound = attrs;
                            else Unsupported(b, "bandwidth");
                        }
                        break;
                    case "mtu": n.Mtu = Int(c, "size"); break;
                    case "rom": n.RomBar = OneOf(c, "bar", "on", "off"); n.RomFile = A(c, "file"); break;
                    default: Unsupported(c, "interface"); break;
                }
            }
            return n;
        }

        /// <summary>libvirt's port forward, as its passt backend writes it: &lt;portForward proto address dev&gt;&lt;range start end to/&gt;.</summary>
        private PortForwardDef PortForward(XElement e)
        {
            var pf = new PortForwardDef { Proto = OneOf(e, "proto", "tcp", "udp") ?? "tcp", Address = A(e, "address"), Dev = A(e, "dev") };
            if (pf.Address is not null && !System.Net.IPAddress.TryParse(pf.Address, out _))
                Problems.Add($"Port forward address '{pf.Address}' is not an IP address.", e);
            foreach (var c in e.Elements())
            {
                if (c.Name.LocalName != "range") { Unsupported(c, "portForward"); continue; }
                if (YesNo(A(c, "exclude"))) { Problems.Add("Excluded port ranges (<range exclude='yes'>) are not supported; list the ports to forward instead.", c); continue; }
                var r = new PortRangeDef { Start = Int(c, "start") ?? 0, End = Int(c, "end"), To = Int(c, "to") };
                if (A(c, "start") is null) Problems.Add("A port forward <range> needs start='PORT'.", c);
                foreach (var (name, v) in new[] { ("start", (int?)r.Start), ("end", r.End), ("to", r.To) })
                    if (v is < 1 or > 65535 && A(c, name) is not null) Problems.Add($"Port {name}='{v}' of <range> is outside 1-65535.", c);
                if (r.End is { } end && end < r.Start) Problems.Add($"Port range {r.Start}-{end} ends before it starts.", c);
                if (r.To is { } to && to + (r.End ?? r.Start) - r.Start > 65535) Problems.Add($"Port range {r.Start}-{r.End} mapped to {to} runs past 65535.", c);
                pf.Ranges.Add(r);
            }
            if (pf.Ranges.Count == 0) Problems.Add("A <portForward> needs at least one <range start='PORT'/>.", e);
            return pf;
        }

        private static readonly string[] CharTypes = ["pty", "file", "unix", "null", "spicevmc", "spiceport", "tcp", "udp", "stdio", "vc", "dev", "pipe"];

        private static readonly string[] DiskDriverAttributes =
            ["name", "type", "cache", "io", "discard", "iothread", "queues", "queue_size", "error_policy", "rerror_policy", "detect_zeroes", "copy_on_read"];

        private static readonly string[] IotuneNames =
        [
            "total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec", "write_iops_sec",
            "total_bytes_sec_max", "read_bytes_sec_max", "write_bytes_sec_max", "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max",
            "total_bytes_sec_max_length", "read_bytes_sec_max_length", "write_bytes_sec_max_length",
            "total_iops_sec_max_length", "read_iops_sec_max_length", "write_iops_sec_max_length", "size_iops_sec", "group_name",
        ];

        private static readonly Dictionary<string, string[]> ControllerModels = new()
        {
            ["usb"] = ["piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3", "vt82c686b-uhci", "pci-ohci", "nec-xhci", "qemu-xhci", "none"],
            ["pci"] = ["pci-root", "pcie-root", "pci-bridge", "dmi-to-pci-bridge", "pcie-to-pci-bridge", "pcie-root-port", "pcie-switch-upstream-port", "pcie-switch-downstream-port", "pci-expander-bus", "pcie-expander-bus"],
            ["scsi"] = ["virtio-scsi", "virtio-transitional", "virtio-non-transitional", "lsilogic", "lsisas1068", "lsisas1078", "vmpvscsi", "buslogic", "auto"],
            ["virtio-serial"] = ["virtio", "virtio-transitional", "virtio-non-transitional"],
            ["ide"] = ["piix3", "piix4", "ich6"],
        };

        private CharDef Char(XElement e, params string[] types)
        {
            var ch = new CharDef { Type = OneOf(e, "type", types) ?? "pty" };
            var parent = e.Name.LocalName;
            foreach (var c in e.Elements())
            {
                switch (c.Name.LocalName)
                {
                    case "source":
                        ch.SourcePath = A(c, "path"); ch.SourceMode = A(c, "mode"); ch.SourceAppend = A(c, "append");
                        ch.SourceChannel = A(c, "channel"); ch.SourceHost = A(c, "host"); ch.SourceService = A(c, "service");
                        break;
                    case "target":
                        ch.TargetType = A(c, "type"); ch.TargetPort = Int(c, "port"); ch.TargetName = A(c, "name"); ch.TargetState = A(c, "state");
                        foreach (var m in c.Elements())
                            if (m.Name.LocalName == "model") ch.TargetModel = A(m, "name");
                            else Unsupported(m, "target");
                        break;
                    case "log": ch.LogFile = A(c, "file"); ch.LogAppend = A(c, "append"); break;
                    case "alias": ch.Alias = A(c, "name"); break;
                    case "address": ch.Address = Address(c); break;
                    case "protocol": ch.Protocol = OneOf(c, "type", "raw", "telnet", "telnets", "tls"); break;
                    default: Unsupported(c, parent); break;
                }
            }
            if (ch.Type == "file" && ch.SourcePath is null) Problems.Add($"A <{parent} type='file'> needs <source path='...'/>.", e);
            if (ch.Type == "unix" && ch.SourcePath is null && parent != "channel") Problems.Add($"A <{parent} type='unix'> needs <source mode='bind' path='...'/>.", e);
            if (parent == "channel" && ch.TargetType != "virtio")
                Problems.Add($"Unsupported channel target type '{ch.TargetType}'; Vireo supports <target type='virtio' name='...'/>.", e);
            if (ch.Type == "spiceport" && ch.SourceChannel is null) Problems.Add($"A <{parent} type='spiceport'> needs <source channel='NAME'/>.", e);
            if (ch.Type is "tcp" or "udp" && ch.SourceService is null) Problems.Add($"A <{parent} type='{ch.Type}'> needs <source mode='bind|connect' host='HOST' service='PORT'/>.", e);
            if (parent == "console" && ch.TargetType is not (null or "serial" or "virtio"))
                BadValue(e, "console target type", ch.TargetType, "'serial' or 'virtio'");
            return ch;
        }

        private InputDef Input(XElement e)
        {
            var i = new InputDef
            {
                Type = OneOf(e, "type", "tablet", "mouse", "keyboard", "passthrough", "evdev") ?? "tablet",
                Bus = OneOf(e, "bus", "usb", "ps2", "virtio") ?? "usb",
                Model = OneOf(e, "model", "virtio", "virtio-transitional", "virtio-non-transitional"),
            };
            if (A(e, "bus") is null && i.Type is "mouse" or "keyboard") i.Bus = "ps2";
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "source": i.SourceEvdev = A(c, "evdev") ?? A(c, "dev"); break;
                    case "driver": break;
                    case "alias": i.Alias = A(c, "name"); break;
                    case "address": i.Address = Address(c); break;
                    default: Unsupported(c, "input"); break;
                }
            return i;
        }

        private GraphicsDef Graphics(XElement e)
        {
            var g = new GraphicsDef
            {
                Type = OneOf(e, "type", "vnc", "spice") ?? "vnc", Passwd = A(e, "passwd"), PasswdValidTo = A(e, "passwdValidTo"),
                Keymap = A(e, "keymap"), Connected = OneOf(e, "connected", "keep", "disconnect", "fail"),
                SharePolicy = OneOf(e, "sharePolicy", "allow-exclusive", "force-shared", "ignore"),
                DefaultMode = OneOf(e, "defaultMode", "any", "secure", "insecure"),
            };
            g.Port = Int(e, "port");
            g.TlsPort = Int(e, "tlsPort");
            g.WebsocketPort = Int(e, "websocket");
            g.AutoPort = A(e, "autoport") is null ? g.Port is null or -1 : YesNo(A(e, "autoport"));
            if (g.Port == -1) g.Port = null;
            if (g.WebsocketPort == -1) g.WebsocketPort = null;
            g.Listen = A(e, "listen");
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "listen":
                        g.ListenType = OneOf(c, "type", "address", "none", "network", "socket");
                        if (g.ListenType == "address") g.Listen = A(c, "address") ?? g.Listen;
                        g.ListenNetwork = A(c, "network");
                        g.ListenSocket = A(c, "socket");
                        break;
                    case "image" when g.Type == "spice": g.ImageCompression = OneOf(c, "compression", "auto_glz", "auto_lz", "quic", "glz", "lz", "off"); break;
                    case "jpeg" when g.Type == "spice": g.JpegCompression = OneOf(c, "compression", "auto", "never", "always"); break;
                    case "zlib" when g.Type == "spice": g.ZlibCompression = OneOf(c, "compression", "auto", "never", "always"); break;
                    case "playback" when g.Type == "spice": g.PlaybackCompression = OneOf(c, "compression", "on", "off"); break;
                    case "streaming" when g.Type == "spice": g.StreamingMode = OneOf(c, "mode", "filter", "all", "off"); break;
                    case "clipboard" when g.Type == "spice": g.ClipboardCopyPaste = OneOf(c, "copypaste", "yes", "no"); break;
                    case "mouse" when g.Type == "spice": g.MouseMode = OneOf(c, "mode", "server", "client"); break;
                    case "filetransfer" when g.Type == "spice": g.FileTransfer = OneOf(c, "enable", "yes", "no"); break;
                    case "gl" when g.Type == "spice": g.GlEnable = OneOf(c, "enable", "yes", "no"); g.GlRenderNode = A(c, "rendernode"); break;
                    case "channel" when g.Type == "spice":
                        g.Channels.Add((Needed(c, "name", "main", "display", "inputs", "cursor", "playback", "record", "smartcard", "usbredir"),
                            OneOf(c, "mode", "secure", "insecure", "any") ?? "any"));
                        break;
                    case "audio": g.AudioId = Int(c, "id"); break;
                    default: Unsupported(c, "graphics"); break;
                }
            return g;
        }

        private VideoDef Video(XElement e)
        {
            var v = new VideoDef();
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "model":
                        v.Model = OneOf(c, "type", "vga", "cirrus", "virtio", "bochs", "qxl", "ramfb", "vmvga", "none") ?? "vga";
                        v.Vram = Int(c, "vram"); v.Heads = Int(c, "heads"); v.Ram = Int(c, "ram"); v.Vgamem = Int(c, "vgamem"); v.Vram64 = Int(c, "vram64");
                        v.Primary = A(c, "primary") is { } p ? YesNo(p) : null;
                        foreach (var x in c.Elements())
                            if (x.Name.LocalName == "acceleration") { v.Accel3d = OneOf(x, "accel3d", "yes", "no"); v.Accel2d = OneOf(x, "accel2d", "yes", "no"); }
                            else Unsupported(x, "model");
                        break;
                    case "driver": v.Driver = Attrs(c); break;
                    case "alias": v.Alias = A(c, "name"); break;
                    case "address": v.Address = Address(c); break;
                    default: Unsupported(c, "video"); break;
                }
            return v;
        }

        private RngDef Rng(XElement e)
        {
            var r = new RngDef { Model = OneOf(e, "model", "virtio", "virtio-transitional", "virtio-non-transitional") ?? "virtio" };
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "backend":
                        r.BackendModel = OneOf(c, "model", "random", "builtin") ?? "random";
                        r.BackendSource = string.IsNullOrWhiteSpace(c.Value) ? null : c.Value.Trim();
                        break;
                    case "rate": r.RateBytes = Int(c, "bytes"); r.RatePeriod = Int(c, "period"); break;
                    case "alias": r.Alias = A(c, "name"); break;
                    case "address": r.Address = Address(c); break;
                    default: Unsupported(c, "rng"); break;
                }
            return r;
        }

        private FilesystemDef Filesystem(XElement e)
        {
            var f = new FilesystemDef
            {
                Type = OneOf(e, "type", "mount") ?? "mount",
                AccessMode = OneOf(e, "accessmode", "passthrough", "mapped", "squash") ?? "passthrough",
            };
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "driver": f.DriverType = OneOf(c, "type", "path", "virtiofs"); f.Queue = Int(c, "queue"); break;
                    case "binary": f.BinaryPath = A(c, "path"); break;
                    case "source": f.Source = A(c, "dir") ?? ""; break;
                    case "target": f.Target = A(c, "dir") ?? ""; break;
                    case "readonly": f.ReadOnly = true; break;
                    case "alias": f.Alias = A(c, "name"); break;
                    case "address": f.Address = Address(c); break;
                    default: Unsupported(c, "filesystem"); break;
                }
            if (f.Source.Length == 0 || f.Target.Length == 0)
                Problems.Add("A <filesystem> needs <source dir='/host/path'/> and <target dir='tag'/>.", e);
            return f;
        }
    }
}
