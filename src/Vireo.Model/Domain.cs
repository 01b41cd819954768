using System.Xml.Linq;

namespace Vireo.Model;

// The libvirt domain definition as Vireo models it. Mutable on purpose: the reader builds it,
// Defaults.Fill completes it (uuid, MACs, aliases), the writer turns it back into XML. The
// engine never hands a definition it is using to anyone else; it clones through XML.

public sealed class DomainDef
{
    public string Type { get; set; } = "qemu";          // kvm | qemu
    public string Name { get; set; } = "";
    public Guid Uuid { get; set; }
    public string? Title { get; set; }
    public string? Description { get; set; }
    public XElement? Metadata { get; set; }             // kept verbatim
    public ulong MemoryKiB { get; set; }
    public ulong CurrentMemoryKiB { get; set; }
    public int Vcpus { get; set; } = 1;
    public int? VcpusCurrent { get; set; }
    public string VcpuPlacement { get; set; } = "static";
    public OsDef Os { get; set; } = new();
    public FeaturesDef Features { get; set; } = new();
    public CpuDef? Cpu { get; set; }
    public ClockDef? Clock { get; set; }
    public string OnPoweroff { get; set; } = "destroy";
    public string OnReboot { get; set; } = "restart";
    public string OnCrash { get; set; } = "destroy";
    public PmDef? Pm { get; set; }
    public MemoryBackingDef? MemoryBacking { get; set; }
    public DevicesDef Devices { get; set; } = new();

    public DomainDef Clone() => DomainXml.Parse(DomainXml.Write(this));
}

public sealed class OsDef
{
    public string Type { get; set; } = "hvm";
    public string Arch { get; set; } = "x86_64";
    public string? Machine { get; set; }
    public List<string> BootDevices { get; set; } = [];   // hd, cdrom, network, fd
    public bool? BootMenu { get; set; }
    public string? Kernel { get; set; }
    public string? Initrd { get; set; }
    public string? Cmdline { get; set; }
    /// <summary>&lt;os firmware='efi|bios'&gt;: efi picks OVMF through QEMU's firmware descriptors at define.</summary>
    public string? Firmware { get; set; }
    /// <summary>&lt;firmware&gt;&lt;feature enabled= name=/&gt;: secure-boot, enrolled-keys.</summary>
    public List<(string Name, bool Enabled)> FirmwareFeatures { get; set; } = [];
    public LoaderDef? Loader { get; set; }
    public NvramDef? Nvram { get; set; }
}

/// <summary>&lt;loader readonly='yes' secure='yes' type='pflash'&gt;PATH&lt;/loader&gt;</summary>
public sealed class LoaderDef
{
    public string Path { get; set; } = "";
    public bool ReadOnly { get; set; } = true;
    public bool Secure { get; set; }
    public string Type { get; set; } = "pflash";       // pflash | rom
}

/// <summary>&lt;nvram template='VARS'&gt;PATH&lt;/nvram&gt;: the domain's own copy of the UEFI variable store.</summary>
public sealed class NvramDef
{
    public string? Path { get; set; }
    public string? Template { get; set; }
}

public sealed class FeaturesDef
{
    public bool Acpi { get; set; }
    public bool Apic { get; set; }
    public bool Pae { get; set; }
    public string? VmPortState { get; set; }               // <vmport state='off'/>
    public bool? Smm { get; set; }                          // <smm state='on'/>: Secure Boot's firmware needs it
}

public sealed class CpuDef
{
    public string Mode { get; set; } = "custom";            // host-passthrough | host-model | custom | maximum
    public string? Match { get; set; }
    public string? Check { get; set; }
    public string? Migratable { get; set; }
    public string? Model { get; set; }
    public string? ModelFallback { get; set; }
    public int? Sockets { get; set; }
    public int? Dies { get; set; }
    public int? Cores { get; set; }
    public int? Threads { get; set; }
    public List<(string Policy, string Name)> Features { get; set; } = [];
}

public sealed class ClockDef
{
    public string Offset { get; set; } = "utc";
    public List<TimerDef> Timers { get; set; } = [];
}

public sealed record TimerDef(string Name, string? TickPolicy, string? Present);

/// <summary>&lt;memoryBacking&gt;&lt;source type='memfd'/&gt;&lt;access mode='shared'/&gt;: guest RAM another process can map (virtiofsd).</summary>
public sealed class MemoryBackingDef
{
    public string? SourceType { get; set; }             // memfd | file | anonymous
    public string? AccessMode { get; set; }             // shared | private
}

public sealed class PmDef
{
    public string? SuspendToMem { get; set; }
    public string? SuspendToDisk { get; set; }
}

/// <summary>A device address as written (pci: domain/bus/slot/function; drive: controller/bus/target/unit).</summary>
public sealed class AddressDef
{
    public string Type { get; set; } = "pci";
    public List<KeyValuePair<string, string>> Attributes { get; set; } = [];
    public string? Get(string name) => Attributes.FirstOrDefault(a => a.Key == name).Value;
}

public sealed class DevicesDef
{
    public string? Emulator { get; set; }
    public List<DiskDef> Disks { get; set; } = [];
    public List<ControllerDef> Controllers { get; set; } = [];
    public List<FilesystemDef> Filesystems { get; set; } = [];
    public List<InterfaceDef> Interfaces { get; set; } = [];
    public List<CharDef> Serials { get; set; } = [];
    public List<CharDef> Consoles { get; set; } = [];
    public List<CharDef> Channels { get; set; } = [];
    public List<InputDef> Inputs { get; set; } = [];
    public List<GraphicsDef> Graphics { get; set; } = [];
    public List<VideoDef> Videos { get; set; } = [];
    public MemballoonDef? Memballoon { get; set; }
    public List<RngDef> Rngs { get; set; } = [];
    public List<PanicDef> Panics { get; set; } = [];
}

/// <summary>A pvpanic device: lets the guest tell QEMU it panicked, so on_crash can act.</summary>
public sealed class PanicDef
{
    public string Model { get; set; } = "isa";          // isa | pvpanic (PCI)
    public AddressDef? Address { get; set; }
}

public sealed class DiskDef
{
    public string Type { get; set; } = "file";          // file | block | volume | network
    public string Device { get; set; } = "disk";        // disk | cdrom
    public string DriverName { get; set; } = "qemu";
    public string? Format { get; set; }                 // raw | qcow2
    public string? Cache { get; set; }
    public string? Io { get; set; }
    public string? Discard { get; set; }
    /// <summary>file= or dev=; for type='volume', the volume's path once resolved at start (not written). Null: empty cdrom.</summary>
    public string? Source { get; set; }
    public string? SourcePool { get; set; }             // type='volume'
    public string? SourceVolume { get; set; }
    /// <summary>type='network': &lt;source protocol='http|https|nbd' name='/path or export'&gt;&lt;host name= port=/&gt;</summary>
    public string? SourceProtocol { get; set; }
    public string? SourceName { get; set; }
    public string? SourceHost { get; set; }
    public int? SourcePort { get; set; }
    public string TargetDev { get; set; } = "";
    public string? TargetBus { get; set; }
    public bool ReadOnly { get; set; }
    public bool Shareable { get; set; }
    public int? BootOrder { get; set; }
    public string? Serial { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }

    /// <summary>Has media: a file, device, resolved volume or network source (an empty CD-ROM has none).</summary>
    public bool HasMedia => Source is not null || SourceProtocol is not null;

    public int DefaultPort => SourceProtocol switch { "https" => 443, "nbd" => 10809, _ => 80 };

    /// <summary>A network source as a URL (http://host:port/path, nbd://host:port/export), as QEMU and qemu-img name them.</summary>
    public string? Url => SourceProtocol is null ? null
        : SourceProtocol == "nbd" ? $"nbd://{SourceHost}:{SourcePort ?? DefaultPort}/{SourceName?.TrimStart('/')}"
        : $"{SourceProtocol}://{SourceHost}:{SourcePort ?? DefaultPort}/{SourceName?.TrimStart('/')}";
}

public sealed class ControllerDef
{
    public string Type { get; set; } = "";               // usb | pci | sata | scsi | virtio-serial | ide
    public int? Index { get; set; }                      // filled on define when omitted
    public string? Model { get; set; }
    public int? Ports { get; set; }
    public string? TargetChassis { get; set; }
    public string? TargetPort { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class InterfaceDef
{
    public string Type { get; set; } = "user";          // user | network | bridge | direct | none
    public string? Mac { get; set; }
    public string? SourceNetwork { get; set; }
    public string? SourceBridge { get; set; }
    public string? SourceDev { get; set; }
    public string? SourceMode { get; set; }
    public string? Model { get; set; }
    public string? TargetDev { get; set; }
    public string? LinkState { get; set; }
    public int? BootOrder { get; set; }
    public string? Backend { get; set; }                // user: slirp | passt (both served by QEMU's user networking)
    public List<PortForwardDef> PortForwards { get; set; } = [];
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>
/// A host port (or range) forwarded to the guest: libvirt's &lt;portForward&gt;. On user-mode NICs it
/// becomes a QEMU hostfwd; on NICs of a NAT network, DNAT rules in Vireo's nftables table.
/// </summary>
public sealed class PortForwardDef
{
    public string Proto { get; set; } = "tcp";
    /// <summary>Host address to listen on; null for every address.</summary>
    public string? Address { get; set; }
    public string? Dev { get; set; }
    public List<PortRangeDef> Ranges { get; set; } = [];
}

public sealed class PortRangeDef
{
    public int Start { get; set; }
    public int? End { get; set; }
    /// <summary>The guest port the range starts at; the same port when null.</summary>
    public int? To { get; set; }

    public int Count => (End ?? Start) - Start + 1;
    public int GuestStart => To ?? Start;
}

/// <summary>serial, console and channel devices: a host side (type/source/log) and a guest side (target).</summary>
public sealed class CharDef
{
    public string Type { get; set; } = "pty";           // pty | file | unix | null
    public string? SourcePath { get; set; }
    public string? SourceMode { get; set; }             // bind | connect (unix)
    public string? SourceAppend { get; set; }
    public string? TargetType { get; set; }             // serial: isa-serial; console: serial|virtio; channel: virtio
    public int? TargetPort { get; set; }
    public string? TargetName { get; set; }             // channel: org.qemu.guest_agent.0
    public string? TargetModel { get; set; }            // <model name='isa-serial'/>
    public string? LogFile { get; set; }
    public string? LogAppend { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class InputDef
{
    public string Type { get; set; } = "tablet";        // tablet | mouse | keyboard
    public string Bus { get; set; } = "usb";            // usb | ps2 | virtio
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class GraphicsDef
{
    public string Type { get; set; } = "vnc";
    public int? Port { get; set; }
    public bool AutoPort { get; set; } = true;
    public string? Listen { get; set; }
    public string? Passwd { get; set; }
}

public sealed class VideoDef
{
    public string Model { get; set; } = "vga";          // vga | cirrus | virtio | bochs | qxl | none
    public int? Vram { get; set; }
    public int? Heads { get; set; }
    public bool? Primary { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class MemballoonDef
{
    public string Model { get; set; } = "virtio";       // virtio | none
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class RngDef
{
    public string Model { get; set; } = "virtio";
    public string BackendModel { get; set; } = "random"; // random | builtin
    public string? BackendSource { get; set; }          // /dev/urandom
    public int? RateBytes { get; set; }
    public int? RatePeriod { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class FilesystemDef
{
    public string Type { get; set; } = "mount";
    public string AccessMode { get; set; } = "passthrough"; // passthrough | mapped | squash
    public string? DriverType { get; set; }             // path (9p) | virtiofs
    public int? Queue { get; set; }                     // virtiofs: queue size
    public string? BinaryPath { get; set; }             // virtiofs: <binary path=>, default /usr/lib/qemu/virtiofsd
    public string Source { get; set; } = "";
    public string Target { get; set; } = "";            // the mount tag (9p and virtiofs)
    public bool ReadOnly { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}
