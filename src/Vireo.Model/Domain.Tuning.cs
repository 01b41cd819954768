using System.Xml.Linq;

namespace Vireo.Model;

// Domain-wide settings beyond memory and vCPUs: memory hot-plug, I/O threads, CPU and memory
// tuning, NUMA, SMBIOS, Hyper-V and KVM features, security labels and QEMU pass-through
// arguments. Each is read, kept and written back as libvirt does; what the host lacks is said
// at start, not at define (libvirt defines them everywhere too).

/// <summary>&lt;maxMemory slots='N' unit='KiB'&gt;: the ceiling for memory hot-plug (DIMMs).</summary>
public sealed class MaxMemoryDef
{
    public ulong KiB { get; set; }
    public int Slots { get; set; }
}

/// <summary>&lt;iothreads&gt;N&lt;/iothreads&gt; and &lt;iothreadids&gt;: QEMU I/O threads disks can be given to.</summary>
public sealed class IothreadsDef
{
    public int Count { get; set; }
    public List<int> Ids { get; set; } = [];
}

/// <summary>&lt;cputune&gt;: cgroup CPU shares and bandwidth, and which host CPUs each thread may run on.</summary>
public sealed class CputuneDef
{
    public ulong? Shares { get; set; }
    public ulong? Period { get; set; }
    public long? Quota { get; set; }
    public ulong? GlobalPeriod { get; set; }
    public long? GlobalQuota { get; set; }
    public ulong? EmulatorPeriod { get; set; }
    public long? EmulatorQuota { get; set; }
    public ulong? IothreadPeriod { get; set; }
    public long? IothreadQuota { get; set; }
    public List<(int Vcpu, string Cpuset)> Vcpupins { get; set; } = [];
    public string? Emulatorpin { get; set; }
    public List<(int Iothread, string Cpuset)> Iothreadpins { get; set; } = [];
    /// <summary>&lt;vcpusched&gt;, &lt;iothreadsched&gt;, &lt;emulatorsched&gt;, &lt;cachetune&gt;, &lt;memorytune&gt;: kept as written.</summary>
    public List<XElement> Other { get; set; } = [];
}

/// <summary>&lt;numatune&gt;: which host NUMA nodes guest memory comes from.</summary>
public sealed class NumatuneDef
{
    public string? Mode { get; set; }          // strict | preferred | interleave | restrictive
    public string? Nodeset { get; set; }
    public string? Placement { get; set; }     // static | auto
    public List<(int CellId, string Mode, string Nodeset)> Memnodes { get; set; } = [];
}

/// <summary>&lt;memtune&gt;: cgroup memory limits, in KiB.</summary>
public sealed class MemtuneDef
{
    public ulong? HardLimitKiB { get; set; }
    public ulong? SoftLimitKiB { get; set; }
    public ulong? SwapHardLimitKiB { get; set; }
    public ulong? MinGuaranteeKiB { get; set; }
}

/// <summary>&lt;blkiotune&gt;: cgroup block I/O weight, overall and per host device.</summary>
public sealed class BlkiotuneDef
{
    public int? Weight { get; set; }
    /// <summary>&lt;device&gt;&lt;path/&gt;&lt;weight/&gt;&lt;read_bytes_sec/&gt;…&lt;/device&gt;: kept as written.</summary>
    public List<XElement> Devices { get; set; } = [];
}

/// <summary>&lt;sysinfo type='smbios'&gt;: the SMBIOS strings the guest reads (dmidecode), with &lt;os&gt;&lt;smbios mode='sysinfo'/&gt;.</summary>
public sealed class SysinfoDef
{
    public string Type { get; set; } = "smbios";
    /// <summary>Blocks in order: bios, system, baseBoard, chassis, with their (name, value) entries.</summary>
    public List<(string Block, List<(string Name, string Value)> Entries)> Blocks { get; set; } = [];
    public List<string> OemStrings { get; set; } = [];

    public string? Get(string block, string name) =>
        Blocks.Where(b => b.Block == block).SelectMany(b => b.Entries).Where(e => e.Name == name).Select(e => e.Value).FirstOrDefault();
}

/// <summary>&lt;hyperv mode='custom|passthrough'&gt;: the Hyper-V enlightenments Windows guests use.</summary>
public sealed class HypervDef
{
    public string? Mode { get; set; }
    public List<HypervFeature> Features { get; set; } = [];
}

/// <summary>One enlightenment: name and state, spinlocks' retries, vendor_id's value, stimer's direct and tlbflush's direct/extended children.</summary>
public sealed class HypervFeature
{
    public string Name { get; set; } = "";
    public string State { get; set; } = "on";
    public int? Retries { get; set; }
    public string? Value { get; set; }
    public List<(string Name, string State)> Children { get; set; } = [];
}

/// <summary>&lt;seclabel type model relabel&gt;: a security label, read and written back (applied by the confinement work).</summary>
public sealed class SeclabelDef
{
    public string? Type { get; set; }          // dynamic | static | none
    public string? Model { get; set; }
    public string? Relabel { get; set; }
    public string? Label { get; set; }
    public string? ImageLabel { get; set; }
    public string? BaseLabel { get; set; }
}

/// <summary>&lt;cpu&gt;&lt;numa&gt;&lt;cell id cpus memory unit memAccess discard/&gt;: guest NUMA nodes.</summary>
public sealed class NumaCellDef
{
    public int? Id { get; set; }
    public string Cpus { get; set; } = "";
    public ulong MemoryKiB { get; set; }
    public string? MemAccess { get; set; }
    public string? Discard { get; set; }
}
