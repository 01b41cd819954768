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

    private sealed class Reader : XmlReading
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
                        if (int.TryParse(e.Value.Trim(), out var n)) d.Vcpus = n;
                        else Problems.Add($"<vcpu> must hold a number of CPUs, not '{e.Value.Trim()}'.", e);
                        break;
                    case "os": d.Os = Os(e); break;
                    case "memoryBacking":
                        d.MemoryBacking = new MemoryBackingDef();
                        foreach (var m in e.Elements())
                            switch (m.Name.LocalName)
                            {
                                case "source": d.MemoryBacking.SourceType = OneOf(m, "type", "memfd", "file", "anonymous"); break;
                                case "access": d.MemoryBacking.AccessMode = OneOf(m, "mode", "shared", "private"); break;
                                default: Unsupported(m, "memoryBacking"); break;
                            }
                        break;
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
                    case "resource": // <partition>/machine</partition>: the default, nothing to do
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
                    case "bootmenu": o.BootMenu = YesNo(A(e, "enable")); break;
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
                    case "cache": break; // <cache mode='passthrough'/>: QEMU's default for host CPUs
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

        private AddressDef Address(XElement e) => new()
        {
            Type = OneOf(e, "type", "pci", "drive", "virtio-serial", "usb", "isa") ?? "pci",
            Attributes = e.Attributes().Where(a => a.Name != "type").Select(a => KeyValuePair.Create(a.Name.LocalName, a.Value)).ToList(),
        };

        private DevicesDef Devices(XElement ds)
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
                    case "serial": d.Serials.Add(Char(e, "pty", "file", "unix", "null")); break;
                    case "console": d.Consoles.Add(Char(e, "pty", "file", "unix", "null")); break;
                    case "channel": d.Channels.Add(Char(e, "unix", "pty")); break;
                    case "input": d.Inputs.Add(Input(e)); break;
                    case "graphics": d.Graphics.Add(Graphics(e)); break;
                    case "video": d.Videos.Add(Video(e)); break;
                    case "memballoon":
                        d.Memballoon = new MemballoonDef { Model = OneOf(e, "model", "virtio", "none") ?? "virtio" };
                        foreach (var c in e.Elements())
                            switch (c.Name.LocalName)
                            {
                                case "alias": d.Memballoon.Alias = A(c, "name"); break;
                                case "address": d.Memballoon.Address = Address(c); break;
                                case "stats": break;
                                default: Unsupported(c, "memballoon"); break;
                            }
                        break;
                    case "rng": d.Rngs.Add(Rng(e)); break;
                    case "filesystem": d.Filesystems.Add(Filesystem(e)); break;
                    case "panic":
                        var panic = new PanicDef { Model = OneOf(e, "model", "isa", "pvpanic") ?? "isa" };
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
                Device = OneOf(e, "device", "disk", "cdrom") ?? "disk",
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
                        break;
                    case "source":
                        disk.Source = A(c, "file") ?? A(c, "dev");
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
                        disk.TargetBus = OneOf(c, "bus", "virtio", "sata", "scsi", "ide");
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
                Type = OneOf(e, "type", "usb", "pci", "sata", "scsi", "virtio-serial", "ide") ?? "",
                Index = Int(e, "index"),
                Model = A(e, "model"),
                Ports = Int(e, "ports"),
            };
            foreach (var x in e.Elements())
            {
                switch (x.Name.LocalName)
                {
                    case "alias": c.Alias = A(x, "name"); break;
                    case "address": c.Address = Address(x); break;
                    case "target": c.TargetChassis = A(x, "chassis"); c.TargetPort = A(x, "port"); break;
                    case "model": break; // <model name='pcie-root-port'/>: implied by the model attribute
                    case "driver": break;
                    default: Unsupported(x, "controller"); break;
                }
            }
            return c;
        }

        private InterfaceDef Interface(XElement e)
        {
            var n = new InterfaceDef { Type = OneOf(e, "type", "user", "network", "bridge", "direct") ?? "user" };
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
                    case "driver": break; // <driver name='vhost'/> is a hint; vhost is used only where the host has it
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
                        break;
                    case "target":
                        ch.TargetType = A(c, "type"); ch.TargetPort = Int(c, "port"); ch.TargetName = A(c, "name");
                        foreach (var m in c.Elements())
                            if (m.Name.LocalName == "model") ch.TargetModel = A(m, "name");
                            else Unsupported(m, "target");
                        break;
                    case "log": ch.LogFile = A(c, "file"); ch.LogAppend = A(c, "append"); break;
                    case "alias": ch.Alias = A(c, "name"); break;
                    case "address": ch.Address = Address(c); break;
                    case "protocol": break;
                    default: Unsupported(c, parent); break;
                }
            }
            if (ch.Type == "file" && ch.SourcePath is null) Problems.Add($"A <{parent} type='file'> needs <source path='...'/>.", e);
            if (ch.Type == "unix" && ch.SourcePath is null && parent != "channel") Problems.Add($"A <{parent} type='unix'> needs <source mode='bind' path='...'/>.", e);
            if (parent == "channel" && ch.TargetType != "virtio")
                Problems.Add($"Unsupported channel target type '{ch.TargetType}'; Vireo supports <target type='virtio' name='...'/>.", e);
            if (parent == "console" && ch.TargetType is not (null or "serial" or "virtio"))
                BadValue(e, "console target type", ch.TargetType, "'serial' or 'virtio'");
            return ch;
        }

        private InputDef Input(XElement e)
        {
            var i = new InputDef
            {
                Type = OneOf(e, "type", "tablet", "mouse", "keyboard") ?? "tablet",
                Bus = OneOf(e, "bus", "usb", "ps2", "virtio") ?? "usb",
            };
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "alias": i.Alias = A(c, "name"); break;
                    case "address": i.Address = Address(c); break;
                    default: Unsupported(c, "input"); break;
                }
            return i;
        }

        private GraphicsDef Graphics(XElement e)
        {
            var g = new GraphicsDef { Type = OneOf(e, "type", "vnc") ?? "vnc", Passwd = A(e, "passwd") };
            g.Port = Int(e, "port");
            g.AutoPort = A(e, "autoport") is null ? g.Port is null or -1 : YesNo(A(e, "autoport"));
            if (g.Port == -1) g.Port = null;
            g.Listen = A(e, "listen");
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "listen":
                        var lt = OneOf(c, "type", "address", "none");
                        if (lt == "address") g.Listen = A(c, "address") ?? g.Listen;
                        break;
                    case "image": break; // <image compression='off'/> is spice's
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
                        v.Model = OneOf(c, "type", "vga", "cirrus", "virtio", "bochs", "qxl", "none") ?? "vga";
                        v.Vram = Int(c, "vram"); v.Heads = Int(c, "heads");
                        v.Primary = A(c, "primary") is { } p ? YesNo(p) : null;
                        break;
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
