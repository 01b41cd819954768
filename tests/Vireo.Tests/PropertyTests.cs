using System.Xml.Linq;
using CsCheck;
using Vireo.Model;

namespace Vireo.Tests;

/// <summary>
/// Property-based tests for every parser of what users send (issue 15): real documents — the
/// corpus of virt-install/virsh output, the golden inputs — mutated at random (elements dropped,
/// doubled, moved; attributes and text set to hostile values; the text cut or spliced). Each
/// parser must either accept the input, and then write a document it reads back to the same
/// thing, or refuse it with a DefinitionException whose every problem says something; any other
/// exception is a crash. ~1,000 cases each here (VIREO_PROPERTY_ITERATIONS, 100,000 in
/// bench/properties.sh); a failure prints CsCheck's seed and the shrunk input.
/// </summary>
public class PropertyTests
{
    private static long Iterations =>
        long.TryParse(Environment.GetEnvironmentVariable("VIREO_PROPERTY_ITERATIONS"), out var n) && n > 0 ? n : 1000;

    private static string Data(string path) => Path.Combine(AppContext.BaseDirectory, path);

    private static readonly string[] DomainSeeds =
        Directory.EnumerateDirectories(Data("Corpus")).SelectMany(d => new[] { "virt-install.xml", "dumpxml.xml" }.Select(f => Path.Combine(d, f)))
            .Concat(Directory.EnumerateFiles(Data("Golden"), "*.xml")).Concat(Directory.EnumerateFiles(Data("Golden/install"), "*.xml"))
            .Where(File.Exists).Order(StringComparer.Ordinal).Select(File.ReadAllText).ToArray();

    private static readonly string[] NetworkSeeds =
        Directory.EnumerateFiles(Data("Golden/networks"), "*.xml").Where(f => !f.EndsWith(".out.xml", StringComparison.Ordinal)).Order(StringComparer.Ordinal).Select(File.ReadAllText).ToArray();

    private static readonly string[] PoolSeeds =
    [
        File.ReadAllText(Data("Golden/storage/default-pool.xml")),
        "<pool type='dir'><name>images</name><uuid>6b1c7e7e-2f6e-4b8e-9d39-2a7f3f6a1c11</uuid><capacity unit='bytes'>0</capacity><target><path>/srv/images</path><permissions><mode>0711</mode><owner>0</owner><group>0</group></permissions></target></pool>",
        "<pool type='fs'><name>fs</name><source><device path='/dev/sdb1'/><format type='ext4'/></source><target><path>/mnt/fs</path></target></pool>",
        "<pool type='logical'><name>vg</name><source><name>vg0</name><format type='lvm2'/></source><target><path>/dev/vg0</path></target></pool>",
    ];

    private static readonly string[] VolumeSeeds =
    [
        "<volume><name>web.qcow2</name><capacity unit='G'>20</capacity><allocation>0</allocation><target><format type='qcow2'/><permissions><mode>0600</mode></permissions></target></volume>",
        "<volume type='file'><name>data.raw</name><key>/pool/data.raw</key><capacity unit='bytes'>1073741824</capacity><target><path>/pool/data.raw</path><format type='raw'/></target></volume>",
        "<volume><name>child.qcow2</name><capacity unit='MiB'>512</capacity><target><format type='qcow2'/></target><backingStore><path>/pool/base.qcow2</path><format type='qcow2'/></backingStore></volume>",
    ];

    private static readonly string[] SnapshotSeeds =
    [
        "<domainsnapshot><name>before-upgrade</name><description>Before the upgrade</description><memory snapshot='no'/><disks><disk name='vda' snapshot='external'><driver type='qcow2'/><source file='/pool/disk.before-upgrade'/></disk><disk name='hdc' snapshot='no'/></disks></domainsnapshot>",
        "<domainsnapshot><name>s1</name><memory snapshot='internal'/></domainsnapshot>",
        "<domainsnapshot><description>only a description</description><disks><disk name='vda'/></disks></domainsnapshot>",
    ];

    private static readonly string[] OvfSeeds =
    [
        """
        <Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/2"
                  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
          <References><File ovf:id="f1" ovf:href="a.vmdk"/><File ovf:id="f2" ovf:href="b.vmdk"/></References>
          <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="10" ovf:capacityAllocationUnits="byte * 2^30"/><Disk ovf:diskId="d2" ovf:fileRef="f2"/></DiskSection>
          <VirtualSystem ovf:id="vm-id">
            <Name>appliance</Name>
            <OperatingSystemSection ovf:id="96"><Description>Debian 12</Description></OperatingSystemSection>
            <VirtualHardwareSection>
              <Item><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity></Item>
              <Item><rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
              <Item><rasd:InstanceID>10</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>
              <Item><rasd:InstanceID>11</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
              <Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>10</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
              <Item><rasd:HostResource>ovf:/disk/d2</rasd:HostResource><rasd:Parent>11</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
              <Item><rasd:ResourceType>10</rasd:ResourceType><rasd:ResourceSubType>E1000</rasd:ResourceSubType></Item>
            </VirtualHardwareSection>
          </VirtualSystem>
        </Envelope>
        """,
    ];

    private static readonly string[] DeviceSeeds =
    [
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='/pool/extra.qcow2'/><target dev='vdb' bus='virtio'/></disk>",
        "<disk type='file' device='cdrom'><source file='/iso/d.iso'/><target dev='sdb' bus='sata'/><readonly/></disk>",
        "<interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/><model type='virtio'/></interface>",
        "<interface type='bridge'><source bridge='br0'/><model type='e1000'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></interface>",
    ];

    /// <summary>Values that have broken parsers before, or would: empty, huge, negative, not numbers, paths out, separators, markup.</summary>
    private static readonly string[] Hostile =
    [
        "", " ", "0", "-1", "1", "4294967296", "18446744073709551616", "99999999999999999999999999", "1e400", "NaN", "0x", "0x1f", "0xffffffffffff",
        "abc", "yes", "on", "none", "default", "auto", "../../etc/passwd", "/etc/shadow", "/", "a,b=c", "=", ",", "'\"<>&", "\u00e9\u00df\u4e2d", "\U0001F4A5",
        new string('x', 4096), "vda", "hdc", "sda", "pci", "virtio", "ide", "usb", "q35", "pc", "52:54:00:zz:00:01", "ff:ff:ff:ff:ff:ff", "-", "*", "1-", "0-3,^9",
        "KiB", "G", "bytes", "unit", "192.168.122.1", "::1", "300.1.1.1", "24", "129", "00000000-0000-0000-0000-000000000000", "not-a-uuid", "${HOME}", "%s%n",
    ];

    /// <summary>A mutation of one of the seeds: which seed, then a stream of choices the mutator consumes (CsCheck shrinks both).</summary>
    private static Gen<string> Mutated(string[] seeds) =>
        Gen.Select(Gen.Int[0, seeds.Length - 1], Gen.Int[0, int.MaxValue].Array[1, 12], (i, choices) => Mutate(seeds[i], choices));

    private static string Mutate(string seed, int[] choices)
    {
        var r = new Choices(choices);
        var doc = XDocument.Parse(seed);
        var root = doc.Root!;
        var steps = 1 + r.Next(4);
        var raw = false;
        for (var s = 0; s < steps; s++)
        {
            var all = root.DescendantsAndSelf().ToList();
            var el = all[r.Next(all.Count)];
            var attrs = el.Attributes().Where(a => !a.IsNamespaceDeclaration).ToList();
            switch (r.Next(10))
            {
                case 0 when el != root: el.Remove(); break;
                case 1 when el != root: el.AddAfterSelf(new XElement(el)); break;
                case 2 when attrs.Count > 0: attrs[r.Next(attrs.Count)].Value = Hostile[r.Next(Hostile.Length)]; break;
                case 3 when attrs.Count > 0: attrs[r.Next(attrs.Count)].Remove(); break;
                case 4 when !el.HasElements: el.Value = Hostile[r.Next(Hostile.Length)]; break;
                case 5:
                {
                    // An attribute or child another element has, here (a name the parser knows, in a place it does not expect).
                    var other = all[r.Next(all.Count)];
                    if (other.Attributes().FirstOrDefault(a => !a.IsNamespaceDeclaration) is { } a && el.Attribute(a.Name) is null) el.SetAttributeValue(a.Name, Hostile[r.Next(Hostile.Length)]);
                    else if (other != root && !other.DescendantsAndSelf().Contains(el)) el.Add(new XElement(other));
                    break;
                }
                case 6 when el != root:
                {
                    var target = all[r.Next(all.Count)];
                    if (!el.DescendantsAndSelf().Contains(target)) { el.Remove(); target.Add(el); }
                    break;
                }
                case 7: el.Add(new XElement("unknown" + r.Next(3), new XAttribute("x", Hostile[r.Next(Hostile.Length)]))); break;
                case 8 when attrs.Count > 0: attrs[r.Next(attrs.Count)].Value = attrs[r.Next(attrs.Count)].Value + Hostile[r.Next(Hostile.Length)]; break;
                case 9: raw = true; break;
            }
        }
        var text = doc.ToString(SaveOptions.DisableFormatting);
        if (!raw) return text;
        // The text itself: cut short, a piece spliced in or doubled — what a broken upload or editor leaves.
        var at = r.Next(text.Length + 1);
        return r.Next(4) switch
        {
            0 => text[..at],
            1 => text.Insert(at, new[] { "<", ">", "&", "'", "\"", "]]>", "&#0;", "&#x1F4A5;", "<!--", "<?x?>", "\u0001", "&amp;", "<a>" }[r.Next(13)]),
            2 => text.Insert(at, Piece(text, r.Next(text.Length))),
            _ => "<!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>" + text.Replace("</name>", "&b;</name>"),
        };
    }

    private static string Piece(string text, int from) => text.Substring(from, Math.Min(40, text.Length - from));

    /// <summary>The choices a mutation consumes, repeating when it runs out (so shrinking keeps them meaningful).</summary>
    private sealed class Choices(int[] values)
    {
        private int _i;
        public int Next(int n) => n <= 0 ? 0 : values[_i++ % values.Length] % n;
    }

    /// <summary>A refusal as users get it: a DefinitionException whose every problem has words, none of them .NET's resource keys.</summary>
    private static void Refused(DefinitionException e)
    {
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        Assert.NotEmpty(e.Problems);
        foreach (var p in e.Problems) Assert.False(string.IsNullOrWhiteSpace(p.Message), "a problem without a message");
        Assert.DoesNotContain("Xml_", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Accepted and written back: what was written reads back to the same document.</summary>
    private static void Check<T>(Gen<string> gen, Func<string, T> parse, Func<T, string> write)
    {
        gen.Sample(input =>
        {
            T value;
            try { value = parse(input); }
            catch (DefinitionException e) { Refused(e); return; }
            var written = write(value);
            T again;
            try { again = parse(written); }
            catch (DefinitionException e) { throw new Xunit.Sdk.XunitException($"accepted, but what it wrote is refused: {e.Message}\nwritten:\n{written}"); }
            Assert.Equal(written, write(again));
        }, iter: Iterations, threads: 1, print: s => s);
    }

    [Fact]
    public void Domain_xml_as_define_takes_it() =>
        Check(Mutated(DomainSeeds), x => DomainRules.ParseForDefine(x), d => DomainXml.Write(d));

    [Fact]
    public void Network_xml_as_net_define_takes_it() =>
        Check(Mutated(NetworkSeeds), x => NetworkRules.ParseForDefine(x, [], out _), NetworkXml.Write);

    [Fact]
    public void Pool_xml_as_pool_define_takes_it() =>
        Check(Mutated(PoolSeeds), x => StorageRules.ParsePoolForDefine(x, [], out _), p => StorageXml.WritePool(p));

    [Fact]
    public void Volume_xml_as_vol_create_takes_it() =>
        Check(Mutated(VolumeSeeds), StorageXml.ParseVolume, v => StorageXml.WriteVolume(v, "/pool/" + v.Name, 0, 0));

    [Fact]
    public void Snapshot_xml_as_snapshot_create_takes_it() =>
        Check(Mutated(SnapshotSeeds), SnapshotXml.Parse, s => SnapshotXml.Write(s));

    [Fact]
    public void Device_xml_as_attach_device_takes_it() =>
        Mutated(DeviceSeeds).Sample(x =>
        {
            try { DomainXml.ParseDevice(x); }
            catch (DefinitionException e) { Refused(e); }
        }, iter: Iterations, threads: 1, print: s => s);

    [Fact]
    public void Ovf_descriptors_as_import_takes_them() =>
        Mutated(OvfSeeds).Sample(x =>
        {
            try { Ovf.Parse(x); }
            catch (DefinitionException e) { Refused(e); }
        }, iter: Iterations, threads: 1, print: s => s);

    /// <summary>virt-install lines (the golden install cases) with their option strings mutated.</summary>
    private static readonly (string Option, string Value)[][] InstallSeeds = InstallTests.PrintXmlCases
        .Select(row => (string)row[1]).Select(line => Options(line)).ToArray();

    private static (string, string)[] Options(string line)
    {
        var words = line.Split(' ');
        var result = new List<(string, string)>();
        for (var i = 0; i < words.Length; i++)
        {
            if (!words[i].StartsWith("--", StringComparison.Ordinal)) { result[^1] = (result[^1].Item1, result[^1].Item2 + " " + words[i]); continue; }
            result.Add((words[i], i + 1 < words.Length && !words[i + 1].StartsWith("--", StringComparison.Ordinal) ? words[++i] : ""));
        }
        return result.ToArray();
    }

    private static readonly string[] OptionNames =
        ["--name", "--memory", "--vcpus", "--cpu", "--machine", "--virt-type", "--os-variant", "--disk", "--cdrom", "--location", "--extra-args", "--cloud-init",
         "--clock", "--channel", "--boot", "--network", "--graphics", "--console", "--serial", "--rng", "--filesystem", "--controller", "--import"];

    private static InstallOptions MutateOptions((string Option, string Value)[] seed, int[] choices)
    {
        var r = new Choices(choices);
        var opts = seed.ToList();
        for (int s = 0, steps = 1 + r.Next(4); s < steps; s++)
        {
            var i = r.Next(opts.Count);
            var (name, value) = opts[i];
            var parts = value.Split(',').ToList();
            switch (r.Next(6))
            {
                case 0: opts.RemoveAt(i); break;
                case 1: opts.Add((OptionNames[r.Next(OptionNames.Length)], Hostile[r.Next(Hostile.Length)])); break;
                case 2:
                    // One key's value (or the main value) made hostile.
                    var p = r.Next(parts.Count);
                    var eq = parts[p].IndexOf('=');
                    parts[p] = (eq < 0 ? "" : parts[p][..(eq + 1)]) + Hostile[r.Next(Hostile.Length)];
                    opts[i] = (name, string.Join(',', parts));
                    break;
                case 3: parts.RemoveAt(r.Next(parts.Count)); opts[i] = (name, string.Join(',', parts)); break;
                case 4: opts[i] = (name, value + "," + new[] { "bus", "size", "format", "model", "mac", "port", "listen", "cache", "target.type", "boot_order", "maxvcpus" }[r.Next(11)] + "=" + Hostile[r.Next(Hostile.Length)]); break;
                case 5: opts[i] = (OptionNames[r.Next(OptionNames.Length)], value); break;
            }
        }
        var o = new InstallOptions();
        foreach (var (name, value) in opts)
        {
            switch (name)
            {
                case "--name": o.Name = value; break;
                case "--memory": o.Memory = value; break;
                case "--vcpus": o.Vcpus = value; break;
                case "--cpu": o.Cpu = value; break;
                case "--machine": o.Machine = value; break;
                case "--virt-type": o.VirtType = value; break;
                case "--os-variant": o.OsVariant = value; break;
                case "--disk": o.Disks.Add(value); break;
                case "--cdrom": o.Cdrom = value; break;
                case "--location": o.Location = value; break;
                case "--extra-args": o.ExtraArgs = value; break;
                case "--cloud-init": o.CloudInit = value; break;
                case "--clock": o.Clock = value; break;
                case "--channel": o.Channels.Add(value); break;
                case "--boot": o.Boot = value; break;
                case "--network": o.Networks.Add(value); break;
                case "--graphics": o.Graphics = value; break;
                case "--console": o.Consoles.Add(value); break;
                case "--serial": o.Serials.Add(value); break;
                case "--rng": o.Rng = value; break;
                case "--filesystem": o.Filesystems.Add(value); break;
                case "--controller": o.Controllers.Add(value); break;
                case "--import": o.Import = true; break;
            }
        }
        return o;
    }

    [Fact]
    public void Virt_install_option_strings_as_install_takes_them() =>
        Gen.Select(Gen.Int[0, InstallSeeds.Length - 1], Gen.Int[0, int.MaxValue].Array[1, 12], (i, c) => (Seed: i, Choices: c))
            .Sample(x =>
            {
                var o = MutateOptions(InstallSeeds[x.Seed], x.Choices);
                InstallPlan plan;
                try { plan = InstallBuilder.Build(o, kvmUsable: false); }
                catch (DefinitionException e) { Refused(e); return; }
                // What install (and --print-xml) makes, define takes (with the installer's kernel the daemon fetches for --location).
                if (plan.Location is not null) { plan.Domain.Os.Kernel ??= "/var/lib/vireo/boot/k"; plan.Domain.Os.Initrd ??= "/var/lib/vireo/boot/i"; }
                var xml = DomainXml.Write(plan.Domain);
                try { DomainRules.ParseForDefine(xml); }
                catch (DefinitionException e) { throw new Xunit.Sdk.XunitException($"install built a domain define refuses: {e.Message}\n{xml}"); }
            }, iter: Iterations, threads: 1, print: x => string.Join(' ', MutateOptionsText(InstallSeeds[x.Seed], x.Choices)));

    private static IEnumerable<string> MutateOptionsText((string Option, string Value)[] seed, int[] choices)
    {
        var o = MutateOptions(seed, choices);
        return new[] { ("--name", o.Name), ("--memory", o.Memory), ("--vcpus", o.Vcpus), ("--cpu", o.Cpu), ("--machine", o.Machine), ("--os-variant", o.OsVariant),
                ("--cdrom", o.Cdrom), ("--location", o.Location), ("--boot", o.Boot), ("--graphics", o.Graphics), ("--cloud-init", o.CloudInit), ("--clock", o.Clock), ("--rng", o.Rng) }
            .Where(p => p.Item2 is not null).Select(p => $"{p.Item1} '{p.Item2}'")
            .Concat(o.Disks.Select(d => $"--disk '{d}'")).Concat(o.Networks.Select(n => $"--network '{n}'")).Concat(o.Filesystems.Select(f => $"--filesystem '{f}'"))
            .Concat(o.Serials.Select(f => $"--serial '{f}'")).Concat(o.Channels.Select(f => $"--channel '{f}'")).Concat(o.Controllers.Select(f => $"--controller '{f}'"))
            .Append(o.Import ? "--import" : "");
    }

    /// <summary>What the generated cases found, each kept as a plain example with the words users get.</summary>
    [Theory]
    [InlineData("<controller index='0'/>", "<controller> needs type=: 'usb', 'pci'")]
    [InlineData("<controller type='pci' index='-1' model='pci-root'/>", "<controller index='-1'> must not be negative.")]
    [InlineData("<interface type='user'><address type='pci' domain='0x0000' bus='0x00' slot='0xffffffffffff' function='0x0'/></interface>", "<address type='pci'> slot='0xffffffffffff' is out of range; it must be at most 0x1f.")]
    [InlineData("<interface type='user'><address type='pci' bus='zz' slot='0x03'/></interface>", "<address type='pci'> bus='zz' is not a number; write it as 0x1f or 31.")]
    [InlineData("<graphics type='spice'><channel mode='secure'/></graphics>", "<channel> needs name=: 'main'")]
    [InlineData("<sound/>", "<sound> needs model=: 'ich9'")]
    public void Found_by_generated_cases_domain_parts(string device, string message)
    {
        var e = Assert.Throws<DefinitionException>(() => DomainRules.ParseForDefine($"<domain type='qemu'><name>x</name><memory unit='MiB'>64</memory><devices>{device}</devices></domain>"));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Found_by_generated_cases_ovf_ids_and_install_options()
    {
        var twice = OvfSeeds[0].Replace("ovf:diskId=\"d2\"", "ovf:diskId=\"d1\"");
        Assert.Equal("The OVF descriptor gives <Disk ovf:diskId> 'd1' twice; each id must be unique.", Assert.Throws<DefinitionException>(() => Ovf.Parse(twice)).Message);
        string Refused(Action<InstallOptions> set)
        {
            var o = new InstallOptions { Name = "w", Import = true, Disks = ["/img/w.raw"] };
            set(o);
            return Assert.Throws<DefinitionException>(() => InstallBuilder.Build(o, false)).Message;
        }
        Assert.Contains("--network: network= has no value; give one (network=VALUE) or leave it out.", Refused(o => o.Networks.Add("network=")));
        Assert.Contains("--disk size='99999999999999999999999999' is not a size in GiB", Refused(o => o.Disks = ["pool=default,size=99999999999999999999999999"]));
    }
}
