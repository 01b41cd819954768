using System.Globalization;

namespace Vireo.Model;

/// <summary>
/// The non-PCI addresses libvirt fills in on define: USB ports (with hubs added when the
/// controllers run out of ports), virtio-serial ports, and smartcard slots on the CCID
/// controller. Like <see cref="PciAddresses"/>, this follows libvirt (src/conf/domain_addr.c)
/// so a guest keeps the ports it had under libvirt.
/// </summary>
public static class DeviceAddresses
{
    private const int HubPorts = 8;

    public static void Assign(DomainDef d)
    {
        AssignUsb(d);
        AssignVirtioSerial(d);
        AssignCcid(d);
    }

    /// <summary>One USB device: how to read and write its address.</summary>
    private sealed record UsbDev(Func<AddressDef?> Get, Action<AddressDef> Set, HubDef? Hub, string What);

    private sealed class Hub(int ports)
    {
        public readonly bool[] Used = new bool[ports];
        public readonly Hub?[] Children = new Hub?[ports];
    }

    /// <summary>USB devices in libvirt's order: hubs, host devices, disks, CCID, input, sound, redirection.</summary>
    private static List<UsbDev> UsbDevices(DevicesDef dev)
    {
        var list = new List<UsbDev>();
        foreach (var h in dev.Hubs.Where(h => h.Type == "usb")) list.Add(new(() => h.Address, a => h.Address = a, h, "a USB hub"));
        foreach (var h in dev.Hostdevs.Where(h => h.Type == "usb")) list.Add(new(() => h.Address, a => h.Address = a, null, "a USB host device"));
        foreach (var x in dev.Disks.Where(x => x.TargetBus == "usb")) list.Add(new(() => x.Address, a => x.Address = a, null, $"USB disk '{x.TargetDev}'"));
        foreach (var c in dev.Controllers.Where(c => c.Type == "ccid")) list.Add(new(() => c.Address, a => c.Address = a, null, "the smartcard (CCID) controller"));
        foreach (var i in dev.Inputs.Where(i => i.Bus == "usb")) list.Add(new(() => i.Address, a => i.Address = a, null, $"the USB {i.Type}"));
        foreach (var s in dev.Sounds.Where(s => s.Model == "usb")) list.Add(new(() => s.Address, a => s.Address = a, null, "USB audio"));
        foreach (var r in dev.Redirdevs.Where(r => r.Bus == "usb")) list.Add(new(() => r.Address, a => r.Address = a, null, "USB redirection"));
        return list;
    }

    private static int Ports(ControllerDef c) => c.Model switch
    {
        null or "piix3-uhci" or "piix4-uhci" or "vt82c686b-uhci" => 2,
        "ehci" or "ich9-ehci1" => 6,
        "pci-ohci" => 3,
        "nec-xhci" or "qemu-xhci" => c.Ports ?? 4,
        "qusb1" or "qusb2" => c.Ports ?? 8,
        _ => 0, // ich9-uhci1..3 lend their ports to the EHCI; model='none' has none
    };

    private static void AssignUsb(DomainDef d)
    {
        var dev = d.Devices;
        var devices = UsbDevices(dev);
        if (devices.Count == 0) return;
        var controllers = dev.Controllers.Where(c => c.Type == "usb" && Ports(c) > 0).ToList();
        if (controllers.Count == 0)
            throw new DefinitionException($"USB is disabled for this domain (no USB controller, or <controller type='usb' model='none'/>), but it has {devices[0].What}; add a USB controller, e.g. <controller type='usb' model='qemu-xhci'/>, or remove the USB devices.");

        // Too many devices for the ports: libvirt adds hubs of 8 ports (each one takes a port itself).
        var available = controllers.Sum(Ports) + dev.Hubs.Count(h => h.Type == "usb") * HubPorts;
        if (devices.Count > available)
        {
            var needed = (devices.Count - available + 1 + HubPorts - 2) / (HubPorts - 1);
            for (int i = 0; i < needed; i++)
            {
                var hub = new HubDef { Type = "usb", Alias = $"hub{dev.Hubs.Count}" };
                dev.Hubs.Add(hub);
            }
            devices = UsbDevices(dev);
        }

        var buses = new Dictionary<int, Hub>();
        foreach (var c in controllers) buses[c.Index ?? 0] = new Hub(Ports(c));

        // Addresses already given are kept; hubs that have one open their ports first.
        foreach (var x in devices.Where(x => Valid(x.Get())))
        {
            var (hub, port) = Find(buses, x.Get()!, x.What);
            if (hub.Used[port])
                throw new DefinitionException($"USB port {x.Get()!.Get("port")} on bus {x.Get()!.Get("bus") ?? "0"} is used twice ({x.What} is one); give one of them another port.");
            hub.Used[port] = true;
            if (x.Hub is not null) hub.Children[port] = new Hub(HubPorts);
        }
        foreach (var x in devices.Where(x => !Valid(x.Get())).OrderBy(x => x.Hub is null ? 1 : 0))
        {
            (Hub Hub, int Port, int Bus, string Path)? free = null;
            foreach (var (bus, root) in buses.OrderBy(b => b.Key))
                if (FreePort(root, "") is { } f) { free = (f.Hub, f.Port, bus, f.Path); break; }
            if (free is not { } at)
                throw new DefinitionException($"No USB port is free for {x.What}; add <hub type='usb'/> or a controller with more ports (qemu-xhci ports='15').");
            at.Hub.Used[at.Port] = true;
            if (x.Hub is not null) at.Hub.Children[at.Port] = new Hub(HubPorts);
            var attrs = new List<KeyValuePair<string, string>> { new("bus", at.Bus.ToString(CultureInfo.InvariantCulture)), new("port", at.Path) };
            x.Set(new AddressDef { Type = "usb", Attributes = attrs });
        }
    }

    private static bool Valid(AddressDef? a) => a is { Type: "usb" } && a.Get("port") is { Length: > 0 } p && p != "0";

    private static (Hub Hub, int Port) Find(Dictionary<int, Hub> buses, AddressDef a, string what)
    {
        var bus = int.TryParse(a.Get("bus") ?? "0", out var b) ? b : -1;
        if (!buses.TryGetValue(bus, out var hub))
            throw new DefinitionException($"{Cap(what)} names USB bus {a.Get("bus")}, which has no controller; add <controller type='usb' index='{a.Get("bus")}'/> or remove the address.");
        var parts = a.Get("port")!.Split('.');
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], out var p) || p < 1 || p > hub.Used.Length)
                throw new DefinitionException($"USB port {a.Get("port")} of {what} is out of range: bus {bus} has ports 1 to {hub.Used.Length} at that level.");
            if (i == parts.Length - 1) return (hub, p - 1);
            hub = hub.Children[p - 1] ?? throw new DefinitionException($"USB port {a.Get("port")} of {what} is behind port {p}, where there is no hub; add <hub type='usb'> with <address type='usb' bus='{bus}' port='{p}'/>.");
        }
        throw new InvalidOperationException("unreachable");
    }

    private static string Cap(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    /// <summary>The first free port of a hub, else of the hubs below it, depth first (libvirt's order).</summary>
    private static (Hub Hub, int Port, string Path)? FreePort(Hub hub, string prefix)
    {
        for (int i = 0; i < hub.Used.Length; i++)
            if (!hub.Used[i]) return (hub, i, prefix + (i + 1).ToString(CultureInfo.InvariantCulture));
        for (int i = 0; i < hub.Children.Length; i++)
            if (hub.Children[i] is { } child && FreePort(child, prefix + (i + 1).ToString(CultureInfo.InvariantCulture) + ".") is { } f)
                return f;
        return null;
    }

    /// <summary>virtio-serial: a virtio console takes port 0 (without writing it down), channels take ports from 1.</summary>
    private static void AssignVirtioSerial(DomainDef d)
    {
        var dev = d.Devices;
        var controllers = dev.Controllers.Where(c => c.Type == "virtio-serial").OrderBy(c => c.Index ?? 0)
            .ToDictionary(c => c.Index ?? 0, c => new bool[c.Ports ?? 31]);
        if (controllers.Count == 0) return;
        var chars = dev.Consoles.Where(c => c.TargetType == "virtio").Concat(dev.Channels.Where(c => c.TargetType is null or "virtio")).ToList();
        foreach (var c in chars.Where(c => Port(c.Address) is > 0))
        {
            var ctl = Controller(c.Address);
            if (!controllers.TryGetValue(ctl, out var map))
                throw new DefinitionException($"virtio serial controller {ctl} is missing; add <controller type='virtio-serial' index='{ctl}'/>.");
            var port = Port(c.Address)!.Value;
            if (port >= map.Length) throw new DefinitionException($"virtio serial controller {ctl} does not have port {port} (it has {map.Length}).");
            if (map[port]) throw new DefinitionException($"virtio serial port {port} on controller {ctl} is already occupied.");
            map[port] = true;
        }
        foreach (var c in dev.Consoles.Where(c => c.TargetType == "virtio" && Port(c.Address) is null or 0))
            foreach (var map in controllers.Values)
            {
                var free = Array.IndexOf(map, false);
                if (free >= 0) { map[free] = true; break; }
            }
        foreach (var c in dev.Channels.Where(c => c.TargetType is null or "virtio" && Port(c.Address) is null or 0))
        {
            var placed = false;
            foreach (var (idx, map) in controllers)
            {
                if (c.Address is { Type: "virtio-serial" } && Controller(c.Address) != idx) continue;
                var free = Array.IndexOf(map, false, 1);
                if (free < 0) continue;
                map[free] = true;
                c.Address = new AddressDef
                {
                    Type = "virtio-serial",
                    Attributes = [new("controller", idx.ToString(CultureInfo.InvariantCulture)), new("bus", "0"), new("port", free.ToString(CultureInfo.InvariantCulture))],
                };
                placed = true;
                break;
            }
            if (!placed) throw new DefinitionException($"No virtio serial port is free for channel '{c.TargetName}'; add another <controller type='virtio-serial'/>.");
        }
    }

    private static int? Port(AddressDef? a) => a is { Type: "virtio-serial" } && int.TryParse(a.Get("port"), out var p) ? p : null;

    private static int Controller(AddressDef? a) => int.TryParse(a?.Get("controller"), out var c) ? c : 0;

    /// <summary>Smartcards sit in the CCID controller's slots, in order.</summary>
    private static void AssignCcid(DomainDef d)
    {
        var used = d.Devices.Smartcards.Where(s => s.Address is { Type: "ccid" }).Select(s => (Controller(s.Address), int.TryParse(s.Address!.Get("slot"), out var sl) ? sl : 0)).ToHashSet();
        foreach (var s in d.Devices.Smartcards.Where(s => s.Address is null))
        {
            var slot = 0;
            while (used.Contains((0, slot))) slot++;
            used.Add((0, slot));
            s.Address = new AddressDef { Type = "ccid", Attributes = [new("controller", "0"), new("slot", slot.ToString(CultureInfo.InvariantCulture))] };
        }
    }
}
