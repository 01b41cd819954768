namespace Vireo.Model;

/// <summary>
/// Gives every PCI device without an address a fixed slot on define, as libvirt does, so the
/// guest sees the same topology on every boot (NIC names such as enp0s3 come from the slot)
/// and adding a device later does not move the others.
/// </summary>
/// <remarks>
/// Devices go on the root bus (pci.0 on pc, pcie.0 on q35; on q35 they are integrated
/// endpoints, which virtio devices support). Reserved: slot 0 (host bridge); on pc, slot 1
/// (PIIX3: ISA, IDE, the UHCI controller at function 2, ACPI) and slot 2 for the primary video;
/// on q35, slot 1 for the primary video and 0x1f (LPC, SATA, SMBus).
/// </remarks>
public static class PciAddresses
{
    public static void Assign(DomainDef d)
    {
        var q35 = d.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true;
        var used = new HashSet<int> { 0 };
        if (q35) { used.Add(0x1f); } else { used.Add(1); }
        var dev = d.Devices;

        // Addresses the definition already has (root bus only) are taken as they are.
        foreach (var a in AllAddresses(d).Where(a => a is { Type: "pci" }))
            if (Num(a!.Get("bus")) == 0) used.Add(Num(a.Get("slot")));

        int videoSlot = q35 ? 1 : 2;
        var primary = dev.Videos.FirstOrDefault(v => v.Model != "none");
        if (primary is not null && primary.Address is null && !used.Contains(videoSlot))
        {
            primary.Address = Pci(videoSlot);
            used.Add(videoSlot);
        }

        AddressDef Next()
        {
            var slot = 1;
            while (used.Contains(slot)) slot++;
            if (slot > 0x1f)
                throw new DefinitionException("The root PCI bus is full (32 slots); remove devices or give them addresses behind a bridge.");
            used.Add(slot);
            return Pci(slot);
        }

        foreach (var c in dev.Controllers.Where(c => c.Address is null))
        {
            switch (c.Type)
            {
                case "pci" when c.Model is "pci-root" or "pcie-root" or null:
                case "ide":
                case "sata" when q35 && (c.Index ?? 0) == 0:
                case "usb" when c.Model == "none":
                    continue;
                case "usb" when !q35 && (c.Model ?? "piix3-uhci") == "piix3-uhci" && (c.Index ?? 0) == 0:
                    c.Address = Pci(1, function: 2); // on the PIIX3 chip, as libvirt places it
                    continue;
                default:
                    c.Address = Next();
                    continue;
            }
        }
        foreach (var v in dev.Videos.Where(v => v.Address is null && v.Model != "none")) v.Address = Next();
        foreach (var disk in dev.Disks.Where(x => x.TargetBus == "virtio" && x.Address is null)) disk.Address = Next();
        foreach (var n in dev.Interfaces.Where(x => x.Address is null)) n.Address = Next();
        foreach (var f in dev.Filesystems.Where(x => x.Address is null)) f.Address = Next();
        foreach (var i in dev.Inputs.Where(x => x.Bus == "virtio" && x.Address is null)) i.Address = Next();
        if (dev.Memballoon is { Address: null } mb && mb.Model != "none") mb.Address = Next();
        foreach (var r in dev.Rngs.Where(x => x.Address is null)) r.Address = Next();
        foreach (var p in dev.Panics.Where(x => x.Model == "pvpanic" && x.Address is null)) p.Address = Next();
    }

    /// <summary>True when no device of the definition sits in this slot of the root bus.</summary>
    public static bool SlotFree(DomainDef d, string slot) =>
        !AllAddresses(d).Any(a => a is { Type: "pci" } && Num(a.Get("bus")) == 0 && Num(a.Get("slot")) == Num(slot));

    private static IEnumerable<AddressDef?> AllAddresses(DomainDef d)
    {
        var dev = d.Devices;
        return dev.Controllers.Select(x => x.Address)
            .Concat(dev.Videos.Select(x => x.Address))
            .Concat(dev.Disks.Select(x => x.Address))
            .Concat(dev.Interfaces.Select(x => x.Address))
            .Concat(dev.Filesystems.Select(x => x.Address))
            .Concat(dev.Inputs.Select(x => x.Address))
            .Concat(dev.Rngs.Select(x => x.Address))
            .Concat(dev.Panics.Select(x => x.Address))
            .Append(dev.Memballoon?.Address);
    }

    private static AddressDef Pci(int slot, int function = 0) => new()
    {
        Type = "pci",
        Attributes =
        [
            new("domain", "0x0000"), new("bus", "0x00"), new("slot", $"0x{slot:x2}"), new("function", $"0x{function:x1}"),
        ],
    };

    private static int Num(string? s) =>
        s is null ? 0 : s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? Convert.ToInt32(s[2..], 16)
            : int.TryParse(s, out var v) ? v : 0;
}
