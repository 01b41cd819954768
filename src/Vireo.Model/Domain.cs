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
    /// <summary>&lt;vcpu cpuset='0-3'&gt;: the host CPUs all of the guest's threads may run on, unless pinned otherwise.</summary>
    public string? VcpuCpuset { get; set; }
    public OsDef Os { get; set; } = new();
    public FeaturesDef Features { get; set; } = new();
    public CpuDef? Cpu { get; set; }
    public ClockDef? Clock { get; set; }
    public string OnPoweroff { get; set; } = "destroy";
    public string OnReboot { get; set; } = "restart";
    public string OnCrash { get; set; } = "destroy";
    public PmDef? Pm { get; set; }
    public MemoryBackingDef? MemoryBacking { get; set; }
    public MaxMemoryDef? MaxMemory { get; set; }
    public IothreadsDef? Iothreads { get; set; }
    public CputuneDef? Cputune { get; set; }
    public NumatuneDef? Numatune { get; set; }
    public MemtuneDef? Memtune { get; set; }
    public BlkiotuneDef? Blkiotune { get; set; }
    public List<SysinfoDef> Sysinfo { get; set; } = [];
    /// <summary>&lt;resource&gt;&lt;partition&gt;: the cgroup partition (/machine by default).</summary>
    public string? ResourcePartition { get; set; }
    public List<SeclabelDef> Seclabels { get; set; } = [];
    /// <summary>&lt;qemu:commandline&gt;&lt;qemu:arg value=/&gt;: extra QEMU arguments, appended as written (libvirt's escape hatch).</summary>
    public List<string> QemuArgs { get; set; } = [];
    public List<(string Name, string Value)> QemuEnv { get; set; } = [];
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
    public int? BootMenuTimeout { get; set; }
    /// <summary>&lt;smbios mode='sysinfo|host|emulate'/&gt;: where the SMBIOS strings come from.</summary>
    public string? SmbiosMode { get; set; }
    /// <summary>&lt;bios useserial='yes' rebootTimeout='N'/&gt;: SeaBIOS output on the serial port, retry after a failed boot.</summary>
    public string? BiosUseSerial { get; set; }
    public int? BiosRebootTimeout { get; set; }
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
    public HypervDef? Hyperv { get; set; }
    /// <summary>&lt;kvm&gt;&lt;hidden state='on'/&gt;&lt;hint-dedicated/&gt;&lt;poll-control/&gt;&lt;pv-ipi/&gt;&lt;/kvm&gt;</summary>
    public List<(string Name, string State)>? Kvm { get; set; }
    /// <summary>Features that are only on or off: pvspinlock, pmu, vmcoreinfo, hap, privnet, htm, async-teardown.</summary>
    public List<(string Name, string State)> Switches { get; set; } = [];
    public string? IoapicDriver { get; set; }               // <ioapic driver='qemu|kvm'/>
    public string? MsrsUnknown { get; set; }                // <msrs unknown='ignore|fail'/>

    public string? Switch(string name) => Switches.Where(s => s.Name == name).Select(s => s.State).FirstOrDefault();
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
    public string? CacheMode { get; set; }                  // <cache mode='passthrough|emulate|disable' level='3'/>
    public int? CacheLevel { get; set; }
    public string? MaxPhysAddrMode { get; set; }            // <maxphysaddr mode='passthrough|emulate' bits='N'/>
    public int? MaxPhysAddrBits { get; set; }
    public List<NumaCellDef> NumaCells { get; set; } = [];
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
    /// <summary>&lt;hugepages/&gt;, optionally with &lt;page size unit nodeset/&gt; entries.</summary>
    public bool Hugepages { get; set; }
    public List<(ulong SizeKiB, string? Nodeset)> HugePageSizes { get; set; } = [];
    public bool NoSharePages { get; set; }
    public bool Locked { get; set; }
    public bool Discard { get; set; }
    public string? AllocationMode { get; set; }         // immediate | ondemand
    public int? AllocationThreads { get; set; }
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
    public List<CharDef> Parallels { get; set; } = [];
    public List<SoundDef> Sounds { get; set; } = [];
    public List<AudioDef> Audios { get; set; } = [];
    public List<RedirdevDef> Redirdevs { get; set; } = [];
    public List<SmartcardDef> Smartcards { get; set; } = [];
    public List<HubDef> Hubs { get; set; } = [];
    public List<TpmDef> Tpms { get; set; } = [];
    public List<WatchdogDef> Watchdogs { get; set; } = [];
    public List<HostdevDef> Hostdevs { get; set; } = [];
    public VsockDef? Vsock { get; set; }
    public IommuDef? Iommu { get; set; }
}

/// <summary>A pvpanic device: lets the guest tell QEMU it panicked, so on_crash can act.</summary>
public sealed class PanicDef
{
    public string? Model { get; set; }                  // isa | pvpanic (PCI) | hyperv
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
    public int? Iothread { get; set; }
    public int? Queues { get; set; }
    public string? ErrorPolicy { get; set; }
    public string? RerrorPolicy { get; set; }
    public string? DetectZeroes { get; set; }
    public string? CopyOnRead { get; set; }
    public string? StartupPolicy { get; set; }
    /// <summary>&lt;iotune&gt;: QEMU's throttle limits (total_bytes_sec, read_iops_sec, …) in the order written.</summary>
    public List<(string Name, string Value)> Iotune { get; set; } = [];
    public string? Wwn { get; set; }
    public string? Vendor { get; set; }
    public string? Product { get; set; }
    public int? BlockIoLogical { get; set; }
    public int? BlockIoPhysical { get; set; }
    public string? TargetRemovable { get; set; }
    public int? TargetRotationRate { get; set; }
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
    public string? TargetChassisNr { get; set; }        // pci-bridge
    public string? TargetChassis { get; set; }
    public string? TargetPort { get; set; }
    public string? TargetBusNr { get; set; }
    public string? TargetIndex { get; set; }
    public string? TargetHotplug { get; set; }
    public int? TargetNode { get; set; }
    /// <summary>&lt;model name='pcie-root-port'/&gt;: the QEMU device behind a PCI controller model.</summary>
    public string? ModelName { get; set; }
    /// <summary>&lt;master startport='N'/&gt;: a USB1 companion of an EHCI controller of the same index.</summary>
    public int? MasterStartPort { get; set; }
    public int? Vectors { get; set; }
    /// <summary>&lt;driver queues iothread cmd_per_lun max_sectors ioeventfd/&gt;, kept as written.</summary>
    public List<KeyValuePair<string, string>> Driver { get; set; } = [];
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
    /// <summary>&lt;driver name queues rx_queue_size tx_queue_size/&gt;, kept as written.</summary>
    public List<KeyValuePair<string, string>> Driver { get; set; } = [];
    public BandwidthDef? Bandwidth { get; set; }
    public int? Mtu { get; set; }
    public string? RomBar { get; set; }
    public string? RomFile { get; set; }
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

/// <summary>&lt;bandwidth&gt;&lt;inbound average peak burst floor/&gt;&lt;outbound …/&gt;: a NIC's rate limits (KiB/s, KiB).</summary>
public sealed class BandwidthDef
{
    public List<KeyValuePair<string, string>>? Inbound { get; set; }
    public List<KeyValuePair<string, string>>? Outbound { get; set; }
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
    public string? SourceChannel { get; set; }          // spiceport: <source channel='org.qemu.console.serial.0'/>
    public string? SourceHost { get; set; }             // tcp/udp
    public string? SourceService { get; set; }
    public string? Protocol { get; set; }               // <protocol type='raw|telnet'/>
    public string? TargetState { get; set; }
    public string? LogFile { get; set; }
    public string? LogAppend { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class InputDef
{
    public string Type { get; set; } = "tablet";        // tablet | mouse | keyboard | passthrough | evdev
    public string Bus { get; set; } = "usb";            // usb | ps2 | virtio
    public string? Model { get; set; }                  // virtio | virtio-transitional | virtio-non-transitional
    public string? SourceEvdev { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class GraphicsDef
{
    public string Type { get; set; } = "vnc";           // vnc | spice
    public int? Port { get; set; }
    public int? TlsPort { get; set; }                   // spice
    public bool AutoPort { get; set; } = true;
    /// <summary>The address to listen on (listen= or &lt;listen type='address' address=/&gt;); null: the default (127.0.0.1).</summary>
    public string? Listen { get; set; }
    /// <summary>&lt;listen type='address|none|network|socket'&gt;: 'none' for a SPICE server with no network port.</summary>
    public string? ListenType { get; set; }
    public string? ListenNetwork { get; set; }
    public string? ListenSocket { get; set; }
    public string? Passwd { get; set; }
    public string? PasswdValidTo { get; set; }
    public string? Connected { get; set; }
    public string? Keymap { get; set; }
    public string? SharePolicy { get; set; }            // vnc
    public int? WebsocketPort { get; set; }             // vnc
    public string? DefaultMode { get; set; }            // spice: any | secure | insecure
    /// <summary>SPICE's &lt;image|jpeg|zlib|playback compression=/&gt;, &lt;streaming mode/&gt;, &lt;clipboard copypaste/&gt;, &lt;mouse mode/&gt;, &lt;filetransfer enable/&gt;.</summary>
    public string? ImageCompression { get; set; }
    public string? JpegCompression { get; set; }
    public string? ZlibCompression { get; set; }
    public string? PlaybackCompression { get; set; }
    public string? StreamingMode { get; set; }
    public string? ClipboardCopyPaste { get; set; }
    public string? MouseMode { get; set; }
    public string? FileTransfer { get; set; }
    /// <summary>&lt;gl enable='yes' rendernode=/&gt;: OpenGL, which needs a GPU this host lacks; refused at start.</summary>
    public string? GlEnable { get; set; }
    public string? GlRenderNode { get; set; }
    /// <summary>SPICE &lt;channel name='main|display|inputs|…' mode='secure|insecure'/&gt;.</summary>
    public List<(string Name, string Mode)> Channels { get; set; } = [];
    public int? AudioId { get; set; }
}

public sealed class VideoDef
{
    public string Model { get; set; } = "vga";          // vga | cirrus | virtio | bochs | qxl | ramfb | none
    public int? Vram { get; set; }
    public int? Ram { get; set; }                       // qxl
    public int? Vgamem { get; set; }                    // qxl
    public int? Vram64 { get; set; }                    // qxl
    public int? Heads { get; set; }
    public bool? Primary { get; set; }
    public string? Accel3d { get; set; }                // <acceleration accel3d='yes'/>
    public string? Accel2d { get; set; }
    public List<KeyValuePair<string, string>> Driver { get; set; } = [];
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

public sealed class MemballoonDef
{
    public string Model { get; set; } = "virtio";       // virtio | none
    public string? Autodeflate { get; set; }
    public string? FreePageReporting { get; set; }
    public int? StatsPeriod { get; set; }               // <stats period='10'/>: seconds between balloon statistics
    public List<KeyValuePair<string, string>> Driver { get; set; } = [];
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
