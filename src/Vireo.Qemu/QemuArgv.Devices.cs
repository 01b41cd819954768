using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Vireo.Model;

namespace Vireo.Qemu;

public static partial class QemuArgv
{
    private static void Controllers(DomainDef d, Args a)
    {
        var q35 = IsQ35(d);
        foreach (var c in d.Devices.Controllers.OrderBy(c => c.Type == "pci" ? 0 : 1).ThenBy(c => c.Index ?? 0))
        {
            JsonObject? dev = c.Type switch
            {
                "pci" => c.Model switch
                {
                    "pci-root" or "pcie-root" or null => null,
                    "pcie-root-port" => new JsonObject
                    {
                        ["driver"] = "pcie-root-port",
                        ["port"] = c.TargetPort is { } p ? ParseNum(p) : 0x10 + (c.Index ?? 1) - 1,
                        ["chassis"] = c.TargetChassis is { } ch ? ParseNum(ch) : c.Index ?? 1,
                        ["id"] = c.Alias,
                    },
                    "pci-bridge" => new JsonObject { ["driver"] = "pci-bridge", ["chassis_nr"] = c.Index ?? 1, ["id"] = c.Alias },
                    "pcie-to-pci-bridge" => new JsonObject { ["driver"] = "pcie-pci-bridge", ["id"] = c.Alias },
                    _ => throw new LaunchException($"Unsupported PCI controller model '{c.Model}'; use pcie-root-port, pci-bridge or pcie-to-pci-bridge."),
                },
                "usb" => (c.Model ?? (q35 ? "qemu-xhci" : "piix3-uhci")) switch
                {
                    "none" => null,
                    "qemu-xhci" => c.Ports is { } xp
                        ? new JsonObject { ["driver"] = "qemu-xhci", ["p2"] = xp, ["p3"] = xp, ["id"] = c.Alias }
                        : new JsonObject { ["driver"] = "qemu-xhci", ["id"] = c.Alias },
                    "nec-xhci" => new JsonObject { ["driver"] = "nec-usb-xhci", ["id"] = c.Alias },
                    "piix3-uhci" => new JsonObject { ["driver"] = "piix3-usb-uhci", ["id"] = c.Alias },
                    "ich9-ehci1" => new JsonObject { ["driver"] = "ich9-usb-ehci1", ["id"] = c.Alias },
                    "ich9-uhci1" or "ich9-uhci2" or "ich9-uhci3" => new JsonObject
                    {
                        // A companion joins its EHCI's bus: it has no bus of its own, and no id (the alias is the EHCI's).
                        ["driver"] = "ich9-usb-" + c.Model![5..], ["masterbus"] = $"{c.Alias}.0", ["firstport"] = c.MasterStartPort ?? c.Model[^1] switch { '1' => 0, '2' => 2, _ => 4 },
                    },
                    var m => throw new LaunchException($"Unsupported USB controller model '{m}'; use qemu-xhci, piix3-uhci or none."),
                },
                "sata" when q35 && (c.Index ?? 0) == 0 => null, // q35's built-in AHCI (bus ide.N)
                "sata" => new JsonObject { ["driver"] = "ich9-ahci", ["id"] = c.Alias },
                "ide" => null,                               // the pc machine's built-in IDE
                "scsi" => (c.Model ?? "virtio-scsi") switch
                {
                    "virtio-scsi" => new JsonObject { ["driver"] = "virtio-scsi-pci", ["id"] = c.Alias },
                    var m => throw new LaunchException($"Unsupported SCSI controller model '{m}'; use virtio-scsi."),
                },
                "virtio-serial" => new JsonObject { ["driver"] = "virtio-serial-pci", ["id"] = c.Alias },
                _ => null,
            };
            if (dev is null) continue;
            PciAddress(d, c.Address, dev);
            a.Device(dev);
        }
        // Controllers the devices need are in the definition: DomainRules.Fill adds them on define.
    }

    private static void Disks(DomainDef d, Args a)
    {
        foreach (var disk in d.Devices.Disks)
        {
            if (DiskNodes(disk) is { } nodes)
            {
                a.Blockdev(nodes.Storage);
                a.Blockdev(nodes.Format);
            }
            a.Device(DiskDevice(d, disk));
        }
    }

    private static (bool Direct, bool NoFlush, bool WriteCache) CacheMode(DiskDef disk) => disk.Cache switch
    {
        "none" => (true, false, true),
        "writethrough" => (false, false, false),
        "directsync" => (true, false, false),
        "unsafe" => (false, true, true),
        _ => (false, false, true), // writeback, default
    };

    /// <summary>
    /// The two block nodes of a disk with media: ALIAS-storage (the file or device) and
    /// ALIAS-format (raw/qcow2 on top), as -blockdev takes them and blockdev-add too (hot-plug,
    /// change-media). Null for an empty CD-ROM.
    /// </summary>
    public static (JsonObject Storage, JsonObject Format)? DiskNodes(DiskDef disk)
    {
        if (!disk.HasMedia) return null;
        var alias = disk.Alias!;
        var (direct, noFlush, _) = CacheMode(disk);
        if (disk.SourceProtocol is { } proto)
        {
            // QEMU's curl driver (Debian's qemu-block-extra) for http(s), its own client for NBD.
            var net = proto == "nbd"
                ? new JsonObject
                {
                    ["driver"] = "nbd",
                    ["server"] = new JsonObject { ["type"] = "inet", ["host"] = disk.SourceHost, ["port"] = (disk.SourcePort ?? disk.DefaultPort).ToString(CultureInfo.InvariantCulture) },
                    ["node-name"] = $"{alias}-storage", ["read-only"] = disk.ReadOnly,
                }
                : new JsonObject { ["driver"] = proto, ["url"] = disk.Url, ["node-name"] = $"{alias}-storage", ["read-only"] = true };
            if (proto == "nbd" && disk.SourceName is { Length: > 0 } export) net["export"] = export.TrimStart('/');
            return (net, new JsonObject
            {
                ["node-name"] = $"{alias}-format", ["read-only"] = disk.ReadOnly, ["driver"] = disk.Format ?? "raw", ["file"] = $"{alias}-storage",
            });
        }
        if (disk.Io == "native" && !direct)
            throw new LaunchException($"Disk '{disk.TargetDev}': io='native' needs cache='none' or 'directsync'.");
        var storage = new JsonObject
        {
            ["driver"] = disk.Type == "block" ? "host_device" : "file",
            ["filename"] = disk.Source,
            ["node-name"] = $"{alias}-storage",
            ["auto-read-only"] = true,
            ["discard"] = disk.Discard == "unmap" ? "unmap" : "ignore",
            ["cache"] = new JsonObject { ["direct"] = direct, ["no-flush"] = noFlush },
        };
        if (disk.Io is { } io) storage["aio"] = io;
        var format = new JsonObject
        {
            ["node-name"] = $"{alias}-format",
            ["read-only"] = disk.ReadOnly,
            ["discard"] = disk.Discard == "unmap" ? "unmap" : "ignore",
            ["cache"] = new JsonObject { ["direct"] = direct, ["no-flush"] = noFlush },
            ["driver"] = disk.Format ?? "raw",
            ["file"] = $"{alias}-storage",
        };
        return (storage, format);
    }

    /// <summary>The guest-side device of a disk (virtio-blk-pci, ide-hd/cd, scsi-hd/cd).</summary>
    public static JsonObject DiskDevice(DomainDef d, DiskDef disk)
    {
        var q35 = IsQ35(d);
        var alias = disk.Alias!;
        var dev = new JsonObject();
        if (disk.HasMedia && disk.Device == "disk") dev["write-cache"] = CacheMode(disk).WriteCache ? "on" : "off";
        var idx = DomainRules.DiskIndex(disk.TargetDev);
        var cd = disk.Device == "cdrom";
        switch (disk.TargetBus)
        {
            case "virtio":
                dev["driver"] = "virtio-blk-pci";
                if (disk.Iothread is { } it) dev["iothread"] = $"iothread{it}";
                if (disk.Queues is { } q) dev["num-queues"] = q;
                PciAddress(d, disk.Address, dev);
                break;
            case "usb":
                dev["driver"] = "usb-storage";
                UsbAddress(disk.Address, dev);
                if (cd) dev["removable"] = true;
                break;
            case "fdc":
                dev["driver"] = "floppy";
                dev["unit"] = idx;
                break;
            case "sata":
                dev["driver"] = cd ? "ide-cd" : "ide-hd";
                var ctl = int.TryParse(disk.Address?.Get("controller"), out var ci) ? ci : 0;
                var unit = int.TryParse(disk.Address?.Get("unit"), out var ui) ? ui : idx;
                dev["bus"] = q35 && ctl == 0 ? $"ide.{unit}" : $"sata{ctl}.{unit}";
                break;
            case "ide":
                if (q35) throw new LaunchException($"Disk '{disk.TargetDev}': the q35 machine has no IDE bus; use bus='sata'.");
                dev["driver"] = cd ? "ide-cd" : "ide-hd";
                var ibus = int.TryParse(disk.Address?.Get("bus"), out var bi) ? bi : idx / 2;
                var iunit = int.TryParse(disk.Address?.Get("unit"), out var iu) ? iu : idx % 2;
                dev["bus"] = $"ide.{ibus}";
                dev["unit"] = iunit;
                break;
            case "scsi":
                dev["driver"] = cd ? "scsi-cd" : "scsi-hd";
                var sctl = int.TryParse(disk.Address?.Get("controller"), out var sc) ? sc : 0;
                dev["bus"] = $"scsi{sctl}.0";
                dev["channel"] = 0;
                dev["scsi-id"] = 0;
                dev["lun"] = int.TryParse(disk.Address?.Get("unit"), out var su) ? su : idx;
                break;
        }
        if (disk.HasMedia) dev["drive"] = $"{alias}-format";
        dev["id"] = alias;
        if (disk.BootOrder is { } bo) dev["bootindex"] = bo;
        if (disk.Serial is { } serial) dev["serial"] = serial;
        if (disk.Shareable) dev["share-rw"] = true;
        return Order(dev);
    }

    /// <summary>Puts "driver" first, as QEMU and people expect to read it.</summary>
    private static JsonObject Order(JsonObject o)
    {
        var r = new JsonObject { ["driver"] = o["driver"]?.DeepClone() };
        foreach (var kv in o.ToList())
            if (kv.Key != "driver") r[kv.Key] = kv.Value?.DeepClone();
        return r;
    }

    /// <summary>Where a virtiofs share's vhost-user socket lives (the daemon makes it and hands virtiofsd the fd).</summary>
    public static string VirtiofsSocket(string channelDir, string alias) => Path.Combine(channelDir, $"{alias}-fs.sock");

    private static void Filesystems(DomainDef d, LaunchContext ctx, Args a)
    {
        foreach (var f in d.Devices.Filesystems)
        {
            if (f.DriverType == "virtiofs")
            {
                a.Add("-chardev", $"socket,id=chr-vu-{f.Alias},path={Escape(VirtiofsSocket(ctx.ChannelDir, f.Alias!))}");
                var vu = new JsonObject { ["driver"] = "vhost-user-fs-pci", ["id"] = f.Alias, ["chardev"] = $"chr-vu-{f.Alias}", ["queue-size"] = f.Queue ?? 1024, ["tag"] = f.Target };
                PciAddress(d, f.Address, vu);
                a.Device(vu);
                continue;
            }
            var model = f.AccessMode switch { "mapped" => "mapped-xattr", "squash" => "none", _ => "passthrough" };
            a.Add("-fsdev", $"local,id=fsdev-{f.Alias},path={Escape(f.Source)},security_model={model}{(f.ReadOnly ? ",readonly=on" : "")}");
            var dev = new JsonObject { ["driver"] = "virtio-9p-pci", ["id"] = f.Alias, ["fsdev"] = $"fsdev-{f.Alias}", ["mount_tag"] = f.Target };
            PciAddress(d, f.Address, dev);
            a.Device(dev);
        }
    }

    private static void Nics(DomainDef d, LaunchContext ctx, Args a)
    {
        foreach (var n in d.Devices.Interfaces)
        {
            var id = $"host{n.Alias}";
            switch (n.Type)
            {
                case "user":
                {
                    // Port forwards become hostfwd entries, one per port (QEMU takes no ranges).
                    var fwd = new StringBuilder();
                    foreach (var pf in n.PortForwards)
                        foreach (var r in pf.Ranges)
                        {
                            if (r.Count > 1024) throw new LaunchException($"Port range {r.Start}-{r.End} of a user-mode interface forwards {r.Count} ports; QEMU needs one entry per port, so keep it to 1024.");
                            for (int i = 0; i < r.Count; i++)
                                fwd.Append($",hostfwd={pf.Proto}:{(pf.Address is { } addr && addr.Contains(':') ? $"[{addr}]" : pf.Address)}:{r.Start + i}-:{r.GuestStart + i}");
                        }
                    a.Add("-netdev", $"user,id={id}{fwd}");
                    break;
                }
                default:
                    if (!ctx.TapFds.TryGetValue(n.Alias!, out var fd))
                        throw new LaunchException($"Interface '{n.Alias}' of type '{n.Type}' has no tap: the engine opens one (TUNSETIFF or macvtap) before the argv is built.");
                    a.Add("-netdev", $"tap,fd={fd},id={id}{(ctx.VhostNet && n.Model == "virtio" ? ",vhost=on" : "")}");
                    break;
            }
            var dev = new JsonObject
            {
                ["driver"] = n.Model switch { "e1000" => "e1000", "e1000e" => "e1000e", "rtl8139" => "rtl8139", _ => "virtio-net-pci" },
                ["netdev"] = id,
                ["id"] = n.Alias,
                ["mac"] = n.Mac,
            };
            if (n.LinkState == "down") dev["link_up"] = false;
            if (n.BootOrder is { } bo) dev["bootindex"] = bo;
            PciAddress(d, n.Address, dev);
            a.Device(dev);
        }
    }

    private static void Misc(DomainDef d, LaunchContext ctx, Args a)
    {
        Panics(d, a);
        Platform(d, ctx, a);
        foreach (var i in d.Devices.Inputs.Where(i => i.Bus != "ps2"))
        {
            var driver = (i.Type, i.Bus) switch
            {
                ("tablet", "usb") => "usb-tablet", ("mouse", "usb") => "usb-mouse", ("keyboard", "usb") => "usb-kbd",
                ("tablet", _) => "virtio-tablet-pci", ("mouse", _) => "virtio-mouse-pci", _ => "virtio-keyboard-pci",
            };
            if (i.Type is "passthrough" or "evdev")
                throw new LaunchException($"<input type='{i.Type}'> passes a host input device ({i.SourceEvdev}) to the guest; Vireo does not support it yet.");
            var dev = new JsonObject { ["driver"] = driver, ["id"] = i.Alias };
            if (i.Bus == "usb") UsbAddress(i.Address, dev);
            else PciAddress(d, i.Address, dev);
            a.Device(dev);
        }
        if (d.Devices.Memballoon is { } mb && mb.Model != "none")
        {
            var dev = new JsonObject { ["driver"] = "virtio-balloon-pci" + (mb.Model == "virtio" ? "" : mb.Model[6..]), ["id"] = mb.Alias };
            if (mb.Autodeflate == "on") dev["deflate-on-oom"] = true;
            if (mb.FreePageReporting == "on") dev["free-page-reporting"] = true;
            PciAddress(d, mb.Address, dev);
            a.Device(dev);
        }
        foreach (var r in d.Devices.Rngs)
        {
            var obj = $"obj{r.Alias}";
            a.Object(r.BackendModel == "builtin"
                ? new JsonObject { ["qom-type"] = "rng-builtin", ["id"] = obj }
                : new JsonObject { ["qom-type"] = "rng-random", ["id"] = obj, ["filename"] = r.BackendSource ?? "/dev/urandom" });
            var dev = new JsonObject { ["driver"] = "virtio-rng-pci", ["rng"] = obj, ["id"] = r.Alias };
            if (r.RateBytes is { } rb) { dev["max-bytes"] = rb; dev["period"] = r.RatePeriod ?? 1000; }
            PciAddress(d, r.Address, dev);
            a.Device(dev);
        }
    }

    private static void Watchdogs(DomainDef d, Args a)
    {
        foreach (var w in d.Devices.Watchdogs)
        {
            switch (w.Model)
            {
                case "i6300esb":
                    var dev = new JsonObject { ["driver"] = "i6300esb", ["id"] = w.Alias };
                    PciAddress(d, w.Address, dev);
                    a.Device(dev);
                    break;
                case "ib700":
                    a.Device(new JsonObject { ["driver"] = "ib700", ["id"] = w.Alias });
                    break;
                case "itco":
                    // q35's ICH9 LPC has the TCO watchdog built in; it only has to be allowed to act.
                    if (!IsQ35(d)) throw new LaunchException("The itco watchdog is part of the q35 machine's ICH9 chipset; use model='i6300esb' or 'ib700' on machine 'pc'.");
                    a.Add("-global", "ICH9-LPC.noreboot=off");
                    break;
                default:
                    throw new LaunchException($"Watchdog model '{w.Model}' is not available on x86; use i6300esb, ib700 or itco.");
            }
        }
        if (d.Devices.Watchdogs.FirstOrDefault()?.Action is { } action)
            a.Add("-action", action is "reset" or "shutdown" or "poweroff" or "pause" or "none" or "inject-nmi"
                ? $"watchdog={action}"
                : throw new LaunchException($"Watchdog action '{action}' is not supported; use reset, shutdown, poweroff, pause, none or inject-nmi."));
    }

    private static void Platform(DomainDef d, LaunchContext ctx, Args a)
    {
        var dev = d.Devices;
        if (d.Features.Switch("vmcoreinfo") == "on") a.Device(new JsonObject { ["driver"] = "vmcoreinfo" });
        if (dev.Iommu is { } mmu)
        {
            var o = new JsonObject { ["driver"] = mmu.Model switch { "intel" => "intel-iommu", "virtio" => "virtio-iommu-pci", var m => throw new LaunchException($"IOMMU model '{m}' is not available on x86; use intel or virtio.") }, ["id"] = mmu.Alias };
            if (mmu.Option("intremap") is { } ir) o["intremap"] = ir;
            if (mmu.Option("caching_mode") is { } cm) o["caching-mode"] = cm == "on";
            if (mmu.Option("eim") is { } eim) o["eim"] = eim;
            if (mmu.Option("iotlb") is { } iotlb) o["device-iotlb"] = iotlb == "on";
            if (mmu.Option("aw_bits") is { } aw) o["aw-bits"] = ParseNum(aw);
            if (mmu.Model == "virtio") PciAddress(d, mmu.Address, o);
            a.Device(o);
        }
        if (dev.Vsock is { } vs)
        {
            if (ctx.VsockFd is not { } vfd)
                throw new LaunchException("A <vsock> device needs /dev/vhost-vsock opened by the engine before the argv is built.");
            var o = new JsonObject { ["driver"] = "vhost-vsock-pci", ["id"] = vs.Alias, ["guest-cid"] = vs.CidAddress ?? ctx.VsockCid ?? 0, ["vhostfd"] = vfd.ToString(CultureInfo.InvariantCulture) };
            PciAddress(d, vs.Address, o);
            a.Device(o);
        }
        foreach (var t in dev.Tpms)
        {
            // The emulator backend is swtpm on a unix socket the engine starts it on; passthrough is the host's own TPM.
            var chr = $"chr{t.Alias}";
            var tpmdev = $"tpm-{t.Alias}";
            if (t.BackendType == "emulator")
            {
                if (!ctx.TpmSockets.TryGetValue(t.Alias!, out var sock))
                    throw new LaunchException($"<tpm> {t.Alias} needs its swtpm socket: the engine starts swtpm before the argv is built.");
                a.Add("-chardev", $"socket,id={chr},path={Escape(sock)}");
                a.Add("-tpmdev", $"emulator,id={tpmdev},chardev={chr}");
            }
            else if (t.BackendType == "passthrough")
                a.Add("-tpmdev", $"passthrough,id={tpmdev},path={Escape(t.DevicePath ?? "/dev/tpm0")}");
            else
                throw new LaunchException($"TPM backend type '{t.BackendType}' is not supported; use 'emulator' (swtpm) or 'passthrough'.");
            a.Device(new JsonObject { ["driver"] = t.Model, ["tpmdev"] = tpmdev, ["id"] = t.Alias });
        }
        Watchdogs(d, a);
    }

    private static void Panics(DomainDef d, Args a)
    {
        foreach (var p in d.Devices.Panics)
        {
            if (p.Model == "hyperv") continue; // a CPU flag (hv-crash), set with the CPU model
            if (p.Model == "pvpanic")
            {
                var dev = new JsonObject { ["driver"] = "pvpanic-pci" };
                PciAddress(d, p.Address, dev);
                a.Device(dev);
            }
            else
            {
                var port = p.Address?.Get("iobase") is { } io ? ParseNum(io) : 0x505;
                a.Device(new JsonObject { ["driver"] = "pvpanic", ["ioport"] = port });
            }
        }
    }

    /// <summary>QEMU's option syntax doubles commas inside values.</summary>
    internal static string Escape(string value) => value.Replace(",", ",,");
}
