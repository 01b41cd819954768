using System.Globalization;

namespace Vireo.Model;

/// <summary>
/// virt-install's options as given on the command line (or by the web wizard): each a string in
/// virt-install's own syntax ("path=/x.qcow2,size=10,bus=virtio"), parsed and turned into a
/// domain definition by <see cref="InstallBuilder"/>. Pure: no files are looked at here.
/// </summary>
public sealed class InstallOptions
{
    public string? Name { get; set; }
    public string? Memory { get; set; }
    public string? Vcpus { get; set; }
    public string? Cpu { get; set; }
    public string? Machine { get; set; }
    public string? VirtType { get; set; }
    public string? OsVariant { get; set; }
    public List<string> Disks { get; set; } = [];
    public string? Cdrom { get; set; }
    public string? Location { get; set; }
    /// <summary>Set by the caller after looking: --location names a directory (an install tree), not an ISO.</summary>
    public bool LocationIsDirectory { get; set; }
    public string? ExtraArgs { get; set; }
    public string? CloudInit { get; set; }
    public bool Transient { get; set; }
    public string? Clock { get; set; }
    public List<string> Channels { get; set; } = [];
    public bool NoGuestAgent { get; set; }
    public string? Boot { get; set; }
    public bool Import { get; set; }
    public List<string> Networks { get; set; } = [];
    public string? Graphics { get; set; }
    public List<string> Consoles { get; set; } = [];
    public List<string> Serials { get; set; } = [];
    public string? Rng { get; set; }
    public List<string> Filesystems { get; set; } = [];
    public List<string> Controllers { get; set; } = [];
}

/// <summary>A disk to make before the domain is defined: a new volume of a pool, or a new file.</summary>
/// <param name="BackingStore">A base image (a cloud image): the new disk is a qcow2 linked clone on it, grown to SizeBytes (0: the base's size).</param>
public sealed record NewDisk(string Target, string? Pool, string? Path, string Name, ulong SizeBytes, string Format, string? BackingStore = null, string? BackingFormat = null);

/// <summary>What an OS family wants by default (a small osinfo).</summary>
public sealed record OsVariant(string Name, string Family, string Machine, string DiskBus, string NetModel, ulong MinMemoryMiB)
{
    /// <summary>Boots with UEFI by default (every family here but 'generic').</summary>
    public bool Uefi => Family != "generic";
}

public static class OsVariants
{
    public static readonly IReadOnlyList<OsVariant> All =
    [
        new("generic", "generic", "pc", "sata", "e1000", 128),
        new("linux2022", "linux", "q35", "virtio", "virtio", 512),
        new("linux2020", "linux", "q35", "virtio", "virtio", 512),
        new("debian11", "linux", "q35", "virtio", "virtio", 512),
        new("debian12", "linux", "q35", "virtio", "virtio", 512),
        new("ubuntu20.04", "linux", "q35", "virtio", "virtio", 1024),
        new("ubuntu22.04", "linux", "q35", "virtio", "virtio", 1024),
        new("ubuntu24.04", "linux", "q35", "virtio", "virtio", 1024),
        new("fedora39", "linux", "q35", "virtio", "virtio", 1024),
        new("fedora40", "linux", "q35", "virtio", "virtio", 1024),
        new("centos-stream9", "linux", "q35", "virtio", "virtio", 1024),
        new("rhel9.0", "linux", "q35", "virtio", "virtio", 1024),
        new("alpinelinux3.19", "linux", "q35", "virtio", "virtio", 256),
        new("freebsd14.0", "bsd", "q35", "virtio", "virtio", 512),
        new("win10", "windows", "q35", "sata", "e1000e", 2048),
        new("win11", "windows", "q35", "sata", "e1000e", 4096),
        new("win2k22", "windows", "q35", "sata", "e1000e", 2048),
    ];

    /// <summary>The variant, or an error that lists the nearest known names.</summary>
    public static OsVariant Find(string name)
    {
        if (All.FirstOrDefault(v => v.Name == name) is { } v) return v;
        var close = All.Select(x => (x.Name, D: Distance(x.Name, name))).Where(x => x.D <= 3).OrderBy(x => x.D).Take(3).Select(x => x.Name).ToList();
        if (close.Count == 0) close = All.Select(x => x.Name).Take(5).ToList();
        throw new DefinitionException([new Problem($"Unknown --os-variant '{name}'; close names: {string.Join(", ", close)} (or 'generic').")]);
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}

/// <summary>virt-install's "a=b,c=d" option strings; a first bare value is the option's main one.</summary>
public sealed class OptionString
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = [];
    public string Option { get; }
    public string? Main { get; }

    public OptionString(string option, string text, string? mainKey = null)
    {
        Option = option;
        var parts = text.Split(',');
        for (var i = 0; i < parts.Length; i++)
        {
            var p = parts[i];
            var eq = p.IndexOf('=');
            if (eq < 0)
            {
                if (i == 0) { Main = p; if (mainKey is not null) _values[mainKey] = p; continue; }
                _values[p] = "on"; // a bare flag: readonly, shareable
                continue;
            }
            // kernel_args may hold commas and '=': the rest of the string is its value.
            var key = p[..eq];
            if (key is "kernel_args" or "extra_args")
            {
                _values[key] = string.Join(',', parts[i..])[(eq + 1)..];
                break;
            }
            _values[key] = p[(eq + 1)..];
        }
    }

    public string? Get(string key)
    {
        _used.Add(key);
        return _values.GetValueOrDefault(key);
    }

    public bool Flag(string key) => Get(key) is "on" or "yes" or "true" or "1";

    /// <summary>Keys nobody asked for: an error names them (virt-install says "unknown option").</summary>
    public IEnumerable<string> Unused => _values.Keys.Where(k => !_used.Contains(k));

    /// <summary>Keys given with nothing after the '=' ("network="): refused by name rather than taken as an empty name or path.</summary>
    public IEnumerable<string> Empty => _values.Where(kv => kv.Value.Length == 0 && kv.Key is not ("kernel_args" or "extra_args")).Select(kv => kv.Key);
}

/// <param name="Location">--location's source (ISO or directory) and the kernel/initrd paths inside it, if given; the daemon finds and extracts them.</param>
/// <param name="CloudInit">The seed to build, if --cloud-init was given.</param>
public sealed record InstallPlan(DomainDef Domain, IReadOnlyList<NewDisk> NewDisks, OsVariant Os, IReadOnlyList<string> Warnings,
    LocationPlan? Location = null, CloudInitPlan? CloudInit = null);

/// <summary>--location SOURCE[,kernel=PATH,initrd=PATH]: the installer's kernel and initrd, inside an ISO or a directory.</summary>
public sealed record LocationPlan(string Source, bool IsDirectory, string? Kernel, string? Initrd)
{
    /// <summary>Whether a --location source is an http(s) URL of an install tree rather than a path.</summary>
    public static bool IsRemote(string source) =>
        source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Turns virt-install options into a domain definition (and the disks to create), the same
/// code for `vireo install` and the web console's create wizard. Errors name the option.
/// </summary>
public static class InstallBuilder
{
    public static InstallPlan Build(InstallOptions o, bool kvmUsable)
    {
        var problems = new List<Problem>();
        var warnings = new List<string>();
        void Bad(string m) => problems.Add(new Problem(m));
        var d = new DomainDef();
        if (string.IsNullOrEmpty(o.Name)) Bad("--name is required: the domain's name.");
        else d.Name = o.Name;

        OsVariant os;
        if (o.OsVariant is null) { os = OsVariants.Find("generic"); warnings.Add("No --os-variant given; using 'generic' device defaults (sata disks, e1000 NICs)."); }
        else
        {
            try { os = OsVariants.Find(o.OsVariant); }
            catch (DefinitionException e) { problems.AddRange(e.Problems); os = OsVariants.Find("generic"); }
        }

        d.Type = o.VirtType ?? (kvmUsable ? "kvm" : "qemu");
        if (d.Type is not ("kvm" or "qemu")) Bad($"--virt-type '{o.VirtType}' is not known; use kvm or qemu.");
        if (o.VirtType is null && !kvmUsable) warnings.Add("KVM cannot run guests on this host; the guest runs under TCG emulation (--virt-type qemu), which is much slower.");

        // --memory 1024 | memory=1024,currentMemory=512 (MiB)
        if (o.Memory is null) d.MemoryKiB = os.MinMemoryMiB * 1024;
        else
        {
            var m = new OptionString("--memory", o.Memory, "memory");
            if (!ulong.TryParse(m.Get("memory"), NumberStyles.None, CultureInfo.InvariantCulture, out var mib) || mib == 0)
                Bad($"--memory '{o.Memory}' is not a size in MiB, like --memory 2048.");
            d.MemoryKiB = mib * 1024;
            if (m.Get("currentMemory") is { } cur)
            {
                if (ulong.TryParse(cur, NumberStyles.None, CultureInfo.InvariantCulture, out var c)) d.CurrentMemoryKiB = c * 1024;
                else Bad($"--memory currentMemory='{cur}' is not a size in MiB.");
            }
            Unknown(m, problems);
        }
        d.CurrentMemoryKiB = d.CurrentMemoryKiB == 0 ? d.MemoryKiB : d.CurrentMemoryKiB;

        // --vcpus 4 | 4,sockets=1,cores=2,threads=2 | vcpus=2,maxvcpus=4
        if (o.Vcpus is not null)
        {
            var v = new OptionString("--vcpus", o.Vcpus, "vcpus");
            int? Num(string key)
            {
                var s = v.Get(key);
                if (s is null) return null;
                if (int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0) return n;
                Bad($"--vcpus {key}='{s}' is not a positive number.");
                return null;
            }
            var count = Num("vcpus");
            var max = Num("maxvcpus");
            var (sockets, cores, threads) = (Num("sockets"), Num("cores"), Num("threads"));
            if (sockets is not null || cores is not null || threads is not null)
            {
                d.Cpu ??= new CpuDef();
                d.Cpu.Sockets = sockets ?? 1;
                d.Cpu.Cores = cores ?? 1;
                d.Cpu.Threads = threads ?? 1;
                var topo = d.Cpu.Sockets * d.Cpu.Cores * d.Cpu.Threads;
                count ??= topo;
                max ??= topo;
                if (max != topo) Bad($"--vcpus: sockets × cores × threads = {topo}, but the maximum is {max}; they must match.");
            }
            d.Vcpus = max ?? count ?? 1;
            if (count is { } c && c < d.Vcpus) d.VcpusCurrent = c;
            if (count > d.Vcpus) Bad($"--vcpus: {count} vCPUs is more than the maximum {d.Vcpus}.");
            Unknown(v, problems);
        }

        if (o.Cpu is not null)
        {
            d.Cpu ??= new CpuDef();
            switch (o.Cpu)
            {
                case "host-passthrough" or "host-model" or "maximum": d.Cpu.Mode = o.Cpu; break;
                case "host": d.Cpu.Mode = "host-model"; break;
                default: d.Cpu.Mode = "custom"; d.Cpu.Model = o.Cpu; d.Cpu.Match = "exact"; break;
            }
            if (d.Cpu.Mode == "host-passthrough" && d.Type == "qemu")
                Bad("--cpu host-passthrough needs KVM; under TCG (--virt-type qemu) use a model such as qemu64 or 'maximum'.");
        }

        d.Os.Machine = o.Machine ?? os.Machine;
        // UEFI by default where the OS supports it (virt-install does the same); --boot bios keeps SeaBIOS.
        if (os.Uefi && d.Os.Machine.Contains("q35")) d.Os.Firmware = "efi";
        d.Features.Acpi = d.Features.Apic = true;

        // --boot: order list, kernel=/initrd=/kernel_args=, menu=on
        if (o.Boot is not null)
        {
            var b = new OptionString("--boot", o.Boot);
            foreach (var dev in o.Boot.Split(',').Where(p => !p.Contains('=')))
            {
                switch (dev)
                {
                    case "hd" or "cdrom" or "network" or "fd": d.Os.BootDevices.Add(dev); b.Get(dev); break;
                    case "uefi": d.Os.Firmware = "efi"; b.Get(dev); break;
                    case "bios": d.Os.Firmware = "bios"; b.Get(dev); break;
                    default: Bad($"--boot '{dev}' is not a boot device; use hd, cdrom, network, uefi, bios, or kernel=,initrd=,kernel_args=, menu=on."); b.Get(dev); break;
                }
            }
            if (b.Get("firmware") is { } fw)
            {
                if (fw is "efi" or "bios") d.Os.Firmware = fw;
                else Bad($"--boot firmware='{fw}' is not known; use efi or bios.");
            }
            // virt-install's firmware.featureN.name=secure-boot,firmware.featureN.enabled=yes, and loader_secure=yes.
            for (var i = 0; b.Get($"firmware.feature{i}.name") is { } fname; i++)
            {
                if (fname is not ("secure-boot" or "enrolled-keys")) Bad($"--boot firmware.feature{i}.name='{fname}' is not known; use secure-boot or enrolled-keys.");
                d.Os.FirmwareFeatures.Add((fname, b.Get($"firmware.feature{i}.enabled") is "yes" or "on" or "true"));
            }
            if (b.Get("loader_secure") is "yes" or "on") d.Os.FirmwareFeatures.Add(("secure-boot", true));
            if (d.Os.FirmwareFeatures.Count > 0)
            {
                if (d.Os.Firmware == "bios") Bad("--boot bios cannot have UEFI firmware features; drop one of them.");
                d.Os.Firmware = "efi";
            }
            d.Os.Kernel = b.Get("kernel");
            d.Os.Initrd = b.Get("initrd");
            d.Os.Cmdline = b.Get("kernel_args");
            // A kernel QEMU loads directly is not one Secure Boot's keys sign: UEFI without it, unless asked
            // (libvirt would otherwise pick the Secure Boot firmware, and the kernel would not start).
            if (d.Os.Kernel is not null && d.Os.Firmware == "efi" && !d.Os.FirmwareFeatures.Any(f => f.Name == "secure-boot"))
                d.Os.FirmwareFeatures.Add(("secure-boot", false));
            if (b.Get("menu") is { } menu) d.Os.BootMenu = menu == "on";
            Unknown(b, problems);
        }

        // Disks: --disk ... and --cdrom.
        var newDisks = new List<NewDisk>();
        var counters = new Dictionary<string, int>();
        string NextTarget(string bus)
        {
            var prefix = bus switch { "virtio" => "vd", "ide" => "hd", _ => "sd" };
            var n = counters.GetValueOrDefault(prefix);
            counters[prefix] = n + 1;
            return prefix + (char)('a' + n);
        }
        foreach (var spec in o.Disks)
        {
            if (spec == "none") continue;
            var s = new OptionString("--disk", spec, "path");
            var device = s.Get("device") ?? "disk";
            if (device is not ("disk" or "cdrom")) { Bad($"--disk device='{device}' is not supported; use disk or cdrom."); continue; }
            var bus = s.Get("bus") ?? (device == "cdrom" ? (d.Os.Machine.Contains("q35") ? "sata" : "ide") : os.DiskBus);
            if (bus is not ("virtio" or "sata" or "scsi" or "ide")) { Bad($"--disk bus='{bus}' is not known; use virtio, sata, scsi or ide."); continue; }
            var disk = new DiskDef { Device = device, TargetBus = bus, TargetDev = s.Get("target") ?? NextTarget(bus) };
            disk.Format = s.Get("format");
            disk.Cache = s.Get("cache");
            disk.Io = s.Get("io");
            disk.Discard = s.Get("discard");
            disk.ReadOnly = s.Flag("readonly") || device == "cdrom";
            disk.Shareable = s.Flag("shareable");
            if (s.Get("boot_order") is { } bo)
            {
                if (int.TryParse(bo, out var order) && order > 0) disk.BootOrder = order;
                else Bad($"--disk boot_order='{bo}' is not a positive number.");
            }
            var path = s.Get("path");
            var pool = s.Get("pool");
            var vol = s.Get("vol");
            var sizeText = s.Get("size");
            ulong? size = null;
            if (sizeText is not null)
            {
                // At most what a 64-bit byte count holds (16 EiB).
                if (decimal.TryParse(sizeText, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var gib) && gib > 0 && gib < 17179869184m)
                    size = (ulong)(gib * 1024 * 1024 * 1024);
                else { Bad($"--disk size='{sizeText}' is not a size in GiB, like size=20."); continue; }
            }
            if (vol is not null)
            {
                var slash = vol.IndexOf('/');
                if (slash <= 0) { Bad($"--disk vol='{vol}' must be POOL/VOLUME."); continue; }
                disk.Type = "volume";
                disk.SourcePool = vol[..slash];
                disk.SourceVolume = vol[(slash + 1)..];
            }
            else if (pool is not null)
            {
                var backing = s.Get("backing_store");
                var backingFormat = s.Get("backing_format");
                if (size is null && backing is null) { Bad($"--disk pool={pool} needs size= (GiB) for the new volume."); continue; }
                if (backing is not null && !backing.StartsWith('/') && !backing.Contains("://")) { Bad($"--disk backing_store '{backing}' must be an absolute path or an http(s)/nbd URL."); continue; }
                if (backing is not null && disk.Format is not (null or "qcow2")) { Bad($"--disk backing_store= makes a qcow2 linked clone; format={disk.Format} cannot have a backing image."); continue; }
                var format = disk.Format ?? "qcow2";
                var name = $"{d.Name}{(newDisks.Count == 0 ? "" : "-" + newDisks.Count)}.{format}";
                newDisks.Add(new NewDisk(disk.TargetDev, pool, null, name, size ?? 0, format, backing, backingFormat));
                disk.Type = "volume";
                disk.SourcePool = pool;
                disk.SourceVolume = name;
                disk.Format = format;
            }
            else if (path is not null)
            {
                if (!path.StartsWith('/')) { Bad($"--disk path '{path}' must be absolute."); continue; }
                disk.Source = path;
                if (size is not null)
                {
                    var format = disk.Format ?? (path.EndsWith(".qcow2") ? "qcow2" : "raw");
                    newDisks.Add(new NewDisk(disk.TargetDev, null, path, Path.GetFileName(path), size.Value, format));
                    disk.Format = format;
                }
            }
            else if (device != "cdrom") { Bad($"--disk '{spec}' names no storage; give path=, pool=…,size= or vol=POOL/VOLUME."); continue; }
            Unknown(s, problems);
            d.Devices.Disks.Add(disk);
        }
        if (o.Cdrom is not null)
        {
            if (!o.Cdrom.StartsWith('/')) Bad($"--cdrom '{o.Cdrom}' must be an absolute path.");
            var bus = d.Os.Machine.Contains("q35") ? "sata" : "ide";
            d.Devices.Disks.Add(new DiskDef { Device = "cdrom", Source = o.Cdrom, Format = "raw", ReadOnly = true, TargetBus = bus, TargetDev = NextTarget(bus) });
            if (o.Boot is null) d.Os.BootDevices.AddRange(["cdrom", "hd"]);
        }
        var media = (o.Cdrom is not null ? 1 : 0) + (o.Location is not null ? 1 : 0) + (o.Import ? 1 : 0) + (d.Os.Kernel is not null ? 1 : 0);
        if (media == 0) Bad("Say how the guest installs: --cdrom ISO, --location ISO|DIR|URL, --import (boot the first disk), or --boot kernel=…,initrd=….");
        if ((o.Cdrom is not null ? 1 : 0) + (o.Location is not null ? 1 : 0) + (o.Import ? 1 : 0) > 1) Bad("Give one install source: --cdrom, --location or --import.");
        if (o.Location is not null && d.Os.Kernel is not null) Bad("--location brings the installer's kernel; drop --boot kernel= (or use it without --location).");
        if (o.Import && o.Boot is null) d.Os.BootDevices.Add("hd");
        if (o.ExtraArgs is not null && o.Location is null) Bad("--extra-args needs --location (it is the installer kernel's command line); with --boot kernel= use kernel_args=.");
        var firstBootDetach = new List<(string, bool)>();
        LocationPlan? location = null;
        if (o.Location is not null)
        {
            var l = new OptionString("--location", o.Location, "source");
            var src = l.Get("source") ?? "";
            // An http(s) tree is a tree: no ISO to attach as the installer's CD-ROM.
            var remote = LocationPlan.IsRemote(src);
            if (!src.StartsWith('/') && !remote)
                Bad($"--location '{src}' must be an absolute path to an ISO or an install tree, or an http(s) URL of a tree (other URLs, ftp:// say, are not supported).");
            location = new LocationPlan(src, o.LocationIsDirectory || remote, l.Get("kernel"), l.Get("initrd"));
            Unknown(l, problems);
            // The kernel and initrd are filled in by the daemon once it has found them.
            d.Os.Cmdline = o.ExtraArgs;
            if (!location.IsDirectory)
            {
                // The installer reads its packages from the same ISO, as a CD-ROM, for the first run.
                var bus = d.Os.Machine.Contains("q35") ? "sata" : "ide";
                var cd = new DiskDef { Device = "cdrom", Source = src, Format = "raw", ReadOnly = true, TargetBus = bus, TargetDev = NextTarget(bus) };
                d.Devices.Disks.Add(cd);
                firstBootDetach.Add((cd.TargetDev, false));
            }
        }
        CloudInitPlan? cloudInit = null;
        if (o.CloudInit is not null)
        {
            var bus = d.Os.Machine.Contains("q35") ? "sata" : "ide";
            var seed = new DiskDef { Device = "cdrom", Type = "volume", Format = "raw", ReadOnly = true, TargetBus = bus, TargetDev = NextTarget(bus) };
            cloudInit = CloudInitPlan.Parse(o.CloudInit, d.Name, seed.TargetDev, problems);
            seed.SourcePool = cloudInit.Pool;
            seed.SourceVolume = cloudInit.Volume;
            d.Devices.Disks.Add(seed);
            firstBootDetach.Add((seed.TargetDev, true));
        }
        if (o.Transient && (firstBootDetach.Count > 0 || location is not null))
            Bad("--transient cannot be combined with --location or --cloud-init: their media are removed from the definition after the first run, and a transient domain has none.");
        if (firstBootDetach.Count > 0 || location is not null)
            new FirstBoot(firstBootDetach, location is not null, location is not null, RestartOnReboot: location is not null).Mark(d);

        // Networks: network=NAME | bridge=BR | type=direct,source=DEV[,source_mode=] | user | none; model=, mac=
        var networks = o.Networks.Count == 0 ? ["user"] : o.Networks;
        foreach (var spec in networks)
        {
            if (spec == "none") continue;
            var s = new OptionString("--network", spec);
            var nic = new InterfaceDef { Model = s.Get("model") ?? os.NetModel };
            if (s.Get("network") is { } net) { nic.Type = "network"; nic.SourceNetwork = net; }
            else if (s.Get("bridge") is { } br) { nic.Type = "bridge"; nic.SourceBridge = br; }
            else if (s.Get("type") is "direct") { nic.Type = "direct"; nic.SourceDev = s.Get("source"); nic.SourceMode = s.Get("source_mode") ?? "vepa"; if (nic.SourceDev is null) Bad("--network type=direct needs source=DEVICE."); }
            else if (s.Main is "user" || s.Get("type") is "user") { nic.Type = "user"; s.Get("user"); }
            else if (s.Main is { } bare && !bare.Contains('=')) { nic.Type = "network"; nic.SourceNetwork = bare; s.Get("path"); s.Get(bare); }
            else { Bad($"--network '{spec}' names no network; use network=NAME, bridge=BR, type=direct,source=DEV, user or none."); continue; }
            if (s.Get("mac") is { } mac)
            {
                nic.Mac = MacAddress.Normalize(mac);
                if (nic.Mac is null) Bad($"--network mac='{mac}' is not a MAC address like 52:54:00:12:34:56.");
            }
            s.Get("type");
            Unknown(s, problems);
            d.Devices.Interfaces.Add(nic);
        }

        // Graphics: none | vnc[,listen=,port=]
        var graphics = o.Graphics ?? "none";
        if (graphics != "none")
        {
            var g = new OptionString("--graphics", graphics, "type");
            if (g.Get("type") != "vnc") Bad($"--graphics '{graphics}' is not supported; use none or vnc[,listen=ADDR,port=N].");
            else
            {
                var gd = new GraphicsDef { Listen = g.Get("listen") ?? "127.0.0.1" };
                if (g.Get("port") is { } port)
                {
                    if (int.TryParse(port, out var p) && p is >= 5900 and <= 65535) { gd.Port = p; gd.AutoPort = false; }
                    else if (port != "-1") Bad($"--graphics port='{port}' is not a VNC port (5900 or more), or -1 for any.");
                }
                d.Devices.Graphics.Add(gd);
                d.Devices.Videos.Add(new VideoDef { Model = "vga" });
                d.Devices.Inputs.Add(new InputDef { Type = "tablet", Bus = "usb" });
            }
            Unknown(g, problems);
        }
        // --serial pty | file,path=P | unix,path=P[,mode=bind|connect]; log.file= keeps a copy of a pty's output.
        foreach (var spec in o.Serials.Count > 0 ? o.Serials : o.Consoles)
        {
            var s = new OptionString(o.Serials.Count > 0 ? "--serial" : "--console", spec, "type");
            var c = new CharDef { Type = s.Get("type") ?? "pty", TargetPort = d.Devices.Serials.Count };
            if (c.Type is not ("pty" or "file" or "unix" or "null")) { Bad($"{s.Option} '{c.Type}' is not supported; use pty, file,path=FILE, unix,path=SOCKET[,mode=bind] or null."); continue; }
            c.SourcePath = s.Get("path");
            if (c.Type is "file" or "unix" && c.SourcePath is null) Bad($"{s.Option} {c.Type} needs path=.");
            if (c.SourcePath is { } sp && !sp.StartsWith('/')) Bad($"{s.Option} path '{sp}' must be absolute.");
            if (c.Type == "unix") c.SourceMode = s.Get("mode") ?? "bind";
            c.LogFile = s.Get("log.file");
            if (c.LogFile is not null) c.LogAppend = s.Get("log.append") ?? "off";
            Unknown(s, problems);
            d.Devices.Serials.Add(c);
        }
        if (d.Devices.Serials.Count == 0)
        {
            d.Devices.Serials.Add(new CharDef { Type = "pty" });
            d.Devices.Consoles.Add(new CharDef { Type = "pty", TargetType = "serial" });
        }

        if (o.Rng is not null)
        {
            if (!o.Rng.StartsWith("/dev/")) Bad($"--rng '{o.Rng}' is not a host device such as /dev/urandom.");
            d.Devices.Rngs.Add(new RngDef { BackendSource = o.Rng });
        }
        foreach (var spec in o.Filesystems)
        {
            var s = new OptionString("--filesystem", spec);
            var parts = spec.Split(',');
            var source = s.Get("source") ?? s.Get("source.dir") ?? (parts.Length >= 2 && !parts[0].Contains('=') ? parts[0] : null);
            var target = s.Get("target") ?? s.Get("target.dir") ?? (parts.Length >= 2 && !parts[1].Contains('=') ? parts[1] : null);
            if (source is null || target is null) { Bad($"--filesystem '{spec}' needs a source directory and a target tag: SOURCE,TAG."); continue; }
            s.Get(source); s.Get(target);
            var driver = s.Get("driver.type");
            if (driver is not (null or "path" or "virtiofs")) { Bad($"--filesystem driver.type='{driver}' is not known; use virtiofs, or leave it out for 9p."); continue; }
            // 9p maps ownership into xattrs by default; virtiofs passes it through (all it can do).
            var fs = new FilesystemDef { Source = source, Target = target, DriverType = driver, AccessMode = s.Get("accessmode") ?? (driver == "virtiofs" ? "passthrough" : "mapped") };
            if (driver == "virtiofs" && fs.AccessMode != "passthrough") Bad($"--filesystem driver.type=virtiofs needs accessmode=passthrough (virtiofsd maps no ownership); use 9p for {fs.AccessMode}.");
            if (fs.AccessMode is not ("passthrough" or "mapped" or "squash")) Bad($"--filesystem accessmode='{fs.AccessMode}' is not known; use passthrough, mapped or squash.");
            Unknown(s, problems);
            d.Devices.Filesystems.Add(fs);
        }
        // --clock offset=utc|localtime,kvmclock_present=yes|no,TIMER_tickpolicy=…,TIMER_present=…
        if (o.Clock is not null)
        {
            var c = new OptionString("--clock", o.Clock, "offset");
            d.Clock = new ClockDef { Offset = c.Get("offset") ?? "utc" };
            if (d.Clock.Offset is not ("utc" or "localtime")) Bad($"--clock offset='{d.Clock.Offset}' is not known; use utc or localtime.");
            foreach (var timer in new[] { "kvmclock", "rtc", "pit", "hpet" })
            {
                var present = c.Get($"{timer}_present");
                var tick = c.Get($"{timer}_tickpolicy");
                if (present is not (null or "yes" or "no")) Bad($"--clock {timer}_present='{present}' must be yes or no.");
                if (present is not null || tick is not null) d.Clock.Timers.Add(new TimerDef(timer, tick, present));
            }
            if (d.Type == "qemu" && c.Get("kvmclock_present") == "yes")
                Bad("--clock kvmclock_present=yes (the clock behind the guest's KVM PTP device, ptp_kvm) needs KVM; this guest runs under TCG (--virt-type qemu).");
            Unknown(c, problems);
        }
        // --channel unix[,path=,mode=],target.type=virtio,target.name=NAME; a guest agent channel by default where the OS has one.
        foreach (var spec in o.Channels)
        {
            var c = new OptionString("--channel", spec, "type");
            var ch = new CharDef { Type = c.Get("type") ?? "unix", TargetType = c.Get("target.type") ?? "virtio", TargetName = c.Get("target.name") ?? c.Get("name") };
            if (ch.Type is not ("unix" or "pty")) Bad($"--channel '{ch.Type}' is not supported; use unix or pty.");
            if (ch.TargetType != "virtio") Bad($"--channel target.type='{ch.TargetType}' is not supported; use virtio.");
            if (ch.TargetName is null) Bad("--channel needs target.name=, e.g. org.qemu.guest_agent.0.");
            ch.SourcePath = c.Get("path");
            if (ch.Type == "unix") ch.SourceMode = c.Get("mode") ?? "bind";
            Unknown(c, problems);
            d.Devices.Channels.Add(ch);
        }
        if (o.Channels.Count == 0 && !o.NoGuestAgent && os.Family is "linux" or "windows" or "bsd")
            d.Devices.Channels.Add(new CharDef { Type = "unix", SourceMode = "bind", TargetType = "virtio", TargetName = "org.qemu.guest_agent.0" });
        if (d.Devices.Filesystems.Any(f => f.DriverType == "virtiofs"))
            d.MemoryBacking = new MemoryBackingDef { SourceType = "memfd", AccessMode = "shared" };
        foreach (var spec in o.Controllers)
        {
            var s = new OptionString("--controller", spec, "type");
            var c = new ControllerDef { Type = s.Get("type") ?? "", Model = s.Get("model") };
            if (c.Type is not ("scsi" or "usb" or "virtio-serial" or "sata")) Bad($"--controller type='{c.Type}' is not supported; use scsi, usb, sata or virtio-serial.");
            if (s.Get("index") is { } idx && int.TryParse(idx, out var i)) c.Index = i;
            Unknown(s, problems);
            d.Devices.Controllers.Add(c);
        }
        if (problems.Count > 0) throw new DefinitionException(problems);
        // What install makes, define must take: the same rules, so no option combination slips
        // a definition past them (their words are the XML's, as virt-install passes libvirt's on).
        var check = d.Clone();
        if (location is not null) { check.Os.Kernel ??= "/location/kernel"; check.Os.Initrd ??= "/location/initrd"; } // the daemon fills them in
        try { DomainRules.ParseForDefine(DomainXml.Write(check)); }
        catch (DefinitionException e) { throw new DefinitionException(e.Problems.Select(p => new Problem($"The options make a definition define refuses: {p.Message}")).ToList()); }
        return new InstallPlan(d, newDisks, os, warnings, location, cloudInit);
    }

    private static void Unknown(OptionString s, List<Problem> problems)
    {
        foreach (var k in s.Unused)
            problems.Add(new Problem($"{s.Option}: unknown option '{k}'."));
        foreach (var k in s.Empty)
            problems.Add(new Problem($"{s.Option}: {k}= has no value; give one ({k}=VALUE) or leave it out."));
    }
}
