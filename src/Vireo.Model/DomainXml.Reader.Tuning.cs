using System.Globalization;
using System.Xml.Linq;

namespace Vireo.Model;

public static partial class DomainXml
{
    /// <summary>libvirt's namespace for QEMU pass-through (&lt;qemu:commandline&gt;).</summary>
    public static readonly XNamespace QemuNs = "http://libvirt.org/schemas/domain/qemu/1.0";

    private sealed partial class Reader
    {
        private MemoryBackingDef MemoryBacking(XElement e)
        {
            var mb = new MemoryBackingDef();
            foreach (var m in e.Elements())
                switch (m.Name.LocalName)
                {
                    case "source": mb.SourceType = OneOf(m, "type", "memfd", "file", "anonymous"); break;
                    case "access": mb.AccessMode = OneOf(m, "mode", "shared", "private"); break;
                    case "hugepages":
                        mb.Hugepages = true;
                        foreach (var pg in m.Elements())
                        {
                            if (pg.Name.LocalName != "page") { Unsupported(pg, "hugepages"); continue; }
                            if (!Units.TryToKiB(A(pg, "size") ?? "", A(pg, "unit"), out var kib) || kib == 0)
                                Problems.Add($"A hugepages <page> needs size='N' (with unit=, e.g. size='2' unit='MiB'), not '{A(pg, "size")}'.", pg);
                            mb.HugePageSizes.Add((kib, A(pg, "nodeset")));
                        }
                        break;
                    case "nosharepages": mb.NoSharePages = true; break;
                    case "locked": mb.Locked = true; break;
                    case "discard": mb.Discard = true; break;
                    case "allocation":
                        mb.AllocationMode = OneOf(m, "mode", "immediate", "ondemand");
                        mb.AllocationThreads = Int(m, "threads");
                        break;
                    default: Unsupported(m, "memoryBacking"); break;
                }
            return mb;
        }

        private CputuneDef Cputune(XElement e)
        {
            var t = new CputuneDef();
            foreach (var c in e.Elements())
            {
                var n = c.Name.LocalName;
                switch (n)
                {
                    case "shares": t.Shares = ULong(c); break;
                    case "period": t.Period = ULong(c); break;
                    case "quota": t.Quota = Long(c); break;
                    case "global_period": t.GlobalPeriod = ULong(c); break;
                    case "global_quota": t.GlobalQuota = Long(c); break;
                    case "emulator_period": t.EmulatorPeriod = ULong(c); break;
                    case "emulator_quota": t.EmulatorQuota = Long(c); break;
                    case "iothread_period": t.IothreadPeriod = ULong(c); break;
                    case "iothread_quota": t.IothreadQuota = Long(c); break;
                    case "vcpupin":
                        if (Int(c, "vcpu") is { } v && Cpuset(c) is { } vs) t.Vcpupins.Add((v, vs));
                        else if (A(c, "vcpu") is null) Problems.Add("A <vcpupin> needs vcpu='N' and cpuset='LIST'.", c);
                        break;
                    case "emulatorpin": t.Emulatorpin = Cpuset(c); break;
                    case "iothreadpin":
                        if (Int(c, "iothread") is { } it && Cpuset(c) is { } ics) t.Iothreadpins.Add((it, ics));
                        else if (A(c, "iothread") is null) Problems.Add("An <iothreadpin> needs iothread='N' and cpuset='LIST'.", c);
                        break;
                    case "vcpusched" or "iothreadsched" or "emulatorsched" or "cachetune" or "memorytune":
                        t.Other.Add(new XElement(c));
                        break;
                    default: Unsupported(c, "cputune"); break;
                }
            }
            return t;
        }

        private string? Cpuset(XElement e)
        {
            var v = A(e, "cpuset");
            if (v is null || CpuList.Parse(v) is null)
            {
                Problems.Add($"<{e.Name.LocalName}> needs cpuset='LIST' (e.g. '0-3,^2'), not '{v}'.", e);
                return null;
            }
            return v;
        }

        private ulong? ULong(XElement e)
        {
            if (ulong.TryParse(e.Value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v)) return v;
            Problems.Add($"<{e.Name.LocalName}> must hold a whole number, not '{e.Value.Trim()}'.", e);
            return null;
        }

        private long? Long(XElement e)
        {
            if (long.TryParse(e.Value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) return v;
            Problems.Add($"<{e.Name.LocalName}> must hold a number, not '{e.Value.Trim()}'.", e);
            return null;
        }

        private NumatuneDef Numatune(XElement e)
        {
            var n = new NumatuneDef();
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "memory":
                        n.Mode = OneOf(c, "mode", "strict", "preferred", "interleave", "restrictive");
                        n.Nodeset = A(c, "nodeset");
                        n.Placement = OneOf(c, "placement", "static", "auto");
                        if (n.Nodeset is not null && CpuList.Parse(n.Nodeset) is null) Problems.Add($"<numatune><memory nodeset='{n.Nodeset}'> is not a list of nodes (e.g. '0-1').", c);
                        break;
                    case "memnode":
                        n.Memnodes.Add((Int(c, "cellid") ?? 0, OneOf(c, "mode", "strict", "preferred", "interleave", "restrictive") ?? "strict", A(c, "nodeset") ?? ""));
                        break;
                    default: Unsupported(c, "numatune"); break;
                }
            return n;
        }

        private MemtuneDef Memtune(XElement e)
        {
            var m = new MemtuneDef();
            foreach (var c in e.Elements())
            {
                var kib = Memory(c);
                switch (c.Name.LocalName)
                {
                    case "hard_limit": m.HardLimitKiB = kib; break;
                    case "soft_limit": m.SoftLimitKiB = kib; break;
                    case "swap_hard_limit": m.SwapHardLimitKiB = kib; break;
                    case "min_guarantee": m.MinGuaranteeKiB = kib; break;
                    default: Unsupported(c, "memtune"); break;
                }
            }
            return m;
        }

        private BlkiotuneDef Blkiotune(XElement e)
        {
            var b = new BlkiotuneDef();
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "weight":
                        if (int.TryParse(c.Value.Trim(), out var w) && w is >= 100 and <= 1000) b.Weight = w;
                        else Problems.Add($"<blkiotune><weight> must be between 100 and 1000, not '{c.Value.Trim()}'.", c);
                        break;
                    case "device": b.Devices.Add(new XElement(c)); break;
                    default: Unsupported(c, "blkiotune"); break;
                }
            return b;
        }

        private static readonly string[] SmbiosBlocks = ["bios", "system", "baseBoard", "chassis"];

        private SysinfoDef Sysinfo(XElement e)
        {
            var s = new SysinfoDef { Type = OneOf(e, "type", "smbios", "fwcfg") ?? "smbios" };
            foreach (var c in e.Elements())
            {
                var n = c.Name.LocalName;
                if (n == "oemStrings")
                {
                    foreach (var x in c.Elements())
                        if (x.Name.LocalName == "entry") s.OemStrings.Add(x.Value);
                        else Unsupported(x, "oemStrings");
                }
                else if (SmbiosBlocks.Contains(n) || (s.Type == "fwcfg" && n == "entry"))
                {
                    var entries = new List<(string, string)>();
                    foreach (var x in n == "entry" ? [c] : c.Elements())
                        if (x.Name.LocalName == "entry") entries.Add((A(x, "name") ?? "", x.Value));
                        else Unsupported(x, n);
                    s.Blocks.Add((n, entries));
                }
                else Unsupported(c, "sysinfo");
            }
            return s;
        }

        private SeclabelDef Seclabel(XElement e)
        {
            var l = new SeclabelDef
            {
                Type = OneOf(e, "type", "dynamic", "static", "none"),
                Model = A(e, "model"),
                Relabel = OneOf(e, "relabel", "yes", "no"),
            };
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "label": l.Label = c.Value; break;
                    case "imagelabel": l.ImageLabel = c.Value; break;
                    case "baselabel": l.BaseLabel = c.Value; break;
                    default: Unsupported(c, "seclabel"); break;
                }
            return l;
        }

        private void QemuCommandline(XElement e, DomainDef d)
        {
            foreach (var c in e.Elements())
                switch (c.Name.LocalName)
                {
                    case "arg": d.QemuArgs.Add(A(c, "value") ?? ""); break;
                    case "env": d.QemuEnv.Add((A(c, "name") ?? "", A(c, "value") ?? "")); break;
                    default: Unsupported(c, "qemu:commandline"); break;
                }
        }

        private static readonly string[] HypervNames =
        [
            "relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset", "vendor_id", "frequencies",
            "reenlightenment", "tlbflush", "ipi", "evmcs", "avic", "emsr_bitmap", "xmm_input",
        ];

        private HypervDef Hyperv(XElement e)
        {
            var h = new HypervDef { Mode = OneOf(e, "mode", "custom", "passthrough") };
            foreach (var c in e.Elements())
            {
                var n = c.Name.LocalName;
                if (!HypervNames.Contains(n)) { Unsupported(c, "hyperv"); continue; }
                var f = new HypervFeature { Name = n, State = OneOf(c, "state", "on", "off") ?? "on", Retries = Int(c, "retries"), Value = A(c, "value") };
                if (n == "spinlocks" && f.State == "on" && f.Retries is { } retries && retries < 4095)
                    Problems.Add($"Hyper-V spinlocks retries='{f.Retries}' is below the minimum of 4095.", c);
                if (n == "vendor_id" && f.State == "on" && f.Value is { Length: > 12 })
                    Problems.Add($"Hyper-V vendor_id value='{f.Value}' is longer than 12 characters.", c);
                foreach (var x in c.Elements())
                    if (n is "stimer" or "tlbflush" && x.Name.LocalName is "direct" or "extended")
                        f.Children.Add((x.Name.LocalName, OneOf(x, "state", "on", "off") ?? "on"));
                    else Unsupported(x, n);
                h.Features.Add(f);
            }
            return h;
        }
    }
}

/// <summary>libvirt's CPU and node lists: "0-3,8,^2".</summary>
public static class CpuList
{
    /// <summary>The numbers in the list, or null when it is malformed.</summary>
    public static SortedSet<int>? Parse(string text)
    {
        var set = new SortedSet<int>();
        var minus = new List<int>();
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            var neg = part.StartsWith('^');
            if (neg) part = part[1..];
            var dash = part.IndexOf('-');
            if (!int.TryParse(dash < 0 ? part : part[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)) return null;
            var hi = lo;
            if (dash >= 0 && !int.TryParse(part[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out hi)) return null;
            if (hi < lo || hi > 4095) return null;
            for (var i = lo; i <= hi; i++) (neg ? minus : (ICollection<int>)set).Add(i);
        }
        foreach (var m in minus) set.Remove(m);
        return set.Count == 0 ? null : set;
    }
}
