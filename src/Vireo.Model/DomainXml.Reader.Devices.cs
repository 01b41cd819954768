using System.Xml.Linq;

namespace Vireo.Model;

public static partial class DomainXml
{
    private sealed partial class Reader
    {
        private static List<KeyValuePair<string, string>> Attrs(XElement e, params string[] except) =>
            e.Attributes().Where(a => !a.IsNamespaceDeclaration && !except.Contains(a.Name.LocalName))
                .Select(a => KeyValuePair.Create(a.Name.LocalName, a.Value)).ToList();

        /// <summary>Reads alias and address into the device; true when the child was one of them.</summary>
        private bool Common(XElement c, Action<string?> alias, Action<AddressDef> address)
        {
            switch (c.Name.LocalName)
            {
                case "alias": alias(A(c, "name")); return true;
                case "address": address(Address(c)); return true;
                default: return false;
            }
        }

        private SoundDef Sound(XElement e)
        {
            var s = new SoundDef { Model = Needed(e, "model", "ich9", "ich6", "ich7", "ac97", "usb", "es1370", "sb16", "pcspk") };
            if (A(e, "model") is null) Problems.Add("A <sound> needs model='ich9', 'ich6', 'ac97' or 'usb'.", e);
            foreach (var c in e.Elements())
            {
                if (Common(c, a => s.Alias = a, a => s.Address = a)) continue;
                switch (c.Name.LocalName)
                {
                    case "codec": s.Codecs.Add(OneOf(c, "type", "duplex", "micro", "output") ?? "duplex"); break;
                    case "audio": s.AudioId = Int(c, "id"); break;
                    default: Unsupported(c, "sound"); break;
                }
            }
            return s;
        }

        private AudioDef Audio(XElement e)
        {
            var a = new AudioDef
            {
                Id = Int(e, "id") ?? 0,
                Type = OneOf(e, "type", "none", "spice", "pulseaudio", "alsa", "oss", "sdl", "file", "dbus", "pipewire", "jack", "coreaudio") ?? "none",
                Attributes = Attrs(e, "id", "type"),
            };
            if (A(e, "id") is null) Problems.Add("An <audio> needs id='1' (sound devices and graphics refer to it).", e);
            foreach (var c in e.Elements())
                if (c.Name.LocalName is "input" or "output") a.Children.Add(new XElement(c));
                else Unsupported(c, "audio");
            return a;
        }

        private RedirdevDef Redirdev(XElement e)
        {
            var r = new RedirdevDef { Bus = OneOf(e, "bus", "usb") ?? "usb", Type = OneOf(e, "type", "spicevmc", "tcp") ?? "spicevmc" };
            foreach (var c in e.Elements())
            {
                if (Common(c, a => r.Alias = a, a => r.Address = a)) continue;
                switch (c.Name.LocalName)
                {
                    case "source": r.SourceHost = A(c, "host"); r.SourceService = A(c, "service"); break;
                    case "boot": r.BootOrder = Int(c, "order"); break;
                    case "protocol": break;
                    default: Unsupported(c, "redirdev"); break;
                }
            }
            if (r.Type == "tcp" && (r.SourceHost is null || r.SourceService is null))
                Problems.Add("A <redirdev type='tcp'> needs <source mode='connect' host='HOST' service='PORT'/>.", e);
            return r;
        }

        private SmartcardDef Smartcard(XElement e)
        {
            var s = new SmartcardDef { Mode = OneOf(e, "mode", "passthrough", "host", "host-certificates") ?? "passthrough", Type = A(e, "type") };
            if (s.Mode == "passthrough") OneOf(e, "type", "spicevmc", "tcp");
            foreach (var c in e.Elements())
            {
                if (Common(c, a => s.Alias = a, a => s.Address = a)) continue;
                switch (c.Name.LocalName)
                {
                    case "certificate": s.Certificates.Add(c.Value.Trim()); break;
                    case "database": s.Database = c.Value.Trim(); break;
                    case "protocol" or "source": break;
                    default: Unsupported(c, "smartcard"); break;
                }
            }
            return s;
        }

        private HubDef Hub(XElement e)
        {
            var h = new HubDef { Type = OneOf(e, "type", "usb") ?? "usb" };
            foreach (var c in e.Elements())
                if (!Common(c, a => h.Alias = a, a => h.Address = a)) Unsupported(c, "hub");
            return h;
        }

        private TpmDef Tpm(XElement e)
        {
            var t = new TpmDef { Model = OneOf(e, "model", "tpm-tis", "tpm-crb", "tpm-spapr", "spapr-tpm-proxy") ?? "tpm-tis" };
            foreach (var c in e.Elements())
            {
                if (Common(c, a => t.Alias = a, a => t.Address = a)) continue;
                if (c.Name.LocalName != "backend") { Unsupported(c, "tpm"); continue; }
                t.BackendType = OneOf(c, "type", "emulator", "passthrough", "external") ?? "emulator";
                t.Version = OneOf(c, "version", "1.2", "2.0");
                t.PersistentState = OneOf(c, "persistent_state", "yes", "no");
                foreach (var b in c.Elements())
                    switch (b.Name.LocalName)
                    {
                        case "device": t.DevicePath = A(b, "path"); break;
                        case "encryption": t.EncryptionSecret = A(b, "secret"); break;
                        case "active_pcr_banks": t.ActivePcrBanks = b.Elements().Select(x => x.Name.LocalName).ToList(); break;
                        case "source": break;
                        default: Unsupported(b, "backend"); break;
                    }
            }
            return t;
        }

        private WatchdogDef Watchdog(XElement e)
        {
            var w = new WatchdogDef
            {
                Model = Needed(e, "model", "i6300esb", "ib700", "itco", "diag288"),
                Action = OneOf(e, "action", "reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi"),
            };
            if (A(e, "model") is null) Problems.Add("A <watchdog> needs model='i6300esb', 'ib700' or 'itco'.", e);
            foreach (var c in e.Elements())
                if (!Common(c, a => w.Alias = a, a => w.Address = a)) Unsupported(c, "watchdog");
            return w;
        }

        private HostdevDef Hostdev(XElement e)
        {
            var h = new HostdevDef { Mode = OneOf(e, "mode", "subsystem") ?? "subsystem", Type = Needed(e, "type", "pci", "usb", "scsi", "mdev"), Managed = OneOf(e, "managed", "yes", "no") };
            if (A(e, "type") is null) Problems.Add("A <hostdev> needs type='pci' or 'usb'.", e);
            foreach (var c in e.Elements())
            {
                if (Common(c, a => h.Alias = a, a => h.Address = a)) continue;
                switch (c.Name.LocalName)
                {
                    case "source":
                        h.StartupPolicy = OneOf(c, "startupPolicy", "mandatory", "requisite", "optional");
                        foreach (var s in c.Elements())
                            switch (s.Name.LocalName)
                            {
                                case "address": h.SourceAddress = new AddressDef { Type = h.Type, Attributes = Attrs(s, "type") }; break;
                                case "vendor": h.Vendor = A(s, "id"); break;
                                case "product": h.Product = A(s, "id"); break;
                                default: Unsupported(s, "source"); break;
                            }
                        break;
                    case "driver": h.DriverName = OneOf(c, "name", "vfio", "kvm", "xen"); break;
                    case "rom": h.RomBar = OneOf(c, "bar", "on", "off"); h.RomFile = A(c, "file"); break;
                    case "boot": h.BootOrder = Int(c, "order"); break;
                    case "readonly": h.ReadOnly = true; break;
                    case "shareable": h.Shareable = true; break;
                    default: Unsupported(c, "hostdev"); break;
                }
            }
            if (h.Type == "pci" && h.SourceAddress is null)
                Problems.Add("A <hostdev type='pci'> needs <source><address domain='0x0000' bus='0x06' slot='0x00' function='0x0'/></source>.", e);
            if (h.Type == "usb" && h.SourceAddress is null && (h.Vendor is null || h.Product is null))
                Problems.Add("A <hostdev type='usb'> needs <source><vendor id='0x…'/><product id='0x…'/></source> or <source><address bus='N' device='N'/></source>.", e);
            return h;
        }

        private VsockDef Vsock(XElement e)
        {
            var v = new VsockDef { Model = OneOf(e, "model", "virtio", "virtio-transitional", "virtio-non-transitional") };
            foreach (var c in e.Elements())
            {
                if (Common(c, a => v.Alias = a, a => v.Address = a)) continue;
                switch (c.Name.LocalName)
                {
                    case "cid":
                        v.CidAuto = OneOf(c, "auto", "yes", "no");
                        if (A(c, "address") is { } ca)
                        {
                            if (uint.TryParse(ca, out var cid) && cid >= 3) v.CidAddress = cid;
                            else Problems.Add($"vsock cid address='{ca}' is not a guest CID (3 or more; 0-2 are reserved).", c);
                        }
                        break;
                    case "driver": break;
                    default: Unsupported(c, "vsock"); break;
                }
            }
            return v;
        }

        private IommuDef Iommu(XElement e)
        {
            var m = new IommuDef { Model = OneOf(e, "model", "intel", "virtio", "smmuv3") ?? "intel" };
            foreach (var c in e.Elements())
            {
                if (Common(c, a => m.Alias = a, a => m.Address = a)) continue;
                if (c.Name.LocalName != "driver") { Unsupported(c, "iommu"); continue; }
                foreach (var name in new[] { "intremap", "caching_mode", "eim", "iotlb" }) OneOf(c, name, "on", "off");
                m.Driver = Attrs(c);
                foreach (var a in m.Driver.Where(a => a.Key is not ("intremap" or "caching_mode" or "eim" or "iotlb" or "aw_bits")))
                    Problems.Add($"Unsupported attribute {a.Key} of <iommu><driver>; use intremap, caching_mode, eim, iotlb or aw_bits.", c);
            }
            return m;
        }
    }
}
