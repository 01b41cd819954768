using System.Text.Json.Nodes;
using System.Xml.Linq;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Tests;

/// <summary>
/// The libvirt corpus (tests/Vireo.Tests/Corpus, made by tests/corpus/make.sh from Debian 12's
/// real virt-install and libvirt): every document defines, round-trips without losing anything
/// libvirt keeps, and gives QEMU the devices libvirt's own command line gives it.
/// </summary>
public class CorpusTests
{
    private static string Dir => Path.Combine(AppContext.BaseDirectory, "Corpus");

    public static IEnumerable<object[]> Cases() =>
        Directory.EnumerateDirectories(Dir).Select(d => new object[] { Path.GetFileName(d) }).OrderBy(x => (string)x[0]);

    public static IEnumerable<object[]> Documents() =>
        Cases().SelectMany(c => new[] { new object[] { c[0], "virt-install.xml" }, [c[0], "dumpxml.xml"] });

    /// <summary>Cases whose libvirt command line exists (libvirt could not make one for a host device it does not have, or hugepages without hugetlbfs).</summary>
    public static IEnumerable<object[]> CasesWithArgv() =>
        Cases().Where(c => new FileInfo(Path.Combine(Dir, (string)c[0], "qemu-argv")).Length > 0);

    internal static string Read(string name, string file) => File.ReadAllText(Path.Combine(Dir, name, file));

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_document_defines(string name, string file)
    {
        var d = DomainRules.ParseForDefine(Read(name, file));
        Assert.Equal(name, d.Name);
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void What_vireo_writes_reads_back_the_same(string name, string file)
    {
        var d = DomainRules.ParseForDefine(Read(name, file));
        var once = DomainXml.Write(d);
        var twice = DomainXml.Write(DomainRules.ParseForDefine(once));
        Assert.Equal(once, twice);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Nothing_libvirt_keeps_is_lost(string name)
    {
        // Every element and attribute of libvirt's dumpxml is in Vireo's dumpxml of the same
        // document (Vireo may add aliases; it must not drop anything).
        var libvirt = XElement.Parse(Read(name, "dumpxml.xml"));
        var vireo = XElement.Parse(DomainXml.Write(DomainRules.ParseForDefine(Read(name, "dumpxml.xml"))));
        var missing = Paths(libvirt).Except(Paths(vireo)).ToList();
        Assert.True(missing.Count == 0, "Lost from libvirt's dumpxml:\n" + string.Join("\n", missing));
    }

    [Theory]
    [MemberData(nameof(CasesWithArgv))]
    public void Qemu_gets_the_devices_libvirt_gives_it(string name)
    {
        // The same devices, on the same buses, at the same slots and USB ports: the guest's hardware.
        var expected = DeviceList(File.ReadAllLines(Path.Combine(Dir, name, "qemu-argv")));
        var d = DomainRules.ParseForDefine(Read(name, "dumpxml.xml"));
        var argv = QemuArgv.Build(d, Context(d));
        Assert.Equal(string.Join("\n", expected), string.Join("\n", DeviceList(argv)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Define_fills_in_what_libvirt_fills_in(string name)
    {
        // virt-install's document, defined by Vireo, against the same document defined by
        // libvirt: the same controllers, root ports, PCI/USB/drive/virtio-serial addresses,
        // machine type and defaults, device by device.
        var libvirt = Canonical(XElement.Parse(Read(name, "dumpxml.xml")));
        var defined = DomainRules.ParseForDefine(Read(name, "virt-install.xml"));
        defined.Os.Machine = Qemu72.CanonicalMachine(defined.Os.Machine); // what Hypervisor.Define does with the host's QEMU
        // libvirt's dumpxml leaves passwords out unless asked (--security-info); Vireo's writes them.
        foreach (var g in defined.Devices.Graphics) g.Passwd = null;
        var vireo = Canonical(XElement.Parse(DomainXml.Write(defined)));
        var diff = libvirt.Keys.Union(vireo.Keys).Order(StringComparer.Ordinal)
            .Where(k => libvirt.GetValueOrDefault(k) != vireo.GetValueOrDefault(k))
            .Select(k => $"{k}\n  libvirt: {libvirt.GetValueOrDefault(k) ?? "(none)"}\n  vireo:   {vireo.GetValueOrDefault(k) ?? "(none)"}")
            .ToList();
        Assert.True(diff.Count == 0, $"{diff.Count} differ:\n" + string.Join("\n", diff));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Vireo_still_writes_what_libvirt_took_back(string name)
    {
        // tests/corpus/wayback.sh gave Vireo's dumpxml of each document to the real libvirt
        // (virsh define) and kept what Vireo wrote; if Vireo now writes something else, run it again.
        var d = DomainRules.ParseForDefine(Read(name, "virt-install.xml"));
        d.Os.Machine = Qemu72.CanonicalMachine(d.Os.Machine);
        Vireo.Engine.FirmwareSelect.Apply(d, d.Os is { Firmware: "efi", Loader: null } ? DebianFirmware : [], "/tmp/vireo-wayback/data/nvram");
        Assert.Equal(Read(name, "vireo-dumpxml.xml"), DomainXml.Write(d, pickedFirmware: false));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void What_libvirt_made_of_vireos_dumpxml_is_the_guest_libvirt_made_of_virt_installs(string name)
    {
        // The way back: libvirt reads Vireo's document as the same guest. Vireo keeps its NVRAM
        // path (the variables go along) and writes down the SMM that Secure Boot needs.
        var own = Canonical(XElement.Parse(Read(name, "dumpxml.xml")));
        var back = Canonical(XElement.Parse(Read(name, "wayback.xml")));
        foreach (var map in new[] { own, back })
            foreach (var k in new[] { "os", "features" })
                if (map.TryGetValue(k, out var v))
                    map[k] = System.Text.RegularExpressions.Regex.Replace(v, "<nvram>[^<]*</>|<smm state='on'></>", "");
        var diff = own.Keys.Union(back.Keys).Where(k => own.GetValueOrDefault(k) != back.GetValueOrDefault(k)).ToList();
        Assert.True(diff.Count == 0, string.Join("\n", diff.Select(k => $"{k}\n  libvirt's own: {own.GetValueOrDefault(k)}\n  from Vireo's:  {back.GetValueOrDefault(k)}")));
    }

    private static readonly IReadOnlyList<Vireo.Host.FirmwareDescriptor> DebianFirmware =
        Vireo.Host.FirmwareDescriptor.LoadAll([Path.Combine(AppContext.BaseDirectory, "Reference", "firmware")]);

    /// <summary>The machine types of Debian 12's QEMU 7.2, with which the corpus was made.</summary>
    private static readonly QemuCapabilities Qemu72 = new("/usr/bin/qemu-system-x86_64", "7.2.0",
        [("pc-i440fx-7.2", "pc", true, 255), ("pc-q35-7.2", "q35", false, 288)], [], false);

    /// <summary>
    /// A document as "key → element": top-level elements by name, devices by kind and position
    /// among their kind (controllers by type and index), each element written with sorted
    /// attributes and without the live-only alias.
    /// </summary>
    private static Dictionary<string, string> Canonical(XElement domain)
    {
        var map = new Dictionary<string, string>();
        foreach (var e in domain.Elements().Where(e => e.Name.LocalName is not ("devices" or "metadata")))
            map[e.Name.LocalName] = Flat(e);
        var seen = new Dictionary<string, int>();
        foreach (var e in domain.Element("devices")?.Elements() ?? [])
        {
            var kind = e.Name.LocalName switch
            {
                "controller" => $"controller {e.Attribute("type")?.Value} {e.Attribute("index")?.Value} {(e.Element("master") is null ? "" : e.Attribute("model")?.Value)}",
                var n => n,
            };
            var n2 = seen[kind] = seen.GetValueOrDefault(kind) + 1;
            map[$"{kind} #{n2}"] = Flat(e);
        }
        return map;
    }

    private static string Flat(XElement e)
    {
        var attrs = e.Attributes().Where(a => !a.IsNamespaceDeclaration).OrderBy(a => a.Name.LocalName, StringComparer.Ordinal)
            .Select(a => $" {a.Name.LocalName}='{a.Value}'");
        var kids = e.Elements().Where(c => c.Name.LocalName != "alias").Select(Flat);
        var text = e.HasElements ? "" : e.Value.Trim();
        return $"<{e.Name.LocalName}{string.Concat(attrs)}>{text}{string.Concat(kids)}</>";
    }

    [Theory]
    [MemberData(nameof(CasesWithArgv))]
    public void Qemu_gets_the_machine_cpu_memory_topology_and_smbios_libvirt_gives_it(string name)
    {
        var libvirt = Platform(File.ReadAllLines(Path.Combine(Dir, name, "qemu-argv")));
        var d = DomainRules.ParseForDefine(Read(name, "dumpxml.xml"));
        Vireo.Engine.FirmwareSelect.Apply(d, d.Os is { Firmware: "efi", Loader: null } ? DebianFirmware : [], "/var/lib/vireo/nvram");
        var vireo = Platform(QemuArgv.Build(d, Context(d)));
        if (d.Cpu?.Mode == "host-model")
        {
            // libvirt spells host-model as the named model nearest the host plus features, from its own CPU map;
            // Vireo gives QEMU the host CPU itself (-cpu host under KVM, max under TCG). The rest must agree.
            libvirt.RemoveAll(l => l.StartsWith("cpu "));
            vireo.RemoveAll(l => l.StartsWith("cpu "));
        }
        Assert.Equal(string.Join("\n", libvirt), string.Join("\n", vireo));
        // And the same firmware: the loader libvirt picks.
        Assert.Equal(Firmware(File.ReadAllLines(Path.Combine(Dir, name, "qemu-argv"))), Firmware(QemuArgv.Build(d, Context(d))));
    }

    /// <summary>The firmware images an argv gives the machine (the read-only code of pflash0, or none).</summary>
    private static string Firmware(IReadOnlyList<string> argv) =>
        string.Join(",", argv.Where(a => a.StartsWith('{') && a.Contains("\"filename\"") && a.Contains("OVMF_CODE")).Select(a => JsonNode.Parse(a)!["filename"]!.ToString()));

    /// <summary>What the guest's platform is, from an argv: machine type and SMM/vmport, CPU model and flags, memory, vCPU topology, SMBIOS tables.</summary>
    private static List<string> Platform(IReadOnlyList<string> argv)
    {
        string? Arg(string opt) => argv.Select((a, i) => (a, i)).Where(x => x.a == opt && x.i + 1 < argv.Count).Select(x => argv[x.i + 1]).FirstOrDefault();
        var list = new List<string>();
        var machine = (Arg("-machine") ?? "").Split(',');
        list.Add("machine " + machine[0]);
        foreach (var o in machine.Skip(1).Where(o => o.StartsWith("smm=") || o.StartsWith("vmport=")).Order(StringComparer.Ordinal)) list.Add("machine " + o);
        var cpu = (Arg("-cpu") ?? "qemu64").Split(',');
        list.Add("cpu " + cpu[0]);
        // libvirt writes migratable=on (QEMU's default for host) and feature=on|off; +feature and -feature are the same.
        foreach (var f in cpu.Skip(1).Where(f => f != "migratable=on").Select(f => f.StartsWith('+') ? f[1..] + "=on" : f.StartsWith('-') ? f[1..] + "=off" : f).Order(StringComparer.Ordinal))
            list.Add("cpu " + f);
        var mem = (Arg("-m") ?? "").Split(',');
        list.Add("memory " + (mem[0].StartsWith("size=") ? mem[0][5..] : mem[0] + "M") switch
        {
            var k when k.EndsWith('k') => $"{ulong.Parse(k[..^1]) / 1024} MiB",
            var m when m.EndsWith('M') => $"{m[..^1]} MiB",
            var other => other,
        });
        foreach (var o in mem.Skip(1).Order(StringComparer.Ordinal)) list.Add("memory " + o);
        var smp = (Arg("-smp") ?? "1").Split(',');
        var t = smp.Skip(1).Select(o => o.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
        list.Add($"smp cpus={smp[0]} maxcpus={t.GetValueOrDefault("maxcpus", smp[0])} sockets={t.GetValueOrDefault("sockets", "1")} dies={t.GetValueOrDefault("dies", "1")} cores={t.GetValueOrDefault("cores", "1")} threads={t.GetValueOrDefault("threads", "1")}");
        list.AddRange(argv.Select((a, i) => (a, i)).Where(x => x.a == "-smbios").Select(x => "smbios " + argv[x.i + 1]).Order(StringComparer.Ordinal));
        return list;
    }

    internal static LaunchContext Context(DomainDef d) => new()
    {
        Emulator = d.Devices.Emulator ?? "/usr/bin/qemu-system-x86_64",
        MonitorFd = 3,
        ChannelDir = $"/run/vireo/qemu/channel/{d.Name}",
        SpicePort = 5901,
        HugepagesMount = "/dev/hugepages",
        VsockFd = 30,
        TpmSockets = d.Devices.Tpms.ToDictionary(t => t.Alias!, t => $"/run/vireo/swtpm/{d.Name}-{t.Alias}.sock"),
        TapFds = d.Devices.Interfaces.Where(n => n.Type is not "user").Select((n, i) => (n.Alias!, 20 + i)).ToDictionary(x => x.Item1, x => x.Item2),
    };

    /// <summary>The -device drivers, sorted: which devices, and how many of each.</summary>
    internal static List<string> Drivers(IReadOnlyList<string> argv) =>
        DeviceList(argv).Select(x => x.Split(' ')[1]).Order(StringComparer.Ordinal).ToList();

    /// <summary>Every -device as "id driver bus addr", sorted: what the guest sees, not how it is spelled.</summary>
    internal static List<string> DeviceList(IReadOnlyList<string> argv)
    {
        var list = new List<string>();
        for (int i = 0; i + 1 < argv.Count; i++)
        {
            if (argv[i] != "-device") continue;
            var v = argv[i + 1];
            if (!v.StartsWith('{')) { list.Add("legacy " + v); continue; }
            var o = JsonNode.Parse(v)!.AsObject();
            string P(string k) => o[k]?.ToString() ?? "-";
            list.Add($"{P("id")} {P("driver")} bus={P("bus")} addr={P("addr")} port={P("port")}");
        }
        list.Sort(StringComparer.Ordinal);
        return list;
    }

    /// <summary>element/attribute paths with values, e.g. "domain/devices/disk/driver/@cache=none".</summary>
    private static IEnumerable<string> Paths(XElement e, string prefix = "")
    {
        var p = prefix + e.Name.LocalName;
        yield return p;
        foreach (var a in e.Attributes().Where(a => !a.IsNamespaceDeclaration)) yield return $"{p}/@{a.Name.LocalName}={a.Value}";
        if (!e.HasElements && e.Value.Trim().Length > 0) yield return $"{p}={e.Value.Trim()}";
        foreach (var c in e.Elements())
            foreach (var x in Paths(c, p + "/")) yield return x;
    }
}
