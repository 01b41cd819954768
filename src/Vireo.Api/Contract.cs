using System.Text.Json.Serialization;

namespace Vireo.Api;

// The daemon's HTTP API (over a unix socket), shared by the daemon and the CLI. Paths:
//   GET    /v1/domains                      list (DomainInfo[])
//   POST   /v1/domains                      define (body: domain XML) -> DefineResult
//   GET    /v1/domains/{d}                  DomainInfo
//   DELETE /v1/domains/{d}[?snapshotsMetadata=&managedSave=&removeAllStorage=&nvram=&keepTpm=true]  undefine -> UndefineResult
//   GET    /v1/domains/{d}/xml[?inactive=true] domain XML
//   POST   /v1/domains/{d}/{start|shutdown|destroy|reboot|reset|suspend|resume}
//          start?paused=true, shutdown?timeout=SECONDS (0: do not wait)
//   PUT    /v1/domains/{d}/autostart?enable=true|false
//   POST   /v1/domains/{d}/monitor          MonitorRequest -> MonitorReply
//   GET    /v1/domains/{d}/console[?force=true]  WebSocket: raw serial console bytes
//   GET    /v1/events                       NDJSON stream of EventInfo
//   GET    /v1/capabilities                 CapabilitiesInfo
//   GET    /v1/networks                     NetworkInfo[]
//   POST   /v1/networks                     net-define (body: network XML) -> DefineResult
//   GET    /v1/networks/{n}                 NetworkInfo
//   DELETE /v1/networks/{n}                 net-undefine
//   GET    /v1/networks/{n}/xml[?inactive=true] network XML
//   POST   /v1/networks/{n}/{start|destroy} -> NetworkActionResult (warnings from the firewall)
//   PUT    /v1/networks/{n}/autostart?enable=true|false
//   POST   /v1/networks/{n}/update          NetUpdateRequest (net-update)
//   GET    /v1/networks/{n}/leases[?mac=]   LeaseInfo[]
//   GET    /v1/port-forwards[?domain=]      PortForwardInfo[]
//   POST   /v1/domains/{d}/interfaces       attach-interface (InterfaceRequest)
//   POST   /v1/domains/{d}/interfaces/detach detach-interface (InterfaceRequest)
//   POST   /v1/host/bridges                 iface-bridge (BridgeRequest) -> BridgeResult
//   DELETE /v1/host/bridges/{b}             iface-unbridge -> BridgeResult
//   GET    /v1/pools                        PoolInfo[]
//   POST   /v1/pools                        pool-define (body: pool XML) -> DefineResult
//   GET    /v1/pools/{p}                    PoolInfo
//   DELETE /v1/pools/{p}                    pool-undefine
//   GET    /v1/pools/{p}/xml                pool XML (live figures when active)
//   POST   /v1/pools/{p}/{build|start|destroy|refresh} -> PoolInfo
//   PUT    /v1/pools/{p}/autostart?enable=true|false
//   GET    /v1/pools/{p}/volumes            VolumeInfo[]
//   POST   /v1/pools/{p}/volumes[?prealloc=off|metadata|falloc|full]  vol-create (body: volume XML) -> VolumeInfo
//   POST   /v1/pools/{p}/volumes/copy       vol-clone / vol-create-from (VolumeCopyRequest) -> NDJSON JobLine stream
//   GET    /v1/pools/{p}/volumes/{v}        VolumeInfo
//   GET    /v1/pools/{p}/volumes/{v}/xml    volume XML
//   DELETE /v1/pools/{p}/volumes/{v}[?force=true]
//   POST   /v1/pools/{p}/volumes/{v}/resize VolumeResizeRequest -> VolumeInfo
//   PUT    /v1/pools/{p}/volumes/{v}/data[?offset=&length=]  vol-upload (body: bytes) -> VolumeInfo
//   GET    /v1/pools/{p}/volumes/{v}/data[?offset=&length=]  vol-download
//   GET    /v1/volumes?path=                the pool volume at a path -> VolumeInfo
//   GET    /v1/domains/{d}/disks[?inactive=true]          DiskInfo[] (domblklist)
//   GET    /v1/domains/{d}/disks/{target}/info         BlockInfo (domblkinfo)
//   GET    /v1/domains/{d}/blockstats                  BlockStatInfo[] (domblkstat)
//   POST   /v1/domains/{d}/disks                       attach-disk (DiskRequest) -> DiskInfo
//   POST   /v1/domains/{d}/disks/detach                detach-disk (DiskRequest: Target) -> DiskInfo
//   POST   /v1/domains/{d}/media                       change-media (MediaRequest)
//   GET    /v1/domains/{d}/snapshots                   SnapshotInfo[]
//   POST   /v1/domains/{d}/snapshots                   snapshot-create(-as) (SnapshotRequest) -> SnapshotInfo
//   GET    /v1/domains/{d}/snapshots/{s}[/xml]         SnapshotInfo, or the snapshot XML
//   POST   /v1/domains/{d}/snapshots/{s}/revert[?paused=true|false]
//   POST   /v1/domains/{d}/snapshots/{s}/delete        -> NDJSON JobLine stream (commits take a while)
//   POST   /v1/domains/{d}/save                        save (SaveRequest) -> NDJSON JobLine stream
//   POST   /v1/domains/{d}/managedsave                 managedsave (SaveRequest, no path) -> NDJSON JobLine stream
//   DELETE /v1/domains/{d}/managedsave                 managedsave-remove
//   POST   /v1/restore                                 restore (RestoreRequest) -> DomainInfo
//   POST   /v1/host/shutdown-guests                    what a host shutdown does to running guests -> GuestShutdownResult[]
//   POST   /v1/import                                  vireo import (ImportRequest) -> NDJSON JobLine stream
//   POST   /v1/domains/{d}/disks/{t}/resize            blockresize (BlockResizeRequest)
//   POST   /v1/domains/{d}/disks/{t}/copy              blockcopy (BlockCopyRequest) -> NDJSON JobLine stream when waiting
//   POST   /v1/domains/{d}/disks/{t}/commit            blockcommit --active --pivot (BlockCommitRequest) -> NDJSON JobLine stream
//   GET    /v1/domains/{d}/blockjobs                   BlockJobInfo[]
//   POST   /v1/domains/{d}/disks/{t}/job?action=abort|pivot|finish
// Errors are RFC 7807 problem details: {"title","status","detail","errors"}.

public sealed record DomainInfo(
    int? Id, string Name, string Uuid, string State, string Reason, bool Persistent, bool Autostart,
    int Vcpus, ulong MaxMemoryKiB, ulong MemoryKiB, string? Title, string OsType, double CpuTimeSeconds,
    string SecurityModel = "none", string? SecurityLabel = null);

public sealed record DefineResult(string Name, string Uuid, bool Created);

public sealed record MonitorRequest([property: JsonRequired] string Command, bool Hmp);

public sealed record MonitorReply(string Output);

public sealed record EventInfo(string Domain, string Kind, string Event, string Detail, DateTimeOffset Time);

public sealed record MachineInfo(string Name, string? Alias, bool IsDefault, int MaxCpus);

public sealed record CpuModelInfo(string Name, bool Usable);

public sealed record CapabilitiesInfo(
    string Emulator, string QemuVersion, bool KvmUsable, string KvmReason, bool VhostNet,
    MachineInfo[] Machines, CpuModelInfo[] CpuModels);

public sealed record NetworkInfo(string Name, string Uuid, bool Active, bool Persistent, bool Autostart, string? Bridge, string Mode, int? DnsmasqPid);

public sealed record NetworkActionResult(NetworkInfo Network, string[] Warnings);

/// <summary>net-update: Command is add|add-first|add-last|delete|modify; Section is ip-dhcp-host.</summary>
public sealed record NetUpdateRequest([property: JsonRequired] string Command, [property: JsonRequired] string Section, [property: JsonRequired] string Xml, bool Live, bool Config);

public sealed record LeaseInfo(DateTimeOffset Expiry, string Mac, string Protocol, string IpAddress, int Prefix, string? Hostname, string? ClientId);

public sealed record PortForwardInfo(string Domain, string Network, string Proto, string? HostAddress, string HostPorts, string? GuestIp, string GuestPorts);

/// <summary>attach-interface / detach-interface: Type network|bridge|direct|user, Source its network, bridge or device.</summary>
public sealed record InterfaceRequest([property: JsonRequired] string Type, string? Source, string? Mac, string? Model, string? Target, bool Live, bool Config);

public sealed record BridgeRequest([property: JsonRequired] string Nic, [property: JsonRequired] string Bridge, bool Stp, int Delay);

public sealed record BridgeResult(string Bridge, string Nic, string[] Addresses, string[] Routes);

public sealed record PoolInfo(string Name, string Uuid, bool Active, bool Persistent, bool Autostart, string Type, string Path,
    ulong Capacity, ulong Allocation, ulong Available, int Volumes);

public sealed record VolumeInfo(string Pool, string Name, string Path, string Type, string Format, ulong Capacity, ulong Allocation,
    ulong Physical, string? BackingPath, string? BackingFormat);

public sealed record VolumeCopyRequest([property: JsonRequired] string SourcePool, [property: JsonRequired] string SourceVolume, [property: JsonRequired] string Name, string? Format);

/// <summary>vol-resize: Capacity is the new size, or with Delta the bytes to add (or with Shrink, to take away).</summary>
public sealed record VolumeResizeRequest(ulong Capacity, bool Delta, bool Shrink);

/// <summary>One line of a long job's NDJSON stream: progress in percent, then a result or an error.</summary>
public sealed record JobLine(double? Progress, string? Error, VolumeInfo? Volume, string? Message);

public sealed record DiskInfo(string Target, string Type, string Device, string Bus, string? Source, string? Format, string? Pool, string? Volume, bool ReadOnly);

public sealed record BlockInfo(string Target, ulong Capacity, ulong Allocation, ulong Physical);

public sealed record BlockStatInfo(string Target, long RdReq, long RdBytes, long WrReq, long WrBytes, long FlushOperations,
    long RdTotalTimeNs, long WrTotalTimeNs, long FlushTotalTimeNs);

/// <summary>attach-disk / detach-disk. Source is a path, or a volume name when Pool is given.</summary>
public sealed record DiskRequest(string? Source, [property: JsonRequired] string Target, string? Pool, string? Bus, string? Device, string? Format, string? Cache,
    bool ReadOnly, bool Shareable, string? Serial, bool Live, bool Config);

/// <summary>change-media: Source null (or Eject) takes the medium out.</summary>
public sealed record MediaRequest([property: JsonRequired] string Target, string? Source, bool Eject, bool Live, bool Config, bool Force);

public sealed record SnapshotInfo(string Name, string Domain, long CreationTime, string State, string? Parent, bool Current,
    string Location, string? Description, int Children, int Descendants);

/// <summary>snapshot-create-as fields, or (Xml) a whole &lt;domainsnapshot&gt; from snapshot-create.</summary>
public sealed record SnapshotRequest(string? Name, string? Description, bool DiskOnly, string? Xml);

/// <summary>save / managedsave: Running says how restore leaves the guest (null: as it was).</summary>
public sealed record SaveRequest(string? Path, bool? Running);

public sealed record RestoreRequest([property: JsonRequired] string Path, bool? Paused);

/// <summary>Per guest at host shutdown: Action save|shutdown|none, and what came of it.</summary>
public sealed record GuestShutdownResult(string Domain, string Action, bool Ok, string Message);

public sealed record ImportRequest([property: JsonRequired] string Source, string? Name, [property: JsonRequired] string Pool, [property: JsonRequired] string Format, ulong? MemoryMiB, int? Vcpus,
    string? Network, string? DiskBus, string? Kernel, string? Initrd, string? Cmdline);

public sealed record BlockResizeRequest(ulong Size);

public sealed record BlockCopyRequest([property: JsonRequired] string Destination, [property: JsonRequired] string Format, bool Wait, bool Pivot);

public sealed record BlockCommitRequest(bool Delete);

public sealed record BlockJobInfo(string Target, string Kind, string Status, long Current, long Total, string? Destination);

/// <summary>undefine: the volumes removed with --remove-all-storage, and what was kept and why.</summary>
public sealed record UndefineResult(string[] Removed, string[] Warnings);

/// <summary>--location: where the installer's kernel and initrd are in Source (ISO, tree or http(s) tree), and where an install copies them; nothing is copied.</summary>
public sealed record LocationRequest([property: JsonRequired] string Name, [property: JsonRequired] string Source, string? Kernel, string? Initrd, string? ExtraArgs = null);

/// <param name="Cmdline">The installer kernel's command line: --extra-args, plus where a remote tree is for installers that need telling.</param>
public sealed record LocationResult(string Distro, string Kernel, string Initrd, string KernelInside, string InitrdInside, bool IsDirectory, string? Cmdline = null);

/// <summary>virt-clone: Mode copy | reflink | linked; Files are destinations for the disks to copy, in order.</summary>
public sealed record CloneRequest([property: JsonRequired] string Name, bool AutoClone, [property: JsonRequired] string[] Files, [property: JsonRequired] string Mode, [property: JsonRequired] string[] Macs);

/// <summary>vireo install / the web wizard: virt-install's options, the cloud-init seed's files (read by the client), and what to do after define.</summary>
public sealed record InstallRequest([property: JsonRequired] Vireo.Model.InstallOptions Options, SeedFile[]? Seed, bool Autostart, bool Start);

public sealed record SeedFile(string Name, string Text);


public sealed record ProblemInfo(string? Title, int? Status, string? Detail, string[]? Errors);

// RespectNullableAnnotations: a null where the contract has a non-nullable string ("source": null) is refused
// by the serializer with the field named, rather than reaching a route as null.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(DomainInfo))]
[JsonSerializable(typeof(DomainInfo[]))]
[JsonSerializable(typeof(DefineResult))]
[JsonSerializable(typeof(MonitorRequest))]
[JsonSerializable(typeof(MonitorReply))]
[JsonSerializable(typeof(EventInfo))]
[JsonSerializable(typeof(CapabilitiesInfo))]
[JsonSerializable(typeof(ProblemInfo))]
[JsonSerializable(typeof(NetworkInfo))]
[JsonSerializable(typeof(NetworkInfo[]))]
[JsonSerializable(typeof(NetworkActionResult))]
[JsonSerializable(typeof(NetUpdateRequest))]
[JsonSerializable(typeof(LeaseInfo[]))]
[JsonSerializable(typeof(PortForwardInfo[]))]
[JsonSerializable(typeof(InterfaceRequest))]
[JsonSerializable(typeof(BridgeRequest))]
[JsonSerializable(typeof(BridgeResult))]
[JsonSerializable(typeof(PoolInfo))]
[JsonSerializable(typeof(PoolInfo[]))]
[JsonSerializable(typeof(VolumeInfo))]
[JsonSerializable(typeof(VolumeInfo[]))]
[JsonSerializable(typeof(VolumeCopyRequest))]
[JsonSerializable(typeof(VolumeResizeRequest))]
[JsonSerializable(typeof(JobLine))]
[JsonSerializable(typeof(DiskInfo))]
[JsonSerializable(typeof(DiskInfo[]))]
[JsonSerializable(typeof(BlockInfo))]
[JsonSerializable(typeof(BlockStatInfo[]))]
[JsonSerializable(typeof(DiskRequest))]
[JsonSerializable(typeof(MediaRequest))]
[JsonSerializable(typeof(SnapshotInfo))]
[JsonSerializable(typeof(SnapshotInfo[]))]
[JsonSerializable(typeof(SnapshotRequest))]
[JsonSerializable(typeof(SaveRequest))]
[JsonSerializable(typeof(ImportRequest))]
[JsonSerializable(typeof(UndefineResult))]
[JsonSerializable(typeof(BlockResizeRequest))]
[JsonSerializable(typeof(BlockCopyRequest))]
[JsonSerializable(typeof(BlockCommitRequest))]
[JsonSerializable(typeof(BlockJobInfo[]))]
[JsonSerializable(typeof(RestoreRequest))]
[JsonSerializable(typeof(GuestShutdownResult[]))]
[JsonSerializable(typeof(LocationRequest))]
[JsonSerializable(typeof(LocationResult))]
[JsonSerializable(typeof(CloneRequest))]
[JsonSerializable(typeof(InstallRequest))]
public sealed partial class ApiJson : JsonSerializerContext;
