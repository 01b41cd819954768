using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// attach-device, detach-device and update-device: a device given as libvirt XML, turned into
/// the same hot-plug operations attach-disk and attach-interface use. The REST API, the CLI and
/// libvirt's protocol (virDomainAttachDeviceFlags and its kin) all come here.
/// </summary>
public sealed partial class Vm
{
    /// <summary>The devices Vireo hot-plugs or changes from XML; others are refused with this list.</summary>
    private const string DeviceKinds = "<disk> and <interface>";

    public async Task AttachDeviceAsync(string xml, bool live, bool config, CancellationToken ct)
    {
        var (kind, devices) = ParseDevice(xml);
        if (devices.Disks is [var disk])
        {
            if (disk.Device is not ("disk" or "cdrom"))
                throw new VireoException(ErrorCode.InvalidArgument, $"Disk device '{disk.Device}' cannot be attached; use device='disk' or device='cdrom'.");
            if (disk.Source is not null && !Path.IsPathFullyQualified(disk.Source))
                throw new VireoException(ErrorCode.InvalidArgument, $"Disk source '{disk.Source}' must be an absolute path.");
            if (disk.Type == "volume") _hv.Storage.Resolve(disk); // names a missing pool or volume before anything changes
            await AttachDiskAsync(disk, live, config, ct);
        }
        else if (devices.Interfaces is [var nic])
        {
            if (nic.Mac is not null && MacAddress.IsMulticast(nic.Mac))
                throw new VireoException(ErrorCode.InvalidArgument, $"MAC address '{nic.Mac}' is a multicast address; the first octet must be even.");
            await AttachInterfaceAsync(nic, live, config, ct);
        }
        else throw NotHotPluggable(kind, "attached");
    }

    /// <summary>detach-device; true when the guest has not let go of it yet (it leaves the running domain when it does).</summary>
    public async Task<bool> DetachDeviceAsync(string xml, bool live, bool config, CancellationToken ct)
    {
        var (kind, devices) = ParseDevice(xml);
        if (devices.Disks is [var disk])
            return RemovalPending((await DetachDiskAsync(disk.TargetDev is { Length: > 0 } t ? t : disk.Source
                ?? throw new VireoException(ErrorCode.InvalidArgument, "The <disk> to detach needs a <target dev='…'/> (or a source) to say which disk it is."), live, config, ct)).Alias);
        if (devices.Interfaces is [var nic])
            return RemovalPending((await DetachInterfaceAsync(nic.Type, nic.Mac, live, config, ct)).Alias);
        throw NotHotPluggable(kind, "detached");
    }

    /// <summary>update-device: changes a cdrom's medium (a new source, or none to eject), as libvirt's update does for removable disks.</summary>
    public async Task UpdateDeviceAsync(string xml, bool live, bool config, CancellationToken ct)
    {
        var (kind, devices) = ParseDevice(xml);
        if (devices.Disks is not [var disk]) throw NotHotPluggable(kind, "updated", "<disk device='cdrom'>");
        if (disk.Device != "cdrom")
            throw new VireoException(ErrorCode.InvalidArgument, $"Only a cdrom's medium can be updated, not a {disk.Device}; use detach-device and attach-device to replace a disk.");
        if (disk.Type == "volume") (disk.Source, _) = _hv.Storage.Resolve(disk);
        await ChangeMediaAsync(disk.TargetDev, disk.Source is null ? null : Path.GetFullPath(disk.Source), live, config, ct);
    }

    private static (string Kind, DevicesDef Devices) ParseDevice(string xml)
    {
        try { return DomainXml.ParseDevice(xml); }
        catch (DefinitionException e) { throw VireoException.Invalid(e); }
    }

    private VireoException NotHotPluggable(string kind, string done, string kinds = DeviceKinds) =>
        new(ErrorCode.InvalidOperation, $"A <{kind}> cannot be {done} by Vireo; only {kinds} can. Edit the definition (vireo edit {Name}) and restart the domain for others.");
}
