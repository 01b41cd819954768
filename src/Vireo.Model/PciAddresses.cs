namespace Vireo.Model;

/// <summary>
/// Gives every PCI device without an address a fixed place on define, exactly where libvirt
/// puts it, so a guest moved from libvirt sees the same topology (Windows re-detects hardware,
/// and Linux names NICs, by slot) and adding a device later does not move the others.
/// </summary>
/// <remarks>
/// The algorithm is libvirt's (src/conf/domain_addr.c and src/qemu/qemu_domain_address.c,
/// read as the reference; the corpus test checks the result against libvirt 9.0's dumpxml):
/// every device has connect flags (a conventional PCI device, a PCI Express device, a root
/// port…), every bus accepts some of them, and a device takes the first free slot of the first
/// bus that accepts it. On q35 the root complex takes only integrated devices and root ports,
/// so each PCIe device sits behind a pcie-root-port of its own, the root ports share slots as
/// functions, and a conventional PCI device (ich6 sound, qxl, i6300esb, e1000) goes on a
/// pcie-to-pci-bridge behind one more root port. A first, dry pass counts the buses the
/// devices need and adds the controllers; the second pass places everything. The chipset's
/// own devices come first: on pc the PIIX3 (slot 1: ISA, IDE at .1, USB at .2) and the primary
/// video at slot 2; on q35 the LPC/SATA/SMBus at 0x1f, the primary video at slot 1, ICH9 audio
/// at 0x1b and the first ICH9 USB2 controller at 0x1d.
/// </remarks>
public static class PciAddresses
{
    [Flags]
    private enum C
    {
        None = 0,
        PciDevice = 1 << 0, PcieDevice = 1 << 1, RootPort = 1 << 2, SwitchUp = 1 << 3, SwitchDown = 1 << 4,
        DmiToPci = 1 << 5, PcieToPci = 1 << 6, PciBridge = 1 << 7, PciExpander = 1 << 8, PcieExpander = 1 << 9,
        Types = (1 << 10) - 1,
        Endpoint = PciDevice | PcieDevice,
        Hotplug = 1 << 10, Auto = 1 << 11, Aggregate = 1 << 12, Integrated = 1 << 13,
    }

    private readonly record struct Addr(int Bus, int Slot, int Function);

    private sealed class Bus
    {
        public string Model = "";
        public C Flags;
        public int MinSlot, MaxSlot = 31;
        public readonly byte[] Functions = new byte[32];
        public readonly bool[] Aggregate = new bool[32];
        public bool FullyReserved => Enumerable.Range(MinSlot, MaxSlot - MinSlot + 1).All(s => Functions[s] != 0);
    }

    private sealed class Set
    {
        public readonly List<Bus> Buses = [];
        public bool DryRun;
    }

    /// <summary>One device that may sit on PCI: how it reads and writes its address, and what it plugs into.</summary>
    private sealed class Dev(Func<AddressDef?> get, Action<AddressDef> set, C flags, int pass, object owner)
    {
        public AddressDef? Address => get();
        public void Place(AddressDef a) => set(a);
        public C Flags { get; } = flags;
        /// <summary>Which of libvirt's assignment passes places it (0: never auto-assigned).</summary>
        public int Pass { get; } = pass;
        public object Owner { get; } = owner;
        public bool Present => Address is { Type: "pci" } a && !IsEmpty(a);
        public bool Wanted => Address is null || Address is { Type: "pci" } a && IsEmpty(a);
    }

    /// <summary>Places every device that has no address yet. With <paramref name="addBuses"/> false (a running guest,
    /// whose buses cannot change) a device goes only where a slot is free, or the call fails.</summary>
    public static void Assign(DomainDef d, bool addBuses = true)
    {
        var q35 = IsQ35(d);
        if (!q35 && !IsI440fx(d)) return;
        var maxIdx = d.Devices.Controllers.Where(c => c.Type == "pci").Select(c => c.Index ?? 0).DefaultIfEmpty(-1).Max();
        var nbuses = maxIdx + 1;
        if (nbuses > 0 && addBuses)
        {
            // The dry pass: how many buses (and so which new controllers) the devices need.
            var dry = CreateSet(d, nbuses, dryRun: true);
            Chipset(d, dry, q35);
            if (!q35 && !dry.Buses.All(b => b.FullyReserved))
                ReserveNext(dry, C.Auto | C.PciDevice, -1); // keep a slot free for a later pci-bridge, as libvirt does
            AssignSlots(d, dry);
            if (q35 && maxIdx <= 0 && dry.Buses.Count > maxIdx + 1)
                ReserveNext(dry, C.Auto | C.PcieDevice, -1); // one empty root port for hotplug
            for (int i = 1; i < dry.Buses.Count; i++)
            {
                if (d.Devices.Controllers.Any(c => c.Type == "pci" && c.Index == i)) continue;
                var added = new ControllerDef { Type = "pci", Index = i, Model = dry.Buses[i].Model };
                d.Devices.Controllers.Add(added);
                var flags = ControllerFlags(added, q35);
                if (added.Model is not ("pci-root" or "pcie-root")) ReserveNext(dry, flags, -1);
            }
            nbuses = dry.Buses.Count;
        }

        var set = CreateSet(d, nbuses, dryRun: false);
        Chipset(d, set, q35);
        AssignSlots(d, set);
        SetAllMulti(d);
        foreach (var c in d.Devices.Controllers.Where(c => c.Type == "pci"))
        {
            c.ModelName ??= c.Model switch
            {
                "pci-bridge" => "pci-bridge",
                "dmi-to-pci-bridge" => "i82801b11-bridge",
                "pcie-to-pci-bridge" => "pcie-pci-bridge",
                "pcie-root-port" => "pcie-root-port",
                "pcie-switch-upstream-port" => "x3130-upstream",
                "pcie-switch-downstream-port" => "xio3130-downstream",
                "pci-expander-bus" => "pxb",
                "pcie-expander-bus" => "pxb-pcie",
                _ => null,
            };
            var a = Parse(c.Address);
            switch (c.Model)
            {
                case "pci-bridge": c.TargetChassisNr ??= c.Index?.ToString(System.Globalization.CultureInfo.InvariantCulture); break;
                case "pcie-root-port":
                    c.TargetChassis ??= c.Index?.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (a is { } rp) c.TargetPort ??= $"0x{(rp.Slot << 3) + rp.Function:x}";
                    break;
                case "pcie-switch-downstream-port":
                    c.TargetChassis ??= c.Index?.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (a is { } dp) c.TargetPort ??= $"0x{dp.Slot:x}";
                    break;
            }
        }
    }

    /// <summary>True when no device of the definition sits in the slot of this PCI address.</summary>
    public static bool SlotFree(DomainDef d, AddressDef address) =>
        Parse(address) is not { } want
        || !Devices(d, IsQ35(d)).Any(x => x.Present && Parse(x.Address) is { } a && a.Bus == want.Bus && a.Slot == want.Slot);

    private static bool IsQ35(DomainDef d) => d.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true;

    private static bool IsI440fx(DomainDef d) => d.Os.Machine is null or "pc" || d.Os.Machine.StartsWith("pc-i440fx", StringComparison.Ordinal) || d.Os.Machine.StartsWith("pc-0", StringComparison.Ordinal) || d.Os.Machine.StartsWith("pc-1", StringComparison.Ordinal);

    private static Set CreateSet(DomainDef d, int nbuses, bool dryRun)
    {
        var set = new Set { DryRun = dryRun };
        var q35 = IsQ35(d);
        for (int i = 0; i < nbuses; i++) set.Buses.Add(null!);
        var hasPcieRoot = false;
        foreach (var c in d.Devices.Controllers.Where(c => c.Type == "pci" && c.Index is null or >= 0 && (c.Index ?? 0) < nbuses))
        {
            set.Buses[c.Index ?? 0] = NewBus(c.Model ?? (q35 ? "pcie-root" : "pci-root"), c.TargetHotplug != "off");
            hasPcieRoot |= c.Model == "pcie-root";
        }
        if (nbuses > 0) set.Buses[0] ??= NewBus("pci-root", true);
        for (int i = 1; i < nbuses; i++) set.Buses[i] ??= NewBus(hasPcieRoot ? "pcie-root-port" : "pci-bridge", true);

        // What the definition already has is kept, but must fit.
        foreach (var x in Devices(d, q35).Where(x => x.Present))
        {
            var a = Parse(x.Address)!.Value;
            // The PIIX3's IDE and USB functions are there anyway; the chipset step reserves them.
            if (x.Owner is ControllerDef { Index: 0 or null } c && a is { Bus: 0, Slot: 1 }
                && (c.Type == "ide" && a.Function == 1 || c.Type == "usb" && c.Model is null or "piix3-uhci" && a.Function == 2))
                continue;
            Reserve(set, a, x.Flags == C.None ? C.PciDevice : x.Flags, fromConfig: true);
        }
        return set;
    }

    private static Bus NewBus(string model, bool hotplug)
    {
        var hp = hotplug ? C.Hotplug : C.None;
        return model switch
        {
            "pci-root" => new Bus { Model = model, Flags = C.Auto | C.PciDevice | C.PciBridge | C.PciExpander | hp, MinSlot = 1 },
            "pci-bridge" => new Bus { Model = model, Flags = C.Auto | C.PciDevice | C.PciBridge | hp, MinSlot = 1 },
            "pci-expander-bus" => new Bus { Model = model, Flags = C.Auto | C.PciDevice | C.PciBridge | hp, MinSlot = 0 },
            "pcie-root" => new Bus { Model = model, Flags = C.PcieDevice | C.RootPort | C.DmiToPci | C.PcieExpander, MinSlot = 1 },
            "dmi-to-pci-bridge" => new Bus { Model = model, Flags = C.PciDevice | C.PciBridge, MinSlot = 0 },
            "pcie-to-pci-bridge" => new Bus { Model = model, Flags = C.Auto | C.PciDevice | C.PciBridge | hp, MinSlot = 1 },
            "pcie-root-port" or "pcie-switch-downstream-port" => new Bus { Model = model, Flags = C.Auto | C.PcieDevice | C.SwitchUp | C.PcieToPci | hp, MinSlot = 0, MaxSlot = 0 },
            "pcie-switch-upstream-port" => new Bus { Model = model, Flags = C.SwitchDown, MinSlot = 0 },
            "pcie-expander-bus" => new Bus { Model = model, Flags = C.RootPort | C.DmiToPci, MinSlot = 0 },
            _ => throw new DefinitionException($"Unsupported PCI controller model '{model}'."),
        };
    }

    /// <summary>The chipset's fixed places (libvirt's qemuDomainValidateDevicePCISlotsPIIX3 / Q35).</summary>
    private static void Chipset(DomainDef d, Set set, bool q35)
    {
        var dev = d.Devices;
        if (!q35)
        {
            foreach (var c in dev.Controllers)
            {
                Addr fixedAt;
                if (c.Type == "ide" && (c.Index ?? 0) == 0) fixedAt = new(0, 1, 1);
                else if (c.Type == "usb" && (c.Index ?? 0) == 0 && c.Model is null or "piix3-uhci" && !DomainRules.IsUsbCompanion(c)) fixedAt = new(0, 1, 2);
                else continue;
                if (Parse(c.Address) is { } have && !IsEmptyAddr(have))
                {
                    if (have != fixedAt)
                        throw new DefinitionException(c.Type == "ide"
                            ? "The primary IDE controller must have PCI address 0000:00:01.1 (it is part of the PIIX3 chip)."
                            : "The PIIX3 USB controller at index 0 must have PCI address 0000:00:01.2 (it is part of the PIIX3 chip).");
                }
                else c.Address = Pci(fixedAt);
                Reserve(set, fixedAt, C.Auto | C.PciDevice, fromConfig: true);
            }
            Reserve(set, new(0, 1, 0), C.Auto | C.PciDevice, fromConfig: true); // ISA bridge
            Reserve(set, new(0, 1, 3), C.Auto | C.PciDevice, fromConfig: true); // ACPI / SMBus
            PrimaryVideo(d, set, 2);
            return;
        }

        foreach (var c in dev.Controllers)
        {
            if (c.Type == "sata" && (c.Index ?? 0) == 0)
            {
                var sata = new Addr(0, 0x1f, 2);
                if (Parse(c.Address) is { } have && !IsEmptyAddr(have))
                {
                    if (have != sata) throw new DefinitionException("The primary SATA controller must have PCI address 0000:00:1f.2 (q35 always has it there).");
                }
                else c.Address = Pci(sata);
            }
            else if (c.Type == "usb" && c.Model == "ich9-uhci1" && c.Address is null)
            {
                // The first USB2 set at 00:1d, the second at 00:1a, as on real ICH9 hardware.
                foreach (var slot in new[] { 0x1d, 0x1a })
                {
                    if (set.Buses[0].Functions[slot] != 0) continue;
                    var a = new Addr(0, slot, 0);
                    Reserve(set, a, C.PcieDevice, fromConfig: true);
                    c.Address = Pci(a, multi: true);
                    break;
                }
            }
            else if (c.Type == "pci" && c.Model == "dmi-to-pci-bridge" && c.Address is null && set.Buses[0].Functions[0x1e] == 0)
            {
                Reserve(set, new(0, 0x1e, 0), C.PcieDevice, fromConfig: true);
                c.Address = Pci(new(0, 0x1e, 0));
            }
        }
        Reserve(set, new(0, 0x1f, 0), C.PcieDevice, fromConfig: true); // LPC (ISA) bridge
        Reserve(set, new(0, 0x1f, 3), C.PcieDevice, fromConfig: true); // SMBus
        PrimaryVideo(d, set, 1);
        if (set.Buses[0].Functions[0x1b] == 0 && dev.Sounds.FirstOrDefault(s => s.Model == "ich9" && Wanted(s.Address)) is { } hda)
        {
            Reserve(set, new(0, 0x1b, 0), C.PcieDevice, fromConfig: true);
            hda.Address = Pci(new(0, 0x1b, 0));
        }
    }

    /// <summary>QEMU puts the first VGA in the first free slot after the chipset's: libvirt writes that down.</summary>
    private static void PrimaryVideo(DomainDef d, Set set, int slot)
    {
        if (d.Devices.Videos.FirstOrDefault() is not { Model: not ("none" or "ramfb") } v || !Wanted(v.Address)) return;
        if (set.Buses[0].Functions[slot] != 0)
        {
            if (ReserveNext(set, VideoFlags(v, IsQ35(d)), -1) is { } a && !set.DryRun) v.Address = Pci(a);
            return;
        }
        Reserve(set, new(0, slot, 0), IsQ35(d) ? C.PcieDevice : C.Auto | C.PciDevice, fromConfig: true);
        v.Address = Pci(new(0, slot, 0));
    }

    /// <summary>libvirt's qemuDomainAssignDevicePCISlots: one pass per device kind, in its order.</summary>
    private static void AssignSlots(DomainDef d, Set set)
    {
        var q35 = IsQ35(d);
        var all = Devices(d, q35);
        foreach (var pass in all.Where(x => x.Pass > 0).GroupBy(x => x.Pass).OrderBy(g => g.Key))
            foreach (var x in pass)
            {
                if (!x.Wanted || x.Flags == C.None) continue;
                if (x.Owner is ControllerDef c && IsUsb2(c))
                {
                    // All controllers of one USB2 set share a slot: EHCI at function 7, UHCI1..3 at 0..2.
                    var (fn, multi) = c.Model switch
                    {
                        "ich9-ehci1" => (7, false),
                        "ich9-uhci1" => (0, true),
                        "ich9-uhci2" => (1, false),
                        _ => (2, false),
                    };
                    var mate = d.Devices.Controllers.FirstOrDefault(o => IsUsb2(o) && o.Index == c.Index && o.Address is { Type: "pci" } oa && !IsEmpty(oa));
                    if (mate is not null)
                    {
                        var at = Parse(mate.Address)!.Value with { Function = fn };
                        Reserve(set, at, x.Flags, fromConfig: true);
                        c.Address = Pci(at, multi);
                    }
                    else if (ReserveNext(set, x.Flags, fn) is { } got && !set.DryRun)
                        c.Address = Pci(got, multi);
                    continue;
                }
                if (ReserveNext(set, x.Flags, -1) is { } a && !set.DryRun) x.Place(Pci(a));
            }
    }

    private static bool IsUsb2(ControllerDef c) => c.Type == "usb" && c.Model is "ich9-ehci1" or "ich9-uhci1" or "ich9-uhci2" or "ich9-uhci3";

    /// <summary>Every device that can have a PCI address, with its connect flags and assignment pass.</summary>
    private static List<Dev> Devices(DomainDef d, bool q35)
    {
        var pcie = q35 ? C.PcieDevice | C.Auto : C.PciDevice | C.Auto;
        var pci = C.PciDevice | C.Auto;
        var virtio = pcie; // QEMU 7.2 has the (non-)transitional virtio devices, so virtio is PCIe where PCIe exists
        C V(string? model) => model == "virtio-transitional" ? pci : virtio;
        var dev = d.Devices;
        var list = new List<Dev>();
        void Add(object owner, Func<AddressDef?> get, Action<AddressDef> set, C flags, int pass) => list.Add(new Dev(get, set, flags, pass, owner));

        foreach (var c in dev.Controllers)
        {
            var pass = c.Type switch
            {
                "pci" => c.Model is "pci-root" or "pcie-root" or null ? 0 : 1,
                "usb" when c.Model == "none" => 0,
                "fdc" or "ccid" => 0,
                "ide" when (c.Index ?? 0) == 0 => 0,
                _ => 5,
            };
            Add(c, () => c.Address, a => c.Address = a, ControllerFlags(c, q35), pass);
        }
        foreach (var f in dev.Filesystems) Add(f, () => f.Address, a => f.Address = a, virtio, 2);
        foreach (var n in dev.Interfaces)
            Add(n, () => n.Address, a => n.Address = a, n.Model switch
            {
                null or "virtio" or "virtio-non-transitional" or "virtio-net-pci" => virtio,
                "virtio-transitional" => pci,
                "e1000e" or "igb" => pcie,
                _ => pci,
            }, 3);
        foreach (var s in dev.Sounds)
            Add(s, () => s.Address, a => s.Address = a, s.Model is "es1370" or "ac97" or "ich6" or "ich9" ? pci : C.None, 4);
        foreach (var disk in dev.Disks.Where(x => x.TargetBus == "virtio"))
            Add(disk, () => disk.Address, a => disk.Address = a, virtio, 6);
        // A host PCI device is taken to be PCI Express, as libvirt does when it cannot read the device (most are).
        foreach (var h in dev.Hostdevs.Where(h => h.Type == "pci"))
            Add(h, () => h.Address, a => h.Address = a, pcie, 7);
        if (dev.Memballoon is { } mb && mb.Model != "none")
            Add(mb, () => mb.Address, a => mb.Address = a, V(mb.Model), 8);
        foreach (var r in dev.Rngs) Add(r, () => r.Address, a => r.Address = a, V(r.Model), 9);
        foreach (var w in dev.Watchdogs) Add(w, () => w.Address, a => w.Address = a, w.Model == "i6300esb" ? pci : C.None, 10);
        foreach (var v in dev.Videos) Add(v, () => v.Address, a => v.Address = a, VideoFlags(v, q35), 11);
        foreach (var i in dev.Inputs.Where(i => i.Bus == "virtio")) Add(i, () => i.Address, a => i.Address = a, V(i.Model), 13);
        foreach (var s in dev.Serials.Where(s => s.TargetType == "pci-serial")) Add(s, () => s.Address, a => s.Address = a, pci, 14);
        if (dev.Iommu is { Model: "virtio" } mmu) Add(mmu, () => mmu.Address, a => mmu.Address = a, virtio | C.Integrated, 15);
        if (dev.Vsock is { } vs) Add(vs, () => vs.Address, a => vs.Address = a, V(vs.Model), 16);
        foreach (var p in dev.Panics) Add(p, () => p.Address, a => p.Address = a, p.Model == "pvpanic" ? pci | C.Integrated : C.None, 18);
        return list;
    }

    private static C ControllerFlags(ControllerDef c, bool q35)
    {
        var pcie = q35 ? C.PcieDevice | C.Auto : C.PciDevice | C.Auto;
        var pci = C.PciDevice | C.Auto;
        return c.Type switch
        {
            "pci" => c.Model switch
            {
                "pci-bridge" => C.PciBridge,
                "pci-expander-bus" => C.PciExpander,
                "pcie-expander-bus" => C.PcieExpander,
                "dmi-to-pci-bridge" => C.DmiToPci,
                "pcie-to-pci-bridge" => C.PcieToPci,
                "pcie-root-port" => C.RootPort | C.Aggregate,
                "pcie-switch-upstream-port" => C.SwitchUp,
                "pcie-switch-downstream-port" => C.SwitchDown,
                _ => C.None,
            },
            "sata" or "ide" => pci,
            "usb" => c.Model switch
            {
                "nec-xhci" or "qemu-xhci" => pcie,
                "none" => C.None,
                _ => pci,
            },
            "scsi" => c.Model switch
            {
                null or "virtio-scsi" or "virtio-non-transitional" => pcie,
                _ => pci,
            },
            "virtio-serial" => c.Model == "virtio-transitional" ? pci : pcie,
            _ => C.None,
        };
    }

    private static C VideoFlags(VideoDef v, bool q35) => v.Model switch
    {
        "virtio" => q35 ? C.PcieDevice | C.Auto : C.PciDevice | C.Auto,
        "bochs" => q35 ? C.PcieDevice | C.Auto : C.PciDevice | C.Auto,
        "vga" or "cirrus" or "vmvga" or "qxl" => C.PciDevice | C.Auto,
        _ => C.None,
    };

    private static bool Compatible(Addr a, C busFlags, C devFlags, bool fromConfig)
    {
        if (devFlags.HasFlag(C.Integrated))
        {
            if (a.Bus != 0) return false;
            busFlags |= C.Auto; // an integrated device may sit on the root complex
        }
        if (fromConfig)
        {
            // An address the user gave may put a PCI device in a PCIe slot and the other way round.
            if ((busFlags & C.Endpoint) != 0) busFlags |= C.Endpoint;
            if (devFlags.HasFlag(C.PciBridge)) devFlags |= C.PciDevice;
        }
        else if (devFlags.HasFlag(C.Auto) && !busFlags.HasFlag(C.Auto)) return false;
        return (devFlags & busFlags & C.Types) != 0;
    }

    private static void Reserve(Set set, Addr a, C flags, bool fromConfig)
    {
        if (set.DryRun) a = Grow(set, a, flags);
        var text = $"0000:{a.Bus:x2}:{a.Slot:x2}.{a.Function:x}";
        if (a.Bus >= set.Buses.Count)
            throw new DefinitionException($"Invalid PCI address {text}: only PCI buses up to {set.Buses.Count - 1} exist; add a <controller type='pci'> with index='{a.Bus}' or remove the address.");
        var bus = set.Buses[a.Bus];
        if (!Compatible(a, bus.Flags, flags, fromConfig))
            throw new DefinitionException($"The device at PCI address {text} cannot be plugged into the PCI controller with index='{a.Bus}' (a {bus.Model}); remove the address and let Vireo choose one.");
        if (a.Slot < bus.MinSlot || a.Slot > bus.MaxSlot)
            throw new DefinitionException($"Invalid PCI address {text}: the slot must be between {bus.MinSlot} and {bus.MaxSlot} on a {bus.Model}.");
        if (a.Function > 7)
            throw new DefinitionException($"Invalid PCI address {text}: the function must be 0 to 7.");
        if ((bus.Functions[a.Slot] & (1 << a.Function)) != 0)
            throw new DefinitionException($"PCI address {text} is used by two devices; give one of them another address.");
        if (bus.Functions[a.Slot] == 0 && flags.HasFlag(C.Aggregate)) bus.Aggregate[a.Slot] = true;
        bus.Functions[a.Slot] |= (byte)(1 << a.Function);
    }

    /// <summary>The next free address for a device with these flags (and, in the dry pass, new buses when none is free).</summary>
    private static Addr? ReserveNext(Set set, C flags, int function)
    {
        var a = NextAddr(set, flags, function);
        Reserve(set, a, flags, fromConfig: false);
        return a;
    }

    private static Addr NextAddr(Set set, C flags, int function)
    {
        var fn = function == -1 ? 0 : function;
        for (int b = 0; b < set.Buses.Count; b++)
        {
            var bus = set.Buses[b];
            if (!Compatible(new Addr(b, bus.MinSlot, fn), bus.Flags, flags, fromConfig: false)) continue;
            for (int slot = bus.MinSlot; slot <= bus.MaxSlot; slot++)
            {
                if (bus.Functions[slot] == 0) return new Addr(b, slot, fn);
                if (flags.HasFlag(C.Aggregate) && bus.Aggregate[slot])
                {
                    if ((bus.Functions[slot] & (1 << fn)) == 0) return new Addr(b, slot, fn);
                    if (function == -1)
                        for (int f = 0; f < 8; f++)
                            if ((bus.Functions[slot] & (1 << f)) == 0) return new Addr(b, slot, f);
                }
            }
        }
        if (!set.DryRun)
            throw new DefinitionException("No PCI slot is free for another device; remove a device or add a <controller type='pci' model='pcie-root-port'/> (q35) or model='pci-bridge' (pc).");
        var grown = Grow(set, new Addr(set.Buses.Count, 0, fn), flags);
        return grown with { Slot = set.Buses[grown.Bus].MinSlot };
    }

    /// <summary>Adds the buses an address beyond the last one needs (libvirt's virDomainPCIAddressSetGrow).</summary>
    private static Addr Grow(Set set, Addr a, C flags)
    {
        var add = a.Bus - set.Buses.Count + 1;
        if (add <= 0) return a;
        string model;
        var needPcieToPci = false;
        if (flags.HasFlag(C.PciDevice))
        {
            model = "pci-bridge";
            // A pure PCIe guest has nowhere to plug a pci-bridge: a root port and a
            // pcie-to-pci-bridge come first, and the device goes on the bridge.
            needPcieToPci = !set.Buses.Any(b => b.Flags.HasFlag(C.PciBridge));
            if (needPcieToPci && add == 1) { add++; a = a with { Bus = a.Bus + 1 }; }
        }
        else if ((flags & (C.PcieDevice | C.SwitchUp)) != 0) model = "pcie-root-port";
        else throw new DefinitionException("No PCI slot is free for a PCI controller, and none can be added automatically; give the controller an address.");
        var i = set.Buses.Count;
        for (int k = 0; k < add; k++) set.Buses.Add(null!);
        if (needPcieToPci)
        {
            var port = NewBus("pcie-root-port", true);
            port.Flags = C.PcieToPci; // only the bridge goes here; the hotplug root port comes later
            set.Buses[i++] = port;
            set.Buses[i++] = NewBus("pcie-to-pci-bridge", true);
        }
        for (; i < set.Buses.Count; i++) set.Buses[i] = NewBus(model, true);
        return a;
    }

    /// <summary>multifunction='on' at function 0 of every slot with more than one function in use.</summary>
    private static void SetAllMulti(DomainDef d)
    {
        var devs = Devices(d, IsQ35(d)).Where(x => x.Address is { Type: "pci" }).ToList();
        foreach (var x in devs)
        {
            var a = Parse(x.Address)!.Value;
            if (a.Function == 0) continue;
            var first = devs.FirstOrDefault(o => Parse(o.Address) is { } oa && oa.Bus == a.Bus && oa.Slot == a.Slot && oa.Function == 0);
            if (first?.Address is { } fa && fa.Get("multifunction") is null)
                fa.Attributes.Add(new("multifunction", "on"));
        }
    }

    private static bool Wanted(AddressDef? a) => a is null || a.Type == "pci" && IsEmpty(a);

    private static bool IsEmpty(AddressDef a) => Parse(a) is not { } p || IsEmptyAddr(p);

    private static bool IsEmptyAddr(Addr a) => a is { Bus: 0, Slot: 0, Function: 0 };

    private static Addr? Parse(AddressDef? a) =>
        a is { Type: "pci" } ? new Addr(Num(a.Get("bus")), Num(a.Get("slot")), Num(a.Get("function"))) : null;

    private static AddressDef Pci(Addr a, bool multi = false)
    {
        var attrs = new List<KeyValuePair<string, string>>
        {
            new("domain", "0x0000"), new("bus", $"0x{a.Bus:x2}"), new("slot", $"0x{a.Slot:x2}"), new("function", $"0x{a.Function:x1}"),
        };
        if (multi) attrs.Add(new("multifunction", "on"));
        return new AddressDef { Type = "pci", Attributes = attrs };
    }

    /// <summary>An address part the reader has checked (a number in range); 0 when absent.</summary>
    private static int Num(string? s) => s is not null && DomainXml.AddressNumber(s, out var v) && v <= int.MaxValue ? (int)v : 0;
}
