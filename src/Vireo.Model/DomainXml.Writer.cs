using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Vireo.Model;

public static partial class DomainXml
{
    /// <summary>Writes the definition as libvirt writes it (two-space indent, single quotes are not kept).</summary>
    public static string Write(DomainDef d, IReadOnlyDictionary<string, string>? liveState = null)
    {
        var root = new XElement("domain", new XAttribute("type", d.Type));
        if (liveState is not null && liveState.TryGetValue("id", out var id)) root.Add(new XAttribute("id", id));
        root.Add(new XElement("name", d.Name));
        if (d.Uuid != Guid.Empty) root.Add(new XElement("uuid", d.Uuid.ToString()));
        Opt(root, "title", d.Title);
        Opt(root, "description", d.Description);
        if (d.Metadata is not null) root.Add(new XElement(d.Metadata));
        root.Add(new XElement("memory", new XAttribute("unit", "KiB"), d.MemoryKiB));
        root.Add(new XElement("currentMemory", new XAttribute("unit", "KiB"), d.CurrentMemoryKiB == 0 ? d.MemoryKiB : d.CurrentMemoryKiB));
        var vcpu = new XElement("vcpu", new XAttribute("placement", d.VcpuPlacement), d.Vcpus);
        if (d.VcpusCurrent is { } cur) vcpu.Add(new XAttribute("current", cur));
        root.Add(vcpu);
        if (d.MemoryBacking is { } mb)
            root.Add(new XElement("memoryBacking",
                mb.SourceType is null ? null : new XElement("source", new XAttribute("type", mb.SourceType)),
                mb.AccessMode is null ? null : new XElement("access", new XAttribute("mode", mb.AccessMode))));
        root.Add(Os(d.Os));
        var f = new XElement("features");
        if (d.Features.Acpi) f.Add(new XElement("acpi"));
        if (d.Features.Apic) f.Add(new XElement("apic"));
        if (d.Features.Pae) f.Add(new XElement("pae"));
        if (d.Features.VmPortState is { } vp) f.Add(new XElement("vmport", new XAttribute("state", vp)));
        if (d.Features.Smm is { } smm) f.Add(new XElement("smm", new XAttribute("state", smm ? "on" : "off")));
        if (f.HasElements) root.Add(f);
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
        return ToText(root);
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

    private static XElement Os(OsDef o)
    {
        var os = new XElement("os", Attr("firmware", o.Firmware), new XElement("type", Attr("arch", o.Arch), Attr("machine", o.Machine), o.Type));
        if (o.FirmwareFeatures.Count > 0)
            os.Add(new XElement("firmware", o.FirmwareFeatures.Select(f => new XElement("feature", new XAttribute("enabled", f.Enabled ? "yes" : "no"), new XAttribute("name", f.Name)))));
        if (o.Loader is { } l)
            os.Add(new XElement("loader", new XAttribute("readonly", l.ReadOnly ? "yes" : "no"), l.Secure ? new XAttribute("secure", "yes") : null, new XAttribute("type", l.Type), l.Path));
        if (o.Nvram is { } n) os.Add(new XElement("nvram", Attr("template", n.Template), n.Path));
        Opt(os, "kernel", o.Kernel);
        Opt(os, "initrd", o.Initrd);
        Opt(os, "cmdline", o.Cmdline);
        foreach (var b in o.BootDevices) os.Add(new XElement("boot", new XAttribute("dev", b)));
        if (o.BootMenu is { } bm) os.Add(new XElement("bootmenu", new XAttribute("enable", bm ? "yes" : "no")));
        return os;
    }

    private static XElement Cpu(CpuDef c)
    {
        var cpu = new XElement("cpu", new XAttribute("mode", c.Mode), Attr("match", c.Match), Attr("check", c.Check), Attr("migratable", c.Migratable));
        if (c.Model is not null) cpu.Add(new XElement("model", Attr("fallback", c.ModelFallback), c.Model));
        if (c.Sockets is not null || c.Cores is not null || c.Threads is not null)
            cpu.Add(new XElement("topology", Attr("sockets", c.Sockets), Attr("dies", c.Dies), Attr("cores", c.Cores), Attr("threads", c.Threads)));
        foreach (var (policy, name) in c.Features)
            cpu.Add(new XElement("feature", new XAttribute("policy", policy), new XAttribute("name", name)));
        return cpu;
    }

    private static IEnumerable<XElement> Common(string? alias, AddressDef? address)
    {
        if (alias is not null) yield return new XElement("alias", new XAttribute("name", alias));
        if (address is not null)
            yield return new XElement("address", new XAttribute("type", address.Type),
                address.Attributes.Select(a => new XAttribute(a.Key, a.Value)));
    }

    private static XElement Devices(DevicesDef d)
    {
        var ds = new XElement("devices");
        Opt(ds, "emulator", d.Emulator);
        foreach (var disk in d.Disks)
        {
            var e = new XElement("disk", new XAttribute("type", disk.Type), new XAttribute("device", disk.Device),
                new XElement("driver", new XAttribute("name", disk.DriverName), Attr("type", disk.Format),
                    Attr("cache", disk.Cache), Attr("io", disk.Io), Attr("discard", disk.Discard)));
            if (disk.Type == "volume") e.Add(new XElement("source", Attr("pool", disk.SourcePool), Attr("volume", disk.SourceVolume)));
            else if (disk.Type == "network")
                e.Add(new XElement("source", Attr("protocol", disk.SourceProtocol), Attr("name", disk.SourceName),
                    disk.SourceHost is null ? null : new XElement("host", new XAttribute("name", disk.SourceHost), Attr("port", disk.SourcePort))));
            else if (disk.Source is not null) e.Add(new XElement("source", new XAttribute(disk.Type == "block" ? "dev" : "file", disk.Source)));
            e.Add(new XElement("target", new XAttribute("dev", disk.TargetDev), Attr("bus", disk.TargetBus)));
            if (disk.BootOrder is { } bo) e.Add(new XElement("boot", new XAttribute("order", bo)));
            if (disk.ReadOnly) e.Add(new XElement("readonly"));
            if (disk.Shareable) e.Add(new XElement("shareable"));
            Opt(e, "serial", disk.Serial);
            e.Add(Common(disk.Alias, disk.Address));
            ds.Add(e);
        }
        foreach (var c in d.Controllers)
        {
            var e = new XElement("controller", new XAttribute("type", c.Type), Attr("index", c.Index), Attr("model", c.Model), Attr("ports", c.Ports));
            if (c.TargetChassis is not null || c.TargetPort is not null)
                e.Add(new XElement("target", Attr("chassis", c.TargetChassis), Attr("port", c.TargetPort)));
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
        foreach (var n in d.Interfaces)
        {
            var e = new XElement("interface", new XAttribute("type", n.Type));
            if (n.Mac is not null) e.Add(new XElement("mac", new XAttribute("address", n.Mac)));
            if (n.SourceNetwork is not null || n.SourceBridge is not null || n.SourceDev is not null)
                e.Add(new XElement("source", Attr("network", n.SourceNetwork), Attr("bridge", n.SourceBridge), Attr("dev", n.SourceDev), Attr("mode", n.SourceMode)));
            if (n.TargetDev is not null) e.Add(new XElement("target", new XAttribute("dev", n.TargetDev)));
            if (n.Model is not null) e.Add(new XElement("model", new XAttribute("type", n.Model)));
            if (n.LinkState is not null) e.Add(new XElement("link", new XAttribute("state", n.LinkState)));
            if (n.BootOrder is { } bo) e.Add(new XElement("boot", new XAttribute("order", bo)));
            if (n.Backend is not null) e.Add(new XElement("backend", new XAttribute("type", n.Backend)));
            foreach (var pf in n.PortForwards)
                e.Add(new XElement("portForward", new XAttribute("proto", pf.Proto), Attr("address", pf.Address), Attr("dev", pf.Dev),
                    pf.Ranges.Select(r => new XElement("range", new XAttribute("start", r.Start), Attr("end", r.End?.ToString(CultureInfo.InvariantCulture)), Attr("to", r.To?.ToString(CultureInfo.InvariantCulture))))));
            e.Add(Common(n.Alias, n.Address));
            ds.Add(e);
        }
        foreach (var s in d.Serials) ds.Add(Char("serial", s));
        foreach (var s in d.Consoles) ds.Add(Char("console", s));
        foreach (var s in d.Channels) ds.Add(Char("channel", s));
        foreach (var i in d.Inputs) ds.Add(new XElement("input", new XAttribute("type", i.Type), new XAttribute("bus", i.Bus), Common(i.Alias, i.Address)));
        foreach (var g in d.Graphics)
        {
            var e = new XElement("graphics", new XAttribute("type", g.Type), new XAttribute("port", g.Port ?? -1),
                new XAttribute("autoport", g.AutoPort ? "yes" : "no"), Attr("listen", g.Listen), Attr("passwd", g.Passwd));
            if (g.Listen is not null) e.Add(new XElement("listen", new XAttribute("type", "address"), new XAttribute("address", g.Listen)));
            ds.Add(e);
        }
        foreach (var v in d.Videos)
            ds.Add(new XElement("video", new XElement("model", new XAttribute("type", v.Model), Attr("vram", v.Vram), Attr("heads", v.Heads),
                v.Primary is { } p ? new XAttribute("primary", p ? "yes" : "no") : null), Common(v.Alias, v.Address)));
        if (d.Memballoon is { } mb) ds.Add(new XElement("memballoon", new XAttribute("model", mb.Model), Common(mb.Alias, mb.Address)));
        foreach (var r in d.Rngs)
        {
            var e = new XElement("rng", new XAttribute("model", r.Model));
            if (r.RateBytes is not null) e.Add(new XElement("rate", new XAttribute("bytes", r.RateBytes), Attr("period", r.RatePeriod)));
            e.Add(new XElement("backend", new XAttribute("model", r.BackendModel), r.BackendSource));
            e.Add(Common(r.Alias, r.Address));
            ds.Add(e);
        }
        foreach (var p in d.Panics) ds.Add(new XElement("panic", new XAttribute("model", p.Model), Common(null, p.Address)));
        return ds;
    }

    private static XElement Char(string kind, CharDef c)
    {
        var e = new XElement(kind, new XAttribute("type", c.Type));
        if (c.SourcePath is not null || c.SourceMode is not null)
            e.Add(new XElement("source", Attr("mode", c.SourceMode), Attr("path", c.SourcePath), Attr("append", c.SourceAppend)));
        if (c.LogFile is not null) e.Add(new XElement("log", new XAttribute("file", c.LogFile), Attr("append", c.LogAppend)));
        if (c.TargetType is not null || c.TargetPort is not null || c.TargetName is not null)
        {
            var t = new XElement("target", Attr("type", c.TargetType), Attr("name", c.TargetName), Attr("port", c.TargetPort));
            if (c.TargetModel is not null) t.Add(new XElement("model", new XAttribute("name", c.TargetModel)));
            e.Add(t);
        }
        e.Add(Common(c.Alias, c.Address));
        return e;
    }
}
