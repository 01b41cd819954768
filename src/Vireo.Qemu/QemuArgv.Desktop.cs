using System.Globalization;
using System.Text.Json.Nodes;
using Vireo.Model;

namespace Vireo.Qemu;

// What a desktop guest has beyond a serial console: the SPICE or VNC display, video cards,
// sound cards and their audio back-ends, and the USB devices a SPICE client redirects.
public static partial class QemuArgv
{
    /// <summary>The -audiodev id of an &lt;audio id='N'&gt;, as libvirt names it.</summary>
    internal static string AudioDev(int id) => $"audio{id}";

    private static void Audio(DomainDef d, Args a)
    {
        foreach (var au in d.Devices.Audios)
        {
            var driver = au.Type switch
            {
                "none" or "spice" or "alsa" or "oss" or "sdl" or "dbus" or "pipewire" or "jack" => au.Type,
                "pulseaudio" => "pa",
                "file" => "wav",
                var t => throw new LaunchException($"Audio back-end type '{t}' is not available in this QEMU; use 'none' or 'spice'."),
            };
            var o = new JsonObject { ["id"] = AudioDev(au.Id), ["driver"] = driver };
            if (au.Type == "file" && au.Attributes.FirstOrDefault(x => x.Key == "path").Value is { } path) o["path"] = path;
            a.Add("-audiodev", Json(o));
        }
    }

    private static string? DefaultAudio(DomainDef d, int? id) =>
        id is { } i ? AudioDev(i) : d.Devices.Audios.Count > 0 ? AudioDev(d.Devices.Audios[0].Id) : null;

    private static void Graphics(DomainDef d, LaunchContext ctx, Args a)
    {
        foreach (var g in d.Devices.Graphics)
        {
            var listen = g.Listen ?? "127.0.0.1";
            if (g.ListenType is "network" or "socket")
                throw new LaunchException($"<graphics type='{g.Type}'><listen type='{g.ListenType}'> is not supported; give an address: <listen type='address' address='127.0.0.1'/>.");
            if (g.Type == "vnc")
            {
                // Autoport: QEMU picks the first free display from :0 up (port 5900 up); the engine reads it back.
                var vnc = g.AutoPort || g.Port is null ? $"{listen}:0,to=99" : $"{listen}:{g.Port - 5900}";
                if (g.ListenType == "none") vnc = "none";
                if (g.Passwd is not null) vnc += ",password=on";
                if (DefaultAudio(d, g.AudioId) is { } vad) vnc += $",audiodev={vad}";
                a.Add("-vnc", vnc);
                if (g.Keymap is { } km) a.Add("-k", km);
                continue;
            }
            if (g.GlEnable == "yes")
                throw new LaunchException("<graphics type='spice'><gl enable='yes'/> needs a GPU render node (/dev/dri), which this host does not have; remove <gl> or set enable='no'.");
            if (g.TlsPort is > 0)
                throw new LaunchException($"<graphics type='spice' tlsPort='{g.TlsPort}'> needs TLS certificates, which Vireo does not set up yet; remove tlsPort (or set it to -1).");
            string spice;
            if (g.ListenType == "none") spice = "port=0";
            else
            {
                var port = g.AutoPort || g.Port is null ? ctx.SpicePort : g.Port;
                if (port is null)
                    throw new LaunchException("A SPICE display with autoport needs a port: the engine picks a free one before the argv is built.");
                spice = $"port={port},addr={listen}";
            }
            if (g.MouseMode is { } mm) spice += $",agent-mouse={(mm == "client" ? "on" : "off")}";
            // With a password the server starts locked; the engine sets the password over QMP (never on the command line).
            spice += g.Passwd is null ? ",disable-ticketing=on" : "";
            if (g.ImageCompression is { } ic) spice += $",image-compression={ic}";
            if (g.JpegCompression is { } jc) spice += $",jpeg-wan-compression={jc}";
            if (g.ZlibCompression is { } zc) spice += $",zlib-glz-wan-compression={zc}";
            if (g.PlaybackCompression is { } pc) spice += $",playback-compression={pc}";
            if (g.StreamingMode is { } sm) spice += $",streaming-video={sm}";
            if (g.ClipboardCopyPaste == "no") spice += ",disable-copy-paste=on";
            if (g.FileTransfer == "no") spice += ",disable-agent-file-xfer=on";
            spice += ",seamless-migration=on";
            a.Add("-spice", spice);
        }
    }

    private static void Videos(DomainDef d, Args a)
    {
        for (int i = 0; i < d.Devices.Videos.Count; i++)
        {
            var v = d.Devices.Videos[i];
            var primary = i == 0;
            if (v.Model == "none") continue;
            if (v.Accel3d == "yes")
                throw new LaunchException($"Video '{v.Alias}' asks for 3D acceleration (<acceleration accel3d='yes'/>), which needs a GPU render node this host does not have; remove it.");
            var dev = new JsonObject
            {
                ["driver"] = v.Model switch
                {
                    "qxl" => primary ? "qxl-vga" : "qxl",
                    "virtio" => primary ? "virtio-vga" : "virtio-gpu-pci",
                    "bochs" => "bochs-display",
                    "ramfb" => "ramfb",
                    "cirrus" => "cirrus-vga",
                    "vmvga" => "vmware-svga",
                    _ => primary ? "VGA" : "secondary-vga",
                },
                ["id"] = v.Alias,
            };
            switch (v.Model)
            {
                case "qxl":
                    dev["max_outputs"] = v.Heads ?? 1;
                    dev["ram_size"] = (long)(v.Ram ?? 65536) * 1024;
                    dev["vram_size"] = (long)(v.Vram ?? 65536) * 1024;
                    dev["vram64_size_mb"] = (v.Vram64 ?? 0) / 1024;
                    dev["vgamem_mb"] = (v.Vgamem ?? 16384) / 1024;
                    break;
                case "virtio":
                    dev["max_outputs"] = v.Heads ?? 1;
                    break;
                case "bochs":
                    dev["vgamem"] = (long)(v.Vram ?? 16384) * 1024;
                    break;
                case "vga":
                    if (v.Vram is { } vram) dev["vgamem_mb"] = Math.Max(1, vram / 1024);
                    break;
            }
            if (v.Model != "ramfb") PciAddress(d, v.Address, dev);
            a.Device(dev);
        }
    }

    private static void Sounds(DomainDef d, Args a)
    {
        foreach (var s in d.Devices.Sounds)
        {
            var audio = DefaultAudio(d, s.AudioId);
            switch (s.Model)
            {
                case "ich6" or "ich9":
                {
                    var dev = new JsonObject { ["driver"] = s.Model == "ich9" ? "ich9-intel-hda" : "intel-hda", ["id"] = s.Alias };
                    PciAddress(d, s.Address, dev);
                    a.Device(dev);
                    var codecs = s.Codecs.Count == 0 ? ["duplex"] : s.Codecs;
                    for (int c = 0; c < codecs.Count; c++)
                    {
                        var codec = new JsonObject { ["driver"] = $"hda-{codecs[c]}", ["id"] = $"{s.Alias}-codec{c}", ["bus"] = $"{s.Alias}.0", ["cad"] = c };
                        if (audio is not null) codec["audiodev"] = audio;
                        a.Device(codec);
                    }
                    break;
                }
                case "ac97" or "es1370":
                {
                    var dev = new JsonObject { ["driver"] = s.Model == "ac97" ? "AC97" : "ES1370", ["id"] = s.Alias };
                    if (audio is not null) dev["audiodev"] = audio;
                    PciAddress(d, s.Address, dev);
                    a.Device(dev);
                    break;
                }
                case "usb":
                {
                    var dev = new JsonObject { ["driver"] = "usb-audio", ["id"] = s.Alias };
                    if (audio is not null) dev["audiodev"] = audio;
                    UsbAddress(s.Address, dev);
                    a.Device(dev);
                    break;
                }
                case "sb16":
                {
                    var dev = new JsonObject { ["driver"] = "sb16", ["id"] = s.Alias };
                    if (audio is not null) dev["audiodev"] = audio;
                    a.Device(dev);
                    break;
                }
                default:
                    throw new LaunchException($"Sound model '{s.Model}' is not available in this QEMU; use ich9, ich6, ac97 or usb.");
            }
        }
    }

    /// <summary>bus/port from a libvirt USB address (bus='0' port='1.2'); without one QEMU picks a free port.</summary>
    internal static void UsbAddress(AddressDef? address, JsonObject props)
    {
        var bus = address is { Type: "usb" } && address.Get("bus") is { } b ? ParseNum(b) : 0;
        props["bus"] = $"usb{(bus == 0 ? "" : bus.ToString(CultureInfo.InvariantCulture))}.0";
        if (address is { Type: "usb" } && address.Get("port") is { } port) props["port"] = port;
    }

    /// <summary>A host PCI address as QEMU and sysfs write it: 0000:06:00.0.</summary>
    public static string PciHostAddress(AddressDef a)
    {
        int N(string k) => ParseNum(a.Get(k) ?? "0");
        return $"{N("domain"):x4}:{N("bus"):x2}:{N("slot"):x2}.{N("function"):x}";
    }

    private static void UsbDevices(DomainDef d, Args a)
    {
        var dev = d.Devices;
        foreach (var h in dev.Hubs)
        {
            var o = new JsonObject { ["driver"] = "usb-hub", ["id"] = h.Alias };
            UsbAddress(h.Address, o);
            a.Device(o);
        }
        foreach (var r in dev.Redirdevs)
        {
            var chr = $"char{r.Alias}";
            a.Add("-chardev", r.Type == "tcp"
                ? $"socket,id={chr},host={r.SourceHost},port={r.SourceService}"
                : $"spicevmc,id={chr},name=usbredir");
            var o = new JsonObject { ["driver"] = "usb-redir", ["chardev"] = chr, ["id"] = r.Alias };
            UsbAddress(r.Address, o);
            if (r.BootOrder is { } bo) o["bootindex"] = bo;
            a.Device(o);
        }
        foreach (var c in dev.Controllers.Where(c => c.Type == "ccid"))
        {
            var o = new JsonObject { ["driver"] = "usb-ccid", ["id"] = c.Alias };
            UsbAddress(c.Address, o);
            a.Device(o);
        }
        foreach (var s in dev.Smartcards)
        {
            var bus = $"ccid{(s.Address is { Type: "ccid" } && s.Address.Get("controller") is { } ci ? ParseNum(ci) : 0)}.0";
            if (s.Mode == "passthrough")
            {
                var chr = $"char{s.Alias}";
                a.Add("-chardev", s.Type == "spicevmc" ? $"spicevmc,id={chr},name=smartcard" : throw new LaunchException($"Smartcard passthrough type '{s.Type}' is not supported; use type='spicevmc'."));
                a.Device(new JsonObject { ["driver"] = "ccid-card-passthru", ["chardev"] = chr, ["id"] = s.Alias, ["bus"] = bus });
            }
            else
                throw new LaunchException($"Smartcard mode '{s.Mode}' needs a reader on this host (NSS); use mode='passthrough' type='spicevmc' to pass the SPICE client's card.");
        }
        foreach (var h in dev.Hostdevs)
        {
            switch (h.Type)
            {
                case "usb":
                {
                    var o = new JsonObject { ["driver"] = "usb-host", ["id"] = h.Alias };
                    if (h.Vendor is not null && h.Product is not null)
                    {
                        o["vendorid"] = h.Vendor;
                        o["productid"] = h.Product;
                    }
                    else if (h.SourceAddress is { } usb)
                    {
                        o["hostbus"] = ParseNum(usb.Get("bus") ?? "0");
                        o["hostaddr"] = ParseNum(usb.Get("device") ?? "0");
                    }
                    UsbAddress(h.Address, o);
                    if (h.BootOrder is { } bo) o["bootindex"] = bo;
                    a.Device(o);
                    break;
                }
                case "pci":
                {
                    var o = new JsonObject { ["driver"] = "vfio-pci", ["host"] = PciHostAddress(h.SourceAddress!), ["id"] = h.Alias };
                    if (h.BootOrder is { } bo) o["bootindex"] = bo;
                    if (h.RomBar is { } bar) o["rombar"] = bar == "on" ? 1 : 0;
                    if (h.RomFile is { } rf) o["romfile"] = rf;
                    PciAddress(d, h.Address, o);
                    a.Device(o);
                    break;
                }
                default:
                    throw new LaunchException($"Host device type '{h.Type}' is not supported; use type='pci' or type='usb'.");
            }
        }
    }
}
