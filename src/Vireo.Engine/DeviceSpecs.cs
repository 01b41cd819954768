using System.Text.RegularExpressions;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// What attach-disk and attach-interface are asked for, checked and turned into device
/// definitions. The API (virsh verbs) and the web console's machine page both come here, so a
/// disk or NIC added either way is the same device with the same errors.
/// </summary>
public static partial class DeviceSpecs
{
    [GeneratedRegex("^(vd|sd|hd)[a-z]+$")]
    private static partial Regex DiskTarget();

    /// <summary>virsh's --live/--config/--current: neither means the running domain if it runs, else the definition.</summary>
    public static (bool Live, bool Config) Scope(Vm vm, bool live, bool config) =>
        live || config ? (live, config) : (vm.IsActive, !vm.IsActive);

    /// <summary>A disk or cdrom to attach. <paramref name="source"/> is an absolute path, or a volume name when <paramref name="pool"/> is given.</summary>
    public static DiskDef Disk(Hypervisor hv, string? source, string target, string? pool, string? bus = null, string? device = null, string? format = null,
        string? cache = null, bool readOnly = false, bool shareable = false, string? serial = null)
    {
        if (string.IsNullOrEmpty(source) && device != "cdrom")
            throw new VireoException(ErrorCode.InvalidArgument, "attach-disk needs a source: a path, or a volume name with --pool.");
        if (string.IsNullOrEmpty(target) || !DiskTarget().IsMatch(target))
            throw new VireoException(ErrorCode.InvalidArgument, $"Target '{target}' is not a disk name; use vdX (virtio), sdX (scsi) or hdX (ide).");
        var disk = new DiskDef
        {
            Device = device ?? "disk", Format = format, Cache = cache, TargetDev = target, TargetBus = bus,
            ReadOnly = readOnly, Shareable = shareable, Serial = serial,
        };
        if (disk.Device is not ("disk" or "cdrom"))
            throw new VireoException(ErrorCode.InvalidArgument, $"Device type '{disk.Device}' is not supported; use disk or cdrom.");
        if (pool is not null)
        {
            if (StorageRules.VolumeNameProblem(source ?? "") is { } vp) throw new VireoException(ErrorCode.InvalidArgument, vp);
            disk.Type = "volume";
            disk.SourcePool = hv.Storage.GetActive(pool).Name;
            disk.SourceVolume = source;
            hv.Storage.GetVolume(pool, source!);
        }
        else if (source is not null)
        {
            if (!Path.IsPathFullyQualified(source))
                throw new VireoException(ErrorCode.InvalidArgument, $"Source '{source}' must be an absolute path (or a volume name with --pool).");
            disk.Source = Path.GetFullPath(source);
            disk.Type = File.Exists(disk.Source) && new FileInfo(disk.Source).Attributes.HasFlag(FileAttributes.Device) ? "block" : "file";
            if (disk.Format is null && hv.Storage.FindByPath(disk.Source) is { } vol) disk.Format = vol.Format == "iso" ? "raw" : vol.Format;
        }
        if (disk.Format is not (null or "raw" or "qcow2"))
            throw new VireoException(ErrorCode.InvalidArgument, $"Disk format '{disk.Format}' is not supported; use raw or qcow2 (vireo import converts others).");
        return disk;
    }

    /// <summary>The first free target with this prefix (vd, sd, hd) in the definition and the running configuration.</summary>
    public static string NextTarget(Vm vm, string prefix)
    {
        var used = new[] { vm.Def, vm.Live }.OfType<DomainDef>().SelectMany(d => d.Devices.Disks).Select(d => d.TargetDev).ToHashSet();
        for (int i = 0; i < 26 * 27; i++)
        {
            var suffix = i < 26 ? ((char)('a' + i)).ToString() : $"{(char)('a' + i / 26 - 1)}{(char)('a' + i % 26)}";
            if (!used.Contains(prefix + suffix)) return prefix + suffix;
        }
        throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{vm.Name}' has no free {prefix}X target left.");
    }

    /// <summary>A NIC to attach: type network, bridge, direct (macvtap, vepa) or user.</summary>
    public static InterfaceDef Interface(string type, string? source, string? mac, string? model = null, string? target = null)
    {
        var nic = new InterfaceDef { Type = type, Mac = mac, Model = model, TargetDev = target };
        switch (type)
        {
            case "network": nic.SourceNetwork = source; break;
            case "bridge": nic.SourceBridge = source; break;
            case "direct": nic.SourceDev = source; nic.SourceMode = "vepa"; break;
            case "user": break;
            default: throw new VireoException(ErrorCode.InvalidArgument, $"Interface type '{type}' is not supported; use network, bridge, direct or user.");
        }
        if (type != "user" && string.IsNullOrEmpty(source))
            throw new VireoException(ErrorCode.InvalidArgument, $"An interface of type '{type}' needs a source ({(type == "network" ? "a network name" : type == "bridge" ? "a bridge" : "a host device")}).");
        if (mac is not null)
        {
            nic.Mac = MacAddress.Normalize(mac) ?? throw new VireoException(ErrorCode.InvalidArgument, $"Malformed MAC address '{mac}'; write it as 52:54:00:xx:xx:xx.");
            if (MacAddress.IsMulticast(nic.Mac)) throw new VireoException(ErrorCode.InvalidArgument, $"MAC address '{nic.Mac}' is a multicast address; the first octet must be even.");
        }
        return nic;
    }
}
