using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Vireo.Model;

public static partial class DomainXml
{
    /// <summary>Writes the definition as libvirt writes it (two-space indent, single quotes are not kept).</summary>
    /// <param name="pickedFirmware">false: leave out the loader picked for &lt;os firmware='efi'&gt; (and the NVRAM template),
    /// as libvirt 9.0's inactive XML does; libvirt refuses a definition that names both.</param>
    public static string Write(DomainDef d, IReadOnlyDictionary<string, string>? liveState = null, bool pickedFirmware = true)
    {
        var root = new XElement("domain", new XAttribute("type", d.Type));
        if (liveState is not null && liveState.TryGetValue("id", out var id)) root.Add(new XAttribute("id", id));
        root.Add(new XElement("name", d.Name));
        if (d.Uuid != Guid.Empty) root.Add(new XElement("uuid", d.Uuid.ToString()));
        Opt(root, "title", d.Title);
        Opt(root, "description", d.Description);
        if (d.Metadata is not null) root.Add(new XElement(d.Metadata));
        if (d.MaxMemory is { } mm) root.Add(new XElement("maxMemory", new XAttribute("slots", mm.Slots), new XAttribute("unit", "KiB"), mm.KiB));
        root.Add(new XElement("memory", new XAttribute("unit", "KiB"), d.MemoryKiB));
        root.Add(new XElement("currentMemory", new XAttribute("unit", "KiB"), d.CurrentMemoryKiB == 0 ? d.MemoryKiB : d.CurrentMemoryKiB));
        if (d.Blkiotune is { } bt)
            root.Add(new XElement("blkiotune", bt.Weight is { } w ? new XElement("weight", w) : null, bt.Devices.Select(x => new XElement(x))));
        if (d.Memtune is { } mt)
            root.Add(new XElement("memtune", Kib("hard_limit", mt.HardLimitKiB), Kib("soft_limit", mt.SoftLimitKiB),
                Kib("swap_hard_limit", mt.SwapHardLimitKiB), Kib("min_guarantee", mt.MinGuaranteeKiB)));
        if (d.MemoryBacking is { } mb) root.Add(MemoryBacking(mb));
        var vcpu = new XElement("vcpu", new XAttribute("placement", d.VcpuPlacement), Attr("cpuset", d.VcpuCpuset), d.Vcpus);
        if (d.VcpusCurrent is { } cur) vcpu.Add(new XAttribute("current", cur));
        root.Add(vcpu);
        if (d.Iothreads is { } io)
        {
            root.Add(new XElement("iothreads", io.Count));
            if (io.Ids.Count > 0) root.Add(new XElement("iothreadids", io.Ids.Select(i => new XElement("iothread", new XAttribute("id", i)))));
        }
        if (d.Cputune is { } ct) root.Add(Cputune(ct));
        if (d.Numatune is { } nt)
            root.Add(new XElement("numatune",
                nt.Mode is null && nt.Nodeset is null && nt.Placement is null ? null
                    : new XElement("memory", Attr("mode", nt.Mode), Attr("nodeset", nt.Nodeset), Attr("placement", nt.Placement)),
                nt.Memnodes.Select(m => new XElement("memnode", new XAttribute("cellid", m.CellId), new XAttribute("mode", m.Mode), new XAttribute("nodeset", m.Nodeset)))));
        if (d.ResourcePartition is { } rp) root.Add(new XElement("resource", new XElement("partition", rp)));
        foreach (var si in d.Sysinfo) root.Add(Sysinfo(si));
        root.Add(Os(d.Os, pickedFirmware || d.Os.Firmware != "efi"));
        root.Add(Features(d.Features));
        if (d.Cpu is { } cpu) root.Add(Cpu(cpu));
        if (d.Clock is { } clock)
            root.Add(new XElement("clock", new XAttribute("offset", clock.Offset),
                clock.Timers.Select(t => new XElement("timer", new XAttribute("name", t.Name),
                    t.TickPolicy is null ? null : new XAttribute("tickpolicy", t.TickPolicy),
                    t.Present is null ? null : new XAttribute("present", t.Present)))));
        root.Add(new XElement("on_poweroff", d.OnPoweroff));
        root.Add(new XElement("on_reboot", d.OnReboot));
        root.Add(new XElement("on_crash", d.OnCrash));
        if (d.Pm is { } pm)
            root.Add(new XElement("pm",
                pm.SuspendToMem is null ? null : new XElement("suspend-to-mem", new XAttribute("enabled", pm.SuspendToMem)),
                pm.SuspendToDisk is null ? null : new XElement("suspend-to-disk", new XAttribute("enabled", pm.SuspendToDisk))));
        root.Add(Devices(d.Devices));
        foreach (var l in d.Seclabels)
            root.Add(new XElement("seclabel", Attr("type", l.Type), Attr("model", l.Model), Attr("relabel", l.Relabel),
                l.Label is null ? null : new XElement("label", l.Label), l.ImageLabel is null ? null : new XElement("imagelabel", l.ImageLabel),
                l.BaseLabel is null ? null : new XElement("baselabel", l.BaseLabel)));
        if (d.QemuArgs.Count > 0 || d.QemuEnv.Count > 0)
            root.Add(new XElement(QemuNs + "commandline", new XAttribute(XNamespace.Xmlns + "qemu", QemuNs.NamespaceName),
                d.QemuArgs.Select(a => new XElement(QemuNs + "arg", new XAttribute("value", a))),
                d.QemuEnv.Select(e => new XElement(QemuNs + "env", new XAttribute("name", e.Name), new XAttribute("value", e.Value)))));
        return ToText(root);
    }

    private static XElement? Kib(string name, ulong? kib) => kib is null ? null : new XElement(name, new XAttribute("unit", "KiB"), kib);

    private static XElement MemoryBacking(MemoryBackingDef mb) => new("memoryBacking",
        mb.Hugepages ? new XElement("hugepages", mb.HugePageSizes.Select(p => new XElement("page", new XAttribute("size", p.SizeKiB), new XAttribute("unit", "KiB"), Attr("nodeset", p.Nodeset)))) : null,
        mb.NoSharePages ? new XElement("nosharepages") : null,
        mb.Locked ? new XElement("locked") : null,
        mb.SourceType is null ? null : new XElement("source", new XAttribute("type", mb.SourceType)),
        mb.AccessMode is null ? null : new XElement("access", new XAttribute("mode", mb.AccessMode)),
        mb.AllocationMode is null && mb.AllocationThreads is null ? null : new XElement("allocation", Attr("mode", mb.AllocationMode), Attr("threads", mb.AllocationThreads)),
        mb.Discard ? new XElement("discard") : null);

    private static XElement Cputune(CputuneDef t)
    {
        static XElement? N(string name, object? v) => v is null ? null : new XElement(name, v);
        return new XElement("cputune",
            N("shares", t.Shares), N("period", t.Period), N("quota", t.Quota), N("global_period", t.GlobalPeriod), N("global_quota", t.GlobalQuota),
            N("emulator_period", t.EmulatorPeriod), N("emulator_quota", t.EmulatorQuota), N("iothread_period", t.IothreadPeriod), N("iothread_quota", t.IothreadQuota),
            t.Vcpupins.Select(v => new XElement("vcpupin", new XAttribute("vcpu", v.Vcpu), new XAttribute("cpuset", v.Cpuset))),
            t.Emulatorpin is null ? null : new XElement("emulatorpin", new XAttribute("cpuset", t.Emulatorpin)),
            t.Iothreadpins.Select(v => new XElement("iothreadpin", new XAttribute("iothread", v.Iothread), new XAttribute("cpuset", v.Cpuset))),
            t.Other.Select(x => new XElement(x)));
    }

    private static XElement Sysinfo(SysinfoDef s) => new("sysinfo", new XAttribute("type", s.Type),
        s.Blocks.Select(b => b.Block == "entry"
            ? b.Entries.Select(e => new XElement("entry", new XAttribute("name", e.Name), e.Value)).First()
            : new XElement(b.Block, b.Entries.Select(e => new XElement("entry", new XAttribute("name", e.Name), e.Value)))),
        s.OemStrings.Count == 0 ? null : new XElement("oemStrings", s.OemStrings.Select(o => new XElement("entry", o))));

    private static XElement? Features(FeaturesDef f)
    {
        var e = new XElement("features");
        if (f.Acpi) e.Add(new XElement("acpi"));
        if (f.Apic) e.Add(new XElement("apic"));
        if (f.Pae) e.Add(new XElement("pae"));
        foreach (var n in new[] { "hap", "privnet" }) if (f.Switch(n) is { } st) e.Add(new XElement(n, new XAttribute("state", st)));
        if (f.Hyperv is { } hv)
            e.Add(new XElement("hyperv", Attr("mode", hv.Mode), hv.Features.OrderBy(x => HypervOrder(x.Name)).Select(x => new XElement(x.Name, new XAttribute("state", x.State),
                Attr("retries", x.Retries), Attr("value", x.Value), x.Children.Select(c => new XElement(c.Name, new XAttribute("state", c.State)))))));
        if (f.Kvm is { } kvm) e.Add(new XElement("kvm", kvm.Select(k => new XElement(k.Name, new XAttribute("state", k.State)))));
        if (f.Switch("pvspinlock") is { } pv) e.Add(new XElement("pvspinlock", new XAttribute("state", pv)));
        if (f.Switch("pmu") is { } pmu) e.Add(new XElement("pmu", new XAttribute("state", pmu)));
        if (f.VmPortState is { } vp) e.Add(new XElement("vmport", new XAttribute("state", vp)));
        if (f.Smm is { } smm) e.Add(new XElement("smm", new XAttribute("state", smm ? "on" : "off")));
        if (f.IoapicDriver is { } io) e.Add(new XElement("ioapic", new XAttribute("driver", io)));
        foreach (var n in new[] { "vmcoreinfo", "htm" }) if (f.Switch(n) is { } st) e.Add(new XElement(n, new XAttribute("state", st)));
        if (f.MsrsUnknown is { } msrs) e.Add(new XElement("msrs", new XAttribute("unknown", msrs)));
        if (f.Switch("async-teardown") is { } at) e.Add(new XElement("async-teardown", new XAttribute("enabled", at)));
        return e.HasElements ? e : null;
    }


    public static string ToText(XElement root)
    {
        // libvirt's layout: two-space indent, single-quoted attributes, "<acpi/>".
        using var sw = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
#pragma warning disable SYSLIB0000
        using (var w = new XmlTextWriter(sw) { Formatting = Formatting.Indented, Indentation = 2, QuoteChar = '\'' })
            root.WriteTo(w);
#pragma warning restore SYSLIB0000
        return sw.ToString().Replace(" />", "/>") + "\n";
    }

    private static void Opt(XElement parent, string name, string? value)
    {
        if (value is not null) parent.Add(new XElement(name, value));
    }

    private static XAttribute? Attr(string name, object? value) => value is null ? null : new XAttribute(name, value);

    private static XElement Os(OsDef o, bool withLoader)
    {
        var os = new XElement("os", Attr("firmware", o.Firmware), new XElement("type", Attr("arch", o.Arch), Attr("machine", o.Machine), o.Type));
        if (o.FirmwareFeatures.Count > 0)
            os.Add(new XElement("firmware", o.FirmwareFeatures.OrderBy(f => f.Name == "enrolled-keys" ? 0 : f.Name == "secure-boot" ? 1 : 2).Select(f => new XElement("feature", new XAttribute("enabled", f.Enabled ? "yes" : "no"), new XAttribute("name", f.Name)))));
        if (o.Loader is { } l && withLoader)
            os.Add(new XElement("loader", new XAttribute("readonly", l.ReadOnly ? "yes" : "no"), l.Secure ? new XAttribute("secure", "yes") : null, new XAttribute("type", l.Type), l.Path));
        if (o.Nvram is { } n) os.Add(new XElement("nvram", withLoader ? Attr("template", n.Template) : null, n.Path));
        Opt(os, "kernel", o.Kernel);
        Opt(os, "initrd", o.Initrd);
        Opt(os, "cmdline", o.Cmdline);
        foreach (var b in o.BootDevices) os.Add(new XElement("boot", new XAttribute("dev", b)));
        if (o.BootMenu is { } bm) os.Add(new XElement("bootmenu", new XAttribute("enable", bm ? "yes" : "no"), Attr("timeout", o.BootMenuTimeout)));
        if (o.SmbiosMode is { } sm) os.Add(new XElement("smbios", new XAttribute("mode", sm)));
        if (o.BiosUseSerial is not null || o.BiosRebootTimeout is not null)
            os.Add(new XElement("bios", Attr("useserial", o.BiosUseSerial), Attr("rebootTimeout", o.BiosRebootTimeout)));
        return os;
    }

    private static XElement Cpu(CpuDef c)
    {
        var cpu = new XElement("cpu", new XAttribute("mode", c.Mode), Attr("match", c.Match), Attr("check", c.Check), Attr("migratable", c.Migratable));
        if (c.Model is not null) cpu.Add(new XElement("model", Attr("fallback", c.ModelFallback), c.Model));
        if (c.Sockets is not null || c.Cores is not null || c.Threads is not null)
            cpu.Add(new XElement("topology", Attr("sockets", c.Sockets), Attr("dies", c.Dies), Attr("cores", c.Cores), Attr("threads", c.Threads)));
        if (c.CacheMode is not null) cpu.Add(new XElement("cache", Attr("level", c.CacheLevel), new XAttribute("mode", c.CacheMode)));
        if (c.MaxPhysAddrMode is not null) cpu.Add(new XElement("maxphysaddr", new XAttribute("mode", c.MaxPhysAddrMode), Attr("bits", c.MaxPhysAddrBits)));
        foreach (var (policy, name) in c.Features)
            cpu.Add(new XElement("feature", new XAttribute("policy", policy), new XAttribute("name", name)));
        if (c.NumaCells.Count > 0)
            cpu.Add(new XElement("numa", c.NumaCells.Select(n => new XElement("cell", Attr("id", n.Id), new XAttribute("cpus", n.Cpus),
                new XAttribute("memory", n.MemoryKiB), new XAttribute("unit", "KiB"), Attr("memAccess", n.MemAccess), Attr("discard", n.Discard)))));
        return cpu;
    }

    private static IEnumerable<XElement> Common(string? alias, AddressDef? address)
    {
        if (alias is not null) yield return new XElement("alias", new XAttribute("name", alias));
        if (address is not null)
            yield return new XElement("address", new XAttribute("type", address.Type),
                address.Attributes.Select(a => new XAttribute(a.Key, a.Value)));
    }

    private static XElement? KeyValues(string name, IReadOnlyCollection<KeyValuePair<string, string>>? attrs) =>
        attrs is null || attrs.Count == 0 ? null : new XElement(name, attrs.Select(a => new XAttribute(a.Key, a.Value)));

    /// <summary>libvirt writes the Hyper-V enlightenments in the order of its enum, whatever order they were given in.</summary>
    private static int HypervOrder(string name) => Array.IndexOf(HypervNames, name) is var i and >= 0 ? i : HypervNames.Length;

    private static readonly string[] HypervNames =
        ["relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset", "vendor_id", "frequencies",
         "reenlightenment", "tlbflush", "ipi", "evmcs", "avic", "emsr_bitmap", "xmm_input"];

    /// <summary>The devices in libvirt's order: emulator, disk, controller, filesystem, interface, smartcard, serial, parallel,
    /// console, channel, input, tpm, graphics, sound, audio, video, hostdev, redirdev, hub, watchdog, memballoon, rng, panic, iommu, vsock.</summary>
    private static XElement Devices(DevicesDef d)
    {
        var ds = new XElement("devices");
        Opt(ds, "emulator", d.Emulator);
        foreach (var disk in d.Disks) ds.Add(Disk(disk));
        foreach (var c in d.Controllers)
        {
            var e = new XElement("controller", new XAttribute("type", c.Type), Attr("index", c.Index), Attr("model", c.Model), Attr("ports", c.Ports), Attr("vectors", c.Vectors));
            if (c.MasterStartPort is { } sp) e.Add(new XElement("master", new XAttribute("startport", sp)));
            if (c.ModelName is not null) e.Add(new XElement("model", new XAttribute("name", c.ModelName)));
            e.Add(KeyValues("driver", c.Driver));
            if (c.TargetChassisNr is not null || c.TargetChassis is not null || c.TargetPort is not null || c.TargetBusNr is not null || c.TargetIndex is not null || c.TargetHotplug is not null || c.TargetNode is not null)
                e.Add(new XElement("target", Attr("chassisNr", c.TargetChassisNr), Attr("chassis", c.TargetChassis), Attr("port", c.TargetPort), Attr("busNr", c.TargetBusNr),
                    Attr("index", c.TargetIndex), Attr("hotplug", c.TargetHotplug), c.TargetNode is { } node ? new XElement("node", node) : null));
            e.Add(Common(c.Alias, c.Address));
            ds.Add(e);
        }
        foreach (var f in d.Filesystems)
        {
            var e = new XElement("filesystem", new XAttribute("type", f.Type), new XAttribute("accessmode", f.AccessMode));
            if (f.DriverType is not null) e.Add(new XElement("driver", new XAttribute("type", f.DriverType), Attr("queue", f.Queue)));
            if (f.BinaryPath is not null) e.Add(new XElement("binary", new XAttribute("path", f.BinaryPath)));
            e.Add(new XElement("source", new XAttribute("dir", f.Source)), new XElement("target", new XAttribute("dir", f.Target)));
            if (f.ReadOnly) e.Add(new XElement("readonly"));
            e.Add(Common(f.Alias, f.Address));
            ds.Add(e);
        }
        foreach (var n in d.Interfaces) ds.Add(Interface(n));
        foreach (var sc in d.Smartcards)
            ds.Add(new XElement("smartcard", new XAttribute("mode", sc.Mode), Attr("type", sc.Type),
                sc.Certificates.Select(x => new XElement("certificate", x)), sc.Database is null ? null : new XElement("database", sc.Database), Common(sc.Alias, sc.Address)));
        foreach (var s in d.Serials) ds.Add(Char("serial", s));
        foreach (var s in d.Parallels) ds.Add(Char("parallel", s));
        foreach (var s in d.Consoles) ds.Add(Char("console", s));
        foreach (var s in d.Channels) ds.Add(Char("channel", s));
        foreach (var i in d.Inputs)
            ds.Add(new XElement("input", new XAttribute("type", i.Type), new XAttribute("bus", i.Bus), Attr("model", i.Model),
                i.SourceEvdev is null ? null : new XElement("source", new XAttribute("evdev", i.SourceEvdev)), Common(i.Alias, i.Address)));
        foreach (var t in d.Tpms)
            ds.Add(new XElement("tpm", new XAttribute("model", t.Model),
                new XElement("backend", new XAttribute("type", t.BackendType), Attr("version", t.Version), Attr("persistent_state", t.PersistentState),
                    t.DevicePath is null ? null : new XElement("device", new XAttribute("path", t.DevicePath)),
                    t.EncryptionSecret is null ? null : new XElement("encryption", new XAttribute("secret", t.EncryptionSecret)),
                    t.ActivePcrBanks.Count == 0 ? null : new XElement("active_pcr_banks", t.ActivePcrBanks.Select(b => new XElement(b)))),
                Common(t.Alias, t.Address)));
        foreach (var g in d.Graphics) ds.Add(Graphics(g));
        foreach (var s in d.Sounds)
            ds.Add(new XElement("sound", new XAttribute("model", s.Model), s.Codecs.Select(c => new XElement("codec", new XAttribute("type", c))),
                s.AudioId is { } aid ? new XElement("audio", new XAttribute("id", aid)) : null, Common(s.Alias, s.Address)));
        foreach (var a in d.Audios)
            ds.Add(new XElement("audio", new XAttribute("id", a.Id), new XAttribute("type", a.Type), a.Attributes.Select(x => new XAttribute(x.Key, x.Value)), a.Children.Select(c => new XElement(c))));
        foreach (var v in d.Videos)
            ds.Add(new XElement("video",
                KeyValues("driver", v.Driver),
                new XElement("model", new XAttribute("type", v.Model), Attr("ram", v.Ram), Attr("vram", v.Vram), Attr("vram64", v.Vram64), Attr("vgamem", v.Vgamem),
                    Attr("heads", v.Heads), v.Primary is { } p ? new XAttribute("primary", p ? "yes" : "no") : null,
                    v.Accel3d is null && v.Accel2d is null ? null : new XElement("acceleration", Attr("accel3d", v.Accel3d), Attr("accel2d", v.Accel2d))),
                Common(v.Alias, v.Address)));
        foreach (var h in d.Hostdevs) ds.Add(Hostdev(h));
        foreach (var r in d.Redirdevs)
            ds.Add(new XElement("redirdev", new XAttribute("bus", r.Bus), new XAttribute("type", r.Type),
                r.SourceHost is null ? null : new XElement("source", new XAttribute("mode", "connect"), new XAttribute("host", r.SourceHost), Attr("service", r.SourceService)),
                r.BootOrder is { } rb ? new XElement("boot", new XAttribute("order", rb)) : null, Common(r.Alias, r.Address)));
        foreach (var h in d.Hubs) ds.Add(new XElement("hub", new XAttribute("type", h.Type), Common(h.Alias, h.Address)));
        foreach (var w in d.Watchdogs) ds.Add(new XElement("watchdog", new XAttribute("model", w.Model), Attr("action", w.Action), Common(w.Alias, w.Address)));
        if (d.Memballoon is { } mb)
            ds.Add(new XElement("memballoon", new XAttribute("model", mb.Model), Attr("autodeflate", mb.Autodeflate), Attr("freePageReporting", mb.FreePageReporting),
                mb.StatsPeriod is { } sp ? new XElement("stats", new XAttribute("period", sp)) : null, Common(mb.Alias, mb.Address), KeyValues("driver", mb.Driver)));
        foreach (var r in d.Rngs)
        {
            var e = new XElement("rng", new XAttribute("model", r.Model));
            if (r.RateBytes is not null) e.Add(new XElement("rate", new XAttribute("bytes", r.RateBytes), Attr("period", r.RatePeriod)));
            e.Add(new XElement("backend", new XAttribute("model", r.BackendModel), r.BackendSource));
            e.Add(Common(r.Alias, r.Address));
            ds.Add(e);
        }
        foreach (var p in d.Panics) ds.Add(new XElement("panic", Attr("model", p.Model), Common(null, p.Address)));
        if (d.Iommu is { } mmu) ds.Add(new XElement("iommu", new XAttribute("model", mmu.Model), KeyValues("driver", mmu.Driver), Common(mmu.Alias, mmu.Address)));
        if (d.Vsock is { } vs)
            ds.Add(new XElement("vsock", Attr("model", vs.Model),
                vs.CidAuto is null && vs.CidAddress is null ? null : new XElement("cid", Attr("auto", vs.CidAuto), Attr("address", vs.CidAddress)), Common(vs.Alias, vs.Address)));
        return ds;
    }

    private static XElement Disk(DiskDef disk)
    {
        var e = new XElement("disk", new XAttribute("type", disk.Type), new XAttribute("device", disk.Device),
            new XElement("driver", new XAttribute("name", disk.DriverName), Attr("type", disk.Format),
                Attr("cache", disk.Cache), Attr("error_policy", disk.ErrorPolicy), Attr("rerror_policy", disk.RerrorPolicy), Attr("io", disk.Io),
                Attr("copy_on_read", disk.CopyOnRead), Attr("discard", disk.Discard), Attr("iothread", disk.Iothread), Attr("detect_zeroes", disk.DetectZeroes),
                Attr("queues", disk.Queues)));
        if (disk.Type == "volume") e.Add(new XElement("source", Attr("pool", disk.SourcePool), Attr("volume", disk.SourceVolume), Attr("startupPolicy", disk.StartupPolicy)));
        else if (disk.Type == "network")
            e.Add(new XElement("source", Attr("protocol", disk.SourceProtocol), Attr("name", disk.SourceName),
                disk.SourceHost is null ? null : new XElement("host", new XAttribute("name", disk.SourceHost), Attr("port", disk.SourcePort))));
        else if (disk.Source is not null) e.Add(new XElement("source", new XAttribute(disk.Type == "block" ? "dev" : "file", disk.Source), Attr("startupPolicy", disk.StartupPolicy)));
        e.Add(new XElement("target", new XAttribute("dev", disk.TargetDev), Attr("bus", disk.TargetBus), Attr("removable", disk.TargetRemovable), Attr("rotation_rate", disk.TargetRotationRate)));
        if (disk.BlockIoLogical is not null || disk.BlockIoPhysical is not null)
            e.Add(new XElement("blockio", Attr("logical_block_size", disk.BlockIoLogical), Attr("physical_block_size", disk.BlockIoPhysical)));
        if (disk.Iotune.Count > 0) e.Add(new XElement("iotune", disk.Iotune.Select(t => new XElement(t.Name, t.Value))));
        if (disk.ReadOnly) e.Add(new XElement("readonly"));
        if (disk.Shareable) e.Add(new XElement("shareable"));
        Opt(e, "serial", disk.Serial);
        Opt(e, "wwn", disk.Wwn);
        if (disk.BootOrder is { } bo) e.Add(new XElement("boot", new XAttribute("order", bo)));
        Opt(e, "vendor", disk.Vendor);
        Opt(e, "product", disk.Product);
        e.Add(Common(disk.Alias, disk.Address));
        return e;
    }

    private static XElement Interface(InterfaceDef n)
    {
        var e = new XElement("interface", new XAttribute("type", n.Type));
        if (n.Mac is not null) e.Add(new XElement("mac", new XAttribute("address", n.Mac)));
        if (n.SourceNetwork is not null || n.SourceBridge is not null || n.SourceDev is not null)
            e.Add(new XElement("source", Attr("network", n.SourceNetwork), Attr("bridge", n.SourceBridge), Attr("dev", n.SourceDev), Attr("mode", n.SourceMode)));
        if (n.Bandwidth is { } bw) e.Add(new XElement("bandwidth", KeyValues("inbound", bw.Inbound), KeyValues("outbound", bw.Outbound)));
        if (n.TargetDev is not null) e.Add(new XElement("target", new XAttribute("dev", n.TargetDev)));
        if (n.Model is not null) e.Add(new XElement("model", new XAttribute("type", n.Model)));
        e.Add(KeyValues("driver", n.Driver));
        if (n.Backend is not null) e.Add(new XElement("backend", new XAttribute("type", n.Backend)));
        if (n.LinkState is not null) e.Add(new XElement("link", new XAttribute("state", n.LinkState)));
        if (n.BootOrder is { } bo) e.Add(new XElement("boot", new XAttribute("order", bo)));
        if (n.RomBar is not null || n.RomFile is not null) e.Add(new XElement("rom", Attr("bar", n.RomBar), Attr("file", n.RomFile)));
        if (n.Mtu is { } mtu) e.Add(new XElement("mtu", new XAttribute("size", mtu)));
        foreach (var pf in n.PortForwards)
            e.Add(new XElement("portForward", new XAttribute("proto", pf.Proto), Attr("address", pf.Address), Attr("dev", pf.Dev),
                pf.Ranges.Select(r => new XElement("range", new XAttribute("start", r.Start), Attr("end", r.End?.ToString(CultureInfo.InvariantCulture)), Attr("to", r.To?.ToString(CultureInfo.InvariantCulture))))));
        e.Add(Common(n.Alias, n.Address));
        return e;
    }

    private static XElement Graphics(GraphicsDef g)
    {
        var e = new XElement("graphics", new XAttribute("type", g.Type));
        var listens = g.ListenType != "none"; // a display with no listener has no ports (libvirt writes none)
        if (!listens) { }
        else if (g.Type == "spice")
            e.Add(Attr("port", g.Port ?? (g.AutoPort ? null : -1)), Attr("tlsPort", g.AutoPort && g.TlsPort == -1 ? null : g.TlsPort));
        else e.Add(new XAttribute("port", g.Port ?? -1));
        e.Add(listens ? new XAttribute("autoport", g.AutoPort ? "yes" : "no") : null, Attr("websocket", g.WebsocketPort), Attr("listen", g.ListenType is null or "address" ? g.Listen : null),
            Attr("passwd", g.Passwd), Attr("passwdValidTo", g.PasswdValidTo), Attr("keymap", g.Keymap), Attr("sharePolicy", g.SharePolicy),
            Attr("defaultMode", g.DefaultMode), Attr("connected", g.Connected));
        if (g.ListenType is not null || g.Listen is not null)
            e.Add(new XElement("listen", new XAttribute("type", g.ListenType ?? "address"), Attr("address", g.Listen), Attr("network", g.ListenNetwork), Attr("socket", g.ListenSocket)));
        foreach (var (name, mode) in g.Channels) e.Add(new XElement("channel", new XAttribute("name", name), new XAttribute("mode", mode)));
        void C(string el, string attr, string? v) { if (v is not null) e.Add(new XElement(el, new XAttribute(attr, v))); }
        C("image", "compression", g.ImageCompression);
        C("jpeg", "compression", g.JpegCompression);
        C("zlib", "compression", g.ZlibCompression);
        C("playback", "compression", g.PlaybackCompression);
        C("streaming", "mode", g.StreamingMode);
        C("mouse", "mode", g.MouseMode);
        C("clipboard", "copypaste", g.ClipboardCopyPaste);
        C("filetransfer", "enable", g.FileTransfer);
        if (g.GlEnable is not null) e.Add(new XElement("gl", new XAttribute("enable", g.GlEnable), Attr("rendernode", g.GlRenderNode)));
        if (g.AudioId is { } aid) e.Add(new XElement("audio", new XAttribute("id", aid)));
        return e;
    }

    private static XElement Hostdev(HostdevDef h)
    {
        var src = new XElement("source", Attr("startupPolicy", h.StartupPolicy));
        if (h.Vendor is not null) src.Add(new XElement("vendor", new XAttribute("id", h.Vendor)));
        if (h.Product is not null) src.Add(new XElement("product", new XAttribute("id", h.Product)));
        if (h.SourceAddress is { } sa) src.Add(new XElement("address", sa.Attributes.Select(a => new XAttribute(a.Key, a.Value))));
        return new XElement("hostdev", new XAttribute("mode", h.Mode), new XAttribute("type", h.Type), Attr("managed", h.Managed),
            h.DriverName is null ? null : new XElement("driver", new XAttribute("name", h.DriverName)), src,
            h.BootOrder is { } b ? new XElement("boot", new XAttribute("order", b)) : null,
            h.RomBar is null && h.RomFile is null ? null : new XElement("rom", Attr("bar", h.RomBar), Attr("file", h.RomFile)),
            h.ReadOnly ? new XElement("readonly") : null, h.Shareable ? new XElement("shareable") : null,
            Common(h.Alias, h.Address));
    }

    private static XElement Char(string kind, CharDef c)
    {
        var e = new XElement(kind, new XAttribute("type", c.Type));
        if (c.SourcePath is not null || c.SourceMode is not null || c.SourceChannel is not null || c.SourceHost is not null || c.SourceService is not null)
            e.Add(new XElement("source", Attr("mode", c.SourceMode), Attr("host", c.SourceHost), Attr("service", c.SourceService),
                Attr("path", c.SourcePath), Attr("append", c.SourceAppend), Attr("channel", c.SourceChannel)));
        if (c.Protocol is not null) e.Add(new XElement("protocol", new XAttribute("type", c.Protocol)));
        if (c.LogFile is not null) e.Add(new XElement("log", new XAttribute("file", c.LogFile), Attr("append", c.LogAppend)));
        if (c.TargetType is not null || c.TargetPort is not null || c.TargetName is not null)
        {
            var t = new XElement("target", Attr("type", c.TargetType), Attr("name", c.TargetName), Attr("state", c.TargetState), Attr("port", c.TargetPort));
            if (c.TargetModel is not null) t.Add(new XElement("model", new XAttribute("name", c.TargetModel)));
            e.Add(t);
        }
        e.Add(Common(c.Alias, c.Address));
        return e;
    }
}
