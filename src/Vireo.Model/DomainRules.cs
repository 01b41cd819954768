using System.Text.RegularExpressions;

namespace Vireo.Model;

/// <summary>What libvirt fills in on define, and the checks every definition must pass.</summary>
public static partial class DomainRules
{
    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.+:-]*$")]
    internal static partial Regex NamePattern();

    /// <summary>Why a domain name is not allowed, or null (names become file names).</summary>
    public static string? NameProblem(string? name) =>
        string.IsNullOrEmpty(name) ? "The domain needs a <name>."
        : name.Length > 200 || !NamePattern().IsMatch(name) ? $"Domain name '{name}' is not allowed; use letters, digits and _ . + : - (at most 200), not starting with a dot or dash."
        : null;

    /// <summary>Completes a parsed definition the way libvirt does on define.</summary>
    /// <param name="running">The definition of a running guest: its PCI buses cannot grow.</param>
    public static void Fill(DomainDef d, bool running = false)
    {
        if (d.Uuid == Guid.Empty) d.Uuid = Guid.NewGuid();
        // With guest NUMA nodes the memory is theirs: libvirt makes <memory> their sum.
        if (d.Cpu is { NumaCells.Count: > 0 } numa) d.MemoryKiB = numa.NumaCells.Aggregate(0UL, (t, c) => t + c.MemoryKiB);
        if (d.CurrentMemoryKiB == 0 || d.CurrentMemoryKiB > d.MemoryKiB) d.CurrentMemoryKiB = d.MemoryKiB;
        var dev = d.Devices;
        // Without any boot order libvirt boots from the first disk, and says so.
        if (d.Os.BootDevices.Count == 0 && !dev.Disks.Any(x => x.BootOrder is not null) && !dev.Interfaces.Any(x => x.BootOrder is not null)
            && !dev.Hostdevs.Any(x => x.BootOrder is not null) && !dev.Redirdevs.Any(x => x.BootOrder is not null))
            d.Os.BootDevices.Add("hd");

        foreach (var disk in dev.Disks)
        {
            disk.TargetBus ??= disk.TargetDev switch
            {
                var t when t.StartsWith("vd") => "virtio",
                var t when t.StartsWith("sd") => "scsi",
                var t when t.StartsWith("hd") => "ide",
                _ => "virtio",
            };
            if (disk.Type != "volume") disk.Format ??= "raw"; // a volume's format comes from its pool
            if (disk.Device == "cdrom") disk.ReadOnly = true;
            disk.Alias ??= disk.TargetBus switch
            {
                "virtio" => $"virtio-disk{DiskIndex(disk.TargetDev)}",
                "sata" => $"sata0-0-{DiskIndex(disk.TargetDev)}",
                "scsi" => $"scsi0-0-0-{DiskIndex(disk.TargetDev)}",
                "usb" => $"usb-disk{DiskIndex(disk.TargetDev)}",
                "fdc" => $"fdc0-0-{DiskIndex(disk.TargetDev)}",
                _ => $"ide0-{DiskIndex(disk.TargetDev) / 2}-{DiskIndex(disk.TargetDev) % 2}",
            };
        }

        var nic = 0;
        foreach (var n in dev.Interfaces)
        {
            n.Mac ??= MacAddress.Generate();
            n.Model ??= "virtio";
            n.Alias ??= $"net{nic}";
            nic++;
        }

        // A <console> on a serial target is the serial port seen from the other side: libvirt
        // keeps the pair in step. Add the missing half.
        if (dev.Serials.Count == 0 && dev.Consoles.FirstOrDefault(c => c.TargetType is null or "serial") is { } con)
            dev.Serials.Add(new CharDef { Type = con.Type, SourcePath = con.SourcePath, SourceMode = con.SourceMode, LogFile = con.LogFile, LogAppend = con.LogAppend, TargetPort = 0 });
        if (dev.Serials.Count > 0 && dev.Consoles.Count == 0)
        {
            var s = dev.Serials[0];
            dev.Consoles.Add(new CharDef { Type = s.Type, SourcePath = s.SourcePath, SourceMode = s.SourceMode, TargetType = "serial", TargetPort = 0 });
        }
        for (int i = 0; i < dev.Serials.Count; i++)
        {
            var s = dev.Serials[i];
            s.TargetType ??= "isa-serial";
            s.TargetPort ??= i;
            s.TargetModel ??= "isa-serial";
            s.Alias ??= $"serial{s.TargetPort}";
        }
        foreach (var c in dev.Consoles)
        {
            c.TargetType ??= "serial";
            c.TargetPort ??= 0;
            c.Alias ??= c.TargetType == "serial" ? $"serial{c.TargetPort}" : $"console{c.TargetPort}";
        }
        for (int i = 0; i < dev.Channels.Count; i++)
        {
            var ch = dev.Channels[i];
            // A unix channel without a path gets one at start; libvirt keeps no <source> for it.
            if (ch.Type == "unix" && ch.SourcePath is null) ch.SourceMode = null;
            ch.Alias ??= $"channel{i}";
        }
        for (int i = 0; i < dev.Inputs.Count; i++) dev.Inputs[i].Alias ??= $"input{i}";
        for (int i = 0; i < dev.Videos.Count; i++) dev.Videos[i].Alias ??= $"video{i}";
        for (int i = 0; i < dev.Rngs.Count; i++)
        {
            var r = dev.Rngs[i];
            if (r.BackendModel == "random") r.BackendSource ??= "/dev/urandom";
            r.Alias ??= $"rng{i}";
        }
        for (int i = 0; i < dev.Filesystems.Count; i++)
        {
            dev.Filesystems[i].Alias ??= $"fs{i}";
        }
        // virtiofsd maps guest RAM: a virtiofs share brings shared memory backing with it (as virt-install sets up).
        if (dev.Filesystems.Any(f => f.DriverType == "virtiofs") && d.MemoryBacking is null)
            d.MemoryBacking = new MemoryBackingDef { SourceType = "memfd", AccessMode = "shared" };
        if (dev.Memballoon is { } mb && mb.Model != "none") mb.Alias ??= "balloon0";
        FillDesktop(d);
        FillCpu(d);
        var q35 = d.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true;
        foreach (var disk in dev.Disks) disk.Address ??= DriveAddress(disk, q35);

        // What libvirt adds to every x86 guest: a USB controller, the root PCI bus, q35's built-in
        // SATA controller and a memory balloon. An explicit <controller type='usb'/> without a model
        // is a PIIX3 UHCI, as in libvirt.
        foreach (var c in dev.Controllers.Where(c => c.Type == "usb")) c.Model ??= "piix3-uhci";
        if (!dev.Controllers.Any(c => c.Type == "usb" && (c.Index ?? 0) == 0))
            dev.Controllers.Add(new ControllerDef { Type = "usb", Index = 0, Model = q35 ? "qemu-xhci" : "piix3-uhci" });
        if (!dev.Controllers.Any(c => c.Type == "pci" && (c.Index ?? 0) == 0))
            dev.Controllers.Add(new ControllerDef { Type = "pci", Index = 0, Model = q35 ? "pcie-root" : "pci-root" });
        foreach (var c in dev.Controllers.Where(c => c.Type == "pci" && (c.Index ?? 0) == 0)) c.Model ??= q35 ? "pcie-root" : "pci-root";
        if (q35 && !dev.Controllers.Any(c => c.Type == "sata" && (c.Index ?? 0) == 0))
            dev.Controllers.Add(new ControllerDef { Type = "sata", Index = 0 });
        dev.Memballoon ??= new MemballoonDef { Model = "virtio", Alias = "balloon0" };

        // Controllers the devices need, made explicit as libvirt does (so they get addresses too):
        // one per controller index the disks' drive addresses name, then virtio-serial for virtio
        // channels and consoles. Vireo's SCSI controller is virtio-scsi (libvirt's would be an LSI).
        void Need(string type, int index, string? model)
        {
            if (!dev.Controllers.Any(c => c.Type == type && (c.Index ?? 0) == index)) dev.Controllers.Add(new ControllerDef { Type = type, Index = index, Model = model });
        }
        foreach (var (bus, type, model) in new[] { ("scsi", "scsi", "virtio-scsi"), ("fdc", "fdc", null), ("ide", "ide", null), ("sata", "sata", null) })
        {
            if (bus == "ide" && q35) continue; // q35 has no IDE: Vireo puts hdX disks on its AHCI ports
            var max = dev.Disks.Where(x => x.TargetBus == bus && x.Address is { Type: "drive" }).Select(x => int.TryParse(x.Address!.Get("controller"), out var ci) ? ci : 0).DefaultIfEmpty(-1).Max();
            for (int i = 0; i <= max; i++) Need(type, i, model);
        }
        if (dev.Channels.Any(c => c.TargetType is null or "virtio") || dev.Consoles.Any(c => c.TargetType == "virtio")) Need("virtio-serial", 0, null);

        // Controllers without an index get the next free one of their type, as libvirt does; a
        // USB1 companion (ich9-uhciN, <master startport>) instead shares the EHCI before it.
        foreach (var group in dev.Controllers.Where(c => !IsUsbCompanion(c)).GroupBy(c => c.Type))
        {
            var used = group.Where(c => c.Index is not null).Select(c => c.Index!.Value).ToHashSet();
            var next = 0;
            foreach (var c in group.Where(c => c.Index is null))
            {
                while (used.Contains(next)) next++;
                c.Index = next;
                used.Add(next);
            }
        }
        int? ehci = null;
        foreach (var c in dev.Controllers.Where(c => c.Type == "usb"))
            if (!IsUsbCompanion(c)) ehci = c.Index;
            else c.Index ??= ehci ?? 0;
        PciAddresses.Assign(d, addBuses: !running);
        DeviceAddresses.Assign(d);
        foreach (var c in dev.Controllers)
            c.Alias ??= c.Type switch
            {
                "pci" => $"pci.{c.Index}",
                "usb" => c.Index == 0 ? "usb" : $"usb{c.Index}",
                "ide" => "ide",
                "ccid" => $"ccid{c.Index}",
                _ => $"{c.Type}{c.Index}",
            };
    }

    /// <summary>What libvirt fills in for displays, sound, USB redirection, TPMs and the other devices: aliases and defaults.</summary>
    private static void FillDesktop(DomainDef d)
    {
        var dev = d.Devices;
        // libvirt 9 gives every x86 guest a PS/2 mouse and keyboard (the i8042 is always there) and an audio back-end.
        if (!dev.Inputs.Any(i => i.Type == "mouse" && i.Bus == "ps2")) dev.Inputs.Add(new InputDef { Type = "mouse", Bus = "ps2" });
        if (!dev.Inputs.Any(i => i.Type == "keyboard" && i.Bus == "ps2")) dev.Inputs.Add(new InputDef { Type = "keyboard", Bus = "ps2" });
        for (int i = 0; i < dev.Inputs.Count; i++) dev.Inputs[i].Alias ??= $"input{i}";
        if (dev.Audios.Count == 0)
            dev.Audios.Add(new AudioDef { Id = 1, Type = dev.Graphics.Any(g => g.Type == "spice") ? "spice" : "none" });
        foreach (var g in dev.Graphics)
        {
            if (g.ListenType is null && g.Listen is null && g.ListenSocket is null && g.ListenNetwork is null) g.ListenType = "address";
        }
        foreach (var v in dev.Videos)
        {
            switch (v.Model)
            {
                case "qxl": v.Ram ??= 65536; v.Vram ??= 65536; v.Vgamem ??= 16384; v.Heads ??= 1; break;
                case "vga" or "cirrus" or "bochs" or "vmvga": v.Vram ??= 16384; v.Heads ??= 1; break;
                case "virtio" or "ramfb": v.Heads ??= 1; break;
            }
        }
        if (dev.Videos.FirstOrDefault(v => v.Model != "none") is { } primary) primary.Primary ??= true;
        for (int i = 0; i < dev.Sounds.Count; i++) dev.Sounds[i].Alias ??= $"sound{i}";
        for (int i = 0; i < dev.Redirdevs.Count; i++) dev.Redirdevs[i].Alias ??= $"redir{i}";
        for (int i = 0; i < dev.Hubs.Count; i++) dev.Hubs[i].Alias ??= $"hub{i}";
        for (int i = 0; i < dev.Tpms.Count; i++)
        {
            var t = dev.Tpms[i];
            // libvirt 9.0's default: TPM 2.0 on a CRB, 1.2 on a TIS.
            if (t.BackendType == "emulator") t.Version ??= t.Model == "tpm-tis" ? "1.2" : "2.0";
            t.Alias ??= $"tpm{i}";
        }
        for (int i = 0; i < dev.Watchdogs.Count; i++) dev.Watchdogs[i].Alias ??= $"watchdog{i}";
        for (int i = 0; i < dev.Hostdevs.Count; i++) dev.Hostdevs[i].Alias ??= $"hostdev{i}";
        for (int i = 0; i < dev.Parallels.Count; i++)
        {
            dev.Parallels[i].TargetPort ??= i;
            dev.Parallels[i].Alias ??= $"parallel{i}";
        }
        for (int i = 0; i < dev.Smartcards.Count; i++) dev.Smartcards[i].Alias ??= $"smartcard{i}";
        if (dev.Smartcards.Count > 0 && !dev.Controllers.Any(c => c.Type == "ccid")) dev.Controllers.Add(new ControllerDef { Type = "ccid", Index = 0 });
        if (dev.Vsock is { } vs) { vs.Model ??= "virtio"; vs.Alias ??= "vsock0"; }
        if (dev.Iommu is { } mmu) mmu.Alias ??= "iommu0";
        if (d.Features.Hyperv is { Mode: null } hv) hv.Mode = "custom";
        foreach (var p in dev.Panics) p.Model ??= "isa";
    }

    /// <summary>libvirt's CPU defaults: QEMU's default model spelled out when none is given, and the check level per mode.</summary>
    private static void FillCpu(DomainDef d)
    {
        var cpu = d.Cpu;
        if (cpu is null || cpu.Mode == "custom" && cpu.Model is null)
        {
            // QEMU's own default for the pc and q35 machines, made explicit as libvirt does.
            cpu ??= d.Cpu = new CpuDef();
            cpu.Mode = "custom";
            cpu.Model = "qemu64";
            cpu.Match ??= "exact";
            cpu.ModelFallback ??= "forbid";
            cpu.Check ??= "none";
        }
        switch (cpu.Mode)
        {
            case "host-passthrough" or "maximum":
                cpu.Check ??= "none";
                cpu.Migratable ??= "on";
                break;
            case "host-model":
                cpu.Check ??= "partial";
                break;
            case "custom":
                cpu.Match ??= "exact";
                cpu.ModelFallback ??= "allow";
                cpu.Check ??= d.Type == "qemu" ? "none" : "partial";
                break;
        }
        for (int i = 0; i < cpu.NumaCells.Count; i++) cpu.NumaCells[i].Id ??= i;
    }

    /// <summary>Where libvirt puts a disk on its controller, from the disk's name (sdc → unit 2).</summary>
    private static AddressDef? DriveAddress(DiskDef disk, bool q35)
    {
        var idx = DiskIndex(disk.TargetDev);
        (int Controller, int Bus, int Unit)? at = disk.TargetBus switch
        {
            // A wide SCSI bus: 15 units per controller, unit 7 being the controller itself.
            "scsi" => (idx / 15, 0, idx % 15 >= 7 ? idx % 15 + 1 : idx % 15),
            "ide" => (idx / 4, idx % 4 / 2, idx % 2),
            "sata" => (idx / 6, 0, idx % 6),
            "fdc" => (0, 0, idx % 2),
            _ => null,
        };
        if (at is not { } a) return null;
        return new AddressDef
        {
            Type = "drive",
            Attributes =
            [
                new("controller", a.Controller.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("bus", a.Bus.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("target", "0"),
                new("unit", a.Unit.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ],
        };
    }

    /// <summary>A USB1 companion of an EHCI controller: it shares the EHCI's index and takes ports from startport on.</summary>
    public static bool IsUsbCompanion(ControllerDef c) =>
        c.Type == "usb" && (c.MasterStartPort is not null || c.Model is "ich9-uhci1" or "ich9-uhci2" or "ich9-uhci3");

    /// <summary>vda → 0, vdb → 1, sdaa → 26 (libvirt's disk name index).</summary>
    public static int DiskIndex(string dev)
    {
        var letters = dev.Length > 2 ? dev[2..] : "";
        int idx = 0;
        foreach (var ch in letters)
        {
            if (ch is < 'a' or > 'z') return 0;
            idx = idx * 26 + (ch - 'a' + 1);
        }
        return Math.Max(idx - 1, 0);
    }

    /// <summary>Checks a (filled) definition; returns every problem found.</summary>
    public static IReadOnlyList<Problem> Validate(DomainDef d)
    {
        var p = new List<Problem>();
        if (NameProblem(d.Name) is { } np) p.Add(new(np));
        if (d.MemoryKiB == 0) p.Add(new("The domain needs <memory> greater than zero, e.g. <memory unit='MiB'>512</memory>."));
        if (d.MemoryKiB > 0 && d.MemoryKiB < 1024) p.Add(new($"Memory {d.MemoryKiB} KiB is too small; give at least 1 MiB."));
        if (d.Vcpus < 1 || d.Vcpus > 255) p.Add(new($"vcpu count {d.Vcpus} is out of range; use 1 to 255."));
        if (d.VcpusCurrent is { } cur && (cur < 1 || cur > d.Vcpus))
            p.Add(new($"vcpu current='{cur}' must be between 1 and the maximum ({d.Vcpus})."));
        if (d.Cpu is { } cpu)
        {
            var topo = (cpu.Sockets ?? 1) * (cpu.Dies ?? 1) * (cpu.Cores ?? 1) * (cpu.Threads ?? 1);
            if ((cpu.Sockets ?? cpu.Cores ?? cpu.Threads) is not null && topo != d.Vcpus)
                p.Add(new($"CPU topology gives {topo} CPUs (sockets*dies*cores*threads) but <vcpu> is {d.Vcpus}; make them equal."));
            if (cpu.Mode == "custom" && string.IsNullOrEmpty(cpu.Model) && cpu.Features.Count == 0 && topo == 1 && cpu.Sockets is null)
                p.Add(new("<cpu mode='custom'> needs a <model>, e.g. <model>qemu64</model>."));
        }
        if (d.Cputune is { } tune)
        {
            foreach (var (v, _) in tune.Vcpupins.Where(x => x.Vcpu < 0 || x.Vcpu >= d.Vcpus))
                p.Add(new($"<vcpupin vcpu='{v}'> names a vCPU the guest does not have (its vCPUs are 0 to {d.Vcpus - 1})."));
            var ioIds = d.Iothreads is { } io ? (io.Ids.Count > 0 ? io.Ids : Enumerable.Range(1, io.Count).ToList()) : [];
            foreach (var (t, _) in tune.Iothreadpins.Where(x => !ioIds.Contains(x.Iothread)))
                p.Add(new($"<iothreadpin iothread='{t}'> names an I/O thread the guest does not have; add it to <iothreads> or remove the pin."));
        }
        if (d.Os.Initrd is not null && d.Os.Kernel is null) p.Add(new("<initrd> needs a <kernel> too."));
        if (d.Os.Cmdline is not null && d.Os.Kernel is null) p.Add(new("<cmdline> needs a <kernel> too."));

        var dev = d.Devices;
        bool perDeviceBoot = dev.Disks.Any(x => x.BootOrder is not null) || dev.Interfaces.Any(x => x.BootOrder is not null);
        if (perDeviceBoot && d.Os.BootDevices.Count > 0)
            p.Add(new("Per-device boot order (<boot order='N'/>) and <os><boot dev=.../></os> cannot be mixed; keep one."));
        foreach (var dup in dev.Disks.Select(x => x.BootOrder).Concat(dev.Interfaces.Select(x => x.BootOrder))
                     .Where(x => x is not null).GroupBy(x => x).Where(g => g.Count() > 1))
            p.Add(new($"Boot order {dup.Key} is used by more than one device; give each device its own."));

        foreach (var dup in dev.Disks.GroupBy(x => x.TargetDev).Where(g => g.Count() > 1))
            p.Add(new($"Disk target '{dup.Key}' is used twice; give each disk its own <target dev>."));
        foreach (var disk in dev.Disks)
        {
            if (disk.Type == "volume")
            {
                if (string.IsNullOrEmpty(disk.SourcePool) || string.IsNullOrEmpty(disk.SourceVolume))
                    p.Add(new($"Disk '{disk.TargetDev}' of type 'volume' needs <source pool='POOL' volume='VOLUME'/>."));
                else if (StorageRules.VolumeNameProblem(disk.SourceVolume) is { } vp)
                    p.Add(new($"Disk '{disk.TargetDev}': {vp}"));
            }
            else if (disk.Type == "network")
            {
                if (disk.SourceProtocol is null || string.IsNullOrEmpty(disk.SourceHost))
                    p.Add(new($"Disk '{disk.TargetDev}' of type 'network' needs <source protocol='http|https|nbd' name='…'><host name='HOST' port='PORT'/></source>."));
                else if (disk.SourceProtocol is "http" or "https" && !disk.ReadOnly)
                    p.Add(new($"Disk '{disk.TargetDev}' reads over {disk.SourceProtocol}, which QEMU serves read-only; add <readonly/> (a CD-ROM is read-only anyway), or use the image as the backing image of a local qcow2."));
                if (disk.SourceProtocol is "http" or "https" && string.IsNullOrEmpty(disk.SourceName))
                    p.Add(new($"Disk '{disk.TargetDev}' needs the path of the file on the {disk.SourceProtocol} server in <source name='/path/image.iso'>."));
            }
            else if (disk.Device == "disk" && string.IsNullOrEmpty(disk.Source))
                p.Add(new($"Disk '{disk.TargetDev}' has no <source>; only a cdrom may be empty."));
            if (disk.Source is { } src && !src.StartsWith('/'))
                p.Add(new($"Disk '{disk.TargetDev}' source '{src}' must be an absolute path."));
            if (disk.TargetBus == "virtio" && !disk.TargetDev.StartsWith("vd"))
                p.Add(new($"Disk target '{disk.TargetDev}' on bus 'virtio' should be named vdX."));
            if (disk.Device == "cdrom" && disk.TargetBus == "virtio")
                p.Add(new($"A cdrom cannot sit on the virtio bus ('{disk.TargetDev}'); use bus='sata', 'scsi' or 'ide'."));
        }
        foreach (var dup in dev.Interfaces.Where(n => n.Mac is not null).GroupBy(n => n.Mac).Where(g => g.Count() > 1))
            p.Add(new($"MAC address '{dup.Key}' is used by more than one interface."));
        foreach (var n in dev.Interfaces)
        {
            switch (n.Type)
            {
                case "network" when string.IsNullOrEmpty(n.SourceNetwork):
                    p.Add(new("An <interface type='network'> needs <source network='NAME'/>.")); break;
                case "bridge" when string.IsNullOrEmpty(n.SourceBridge):
                    p.Add(new("An <interface type='bridge'> needs <source bridge='NAME'/>.")); break;
                case "direct" when string.IsNullOrEmpty(n.SourceDev):
                    p.Add(new("An <interface type='direct'> needs <source dev='NIC' mode='bridge'/>.")); break;
            }
            if (n.Model is not null && n.Model is not ("virtio" or "e1000" or "e1000e" or "rtl8139" or "virtio-net-pci"))
                p.Add(new($"Unsupported interface model '{n.Model}'; use virtio, e1000, e1000e or rtl8139."));
        }
        foreach (var dup in dev.Serials.GroupBy(s => s.TargetPort).Where(g => g.Count() > 1))
            p.Add(new($"Serial port {dup.Key} is defined twice."));
        foreach (var dup in dev.Filesystems.GroupBy(f => f.Target).Where(g => g.Count() > 1))
            p.Add(new($"Filesystem target '{dup.Key}' is used twice; each mount tag must be unique."));
        foreach (var f in dev.Filesystems.Where(f => f.DriverType == "virtiofs"))
        {
            if (f.AccessMode != "passthrough") p.Add(new($"virtiofs share '{f.Target}' needs accessmode='passthrough' (virtiofsd maps no ownership); use 9p for mapped or squash."));
            if (f.ReadOnly) p.Add(new($"virtiofs share '{f.Target}' cannot be read-only with this virtiofsd; use a 9p share for a read-only directory."));
            if (d.MemoryBacking?.AccessMode != "shared") p.Add(new($"virtiofs share '{f.Target}' needs <memoryBacking><access mode='shared'/></memoryBacking>: virtiofsd maps the guest's memory."));
        }
        foreach (var f in dev.Filesystems.Where(f => f.Source.Length > 0 && !f.Source.StartsWith('/')))
            p.Add(new($"Filesystem source '{f.Source}' must be an absolute path."));
        if (dev.Graphics.Count > 1) p.Add(new("Only one <graphics> device is supported."));
        foreach (var dup in dev.Controllers.Where(c => !IsUsbCompanion(c)).GroupBy(c => (c.Type, c.Index)).Where(g => g.Count() > 1))
            p.Add(new($"Controller type '{dup.Key.Type}' index {dup.Key.Index} is defined twice."));
        return p;
    }

    /// <summary>Parse, fill and validate: what define does with user XML.</summary>
    public static DomainDef ParseForDefine(string xml) => ParseForDefine(xml, out _);

    /// <summary>As above; also says whether the XML gave a uuid (before Fill makes one).</summary>
    public static DomainDef ParseForDefine(string xml, out bool uuidGiven)
    {
        var d = DomainXml.Parse(xml);
        uuidGiven = d.Uuid != Guid.Empty;
        Fill(d);
        var problems = Validate(d);
        if (problems.Count > 0) throw new DefinitionException(problems);
        return d;
    }
}
