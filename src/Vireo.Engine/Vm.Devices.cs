using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>Hot-plug: attach-interface / detach-interface, live (QMP) and/or in the definition.</summary>
public sealed partial class Vm
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _deviceDeleted = new();

    public static TimeSpan DetachTimeout { get; set; } = TimeSpan.FromSeconds(15);

    public async Task<InterfaceDef> AttachInterfaceAsync(InterfaceDef nic, bool live, bool config, CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (live && !IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; use --config to add the interface to its definition.");
            if (config && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is transient; it has no definition to change (use --live).");
            nic.Mac ??= MacAddress.Generate();
            nic.Model ??= "virtio";
            foreach (var d in new[] { live ? Live : null, config ? Def : null }.OfType<DomainDef>())
                if (d.Devices.Interfaces.Any(i => i.Mac == nic.Mac))
                    throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' already has an interface with MAC {nic.Mac}.");
            if (live) await AttachLiveAsync(nic, ct);
            if (config)
            {
                var def = Def.Clone();
                var copy = Clone(nic);
                copy.TargetDev = null;
                copy.Alias = null;
                // The same slot as the live device when the definition has it free, so the guest
                // sees the NIC at the same place after a restart.
                if (copy.Address is not { Type: "pci" } || !PciAddresses.SlotFree(def, copy.Address)) copy.Address = null;
                def.Devices.Interfaces.Add(copy);
                _hv.Define(DomainXml.Write(def));
            }
            return nic;
        }
        finally
        {
            _opLock.Release();
        }
    }

    private async Task AttachLiveAsync(InterfaceDef nic, CancellationToken ct)
    {
        var qmp = Monitor();
        var live = Live!.Clone();
        if (live.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true)
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is a q35 machine, whose root bus takes no hot-plugged devices; attach with --config and restart it.");
        var used = live.Devices.Interfaces.Select(i => i.Alias).ToHashSet();
        var n = 0;
        while (used.Contains($"net{n}")) n++;
        nic.Alias = $"net{n}";
        live.Devices.Interfaces.Add(nic);
        try { PciAddresses.Assign(live, addBuses: false); }
        catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidOperation, e.Message); }
        var slot = nic.Address!.Get("slot")!;

        using var res = new NicResources();
        string? fdName = null, netdev = null;
        try
        {
            if (nic.Type == "user")
            {
                netdev = $"host{nic.Alias}";
                await qmp.ExecuteAsync("netdev_add", new JsonObject { ["type"] = "user", ["id"] = netdev }, ct);
            }
            else
            {
                await _hv.Networks.PrepareNicAsync(Name, nic, res, ct);
                fdName = $"fd-{nic.Alias}";
                await qmp.ExecuteWithFdAsync("getfd", new JsonObject { ["fdname"] = fdName }, res.Fds[nic.Alias], ct);
                netdev = $"host{nic.Alias}";
                var args = new JsonObject { ["type"] = "tap", ["id"] = netdev, ["fd"] = fdName };
                if (_hv.VhostNet && nic.Model == "virtio") args["vhost"] = true;
                await qmp.ExecuteAsync("netdev_add", args, ct);
            }
            await qmp.ExecuteAsync("device_add", new JsonObject
            {
                ["driver"] = nic.Model switch { "e1000" => "e1000", "e1000e" => "e1000e", "rtl8139" => "rtl8139", _ => "virtio-net-pci" },
                ["id"] = nic.Alias,
                ["netdev"] = netdev,
                ["mac"] = nic.Mac,
                ["bus"] = "pci.0",
                ["addr"] = slot,
            }, ct);
        }
        catch (Exception e) when (e is QmpErrorException or QmpDisconnectedException or TimeoutException)
        {
            if (netdev is not null) try { await qmp.ExecuteAsync("netdev_del", new JsonObject { ["id"] = netdev }, CancellationToken.None); } catch (Exception) { }
            if (fdName is not null) try { await qmp.ExecuteAsync("closefd", new JsonObject { ["fdname"] = fdName }, CancellationToken.None); } catch (Exception) { }
            if (res.Macvtaps.Count > 0) await Links.DeleteAsync(res.Macvtaps, CancellationToken.None);
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot attach the interface to '{Name}': {e.Message}");
        }
        lock (_state) Live = live;
        SaveStatus();
        if (nic.Type == "network" && nic.PortForwards.Count > 0) await _hv.Networks.RefreshFirewallAsync(ct);
        _bus.Publish(Name, "DeviceAdded", nic.Alias!, "device-added");
    }

    public async Task<InterfaceDef> DetachInterfaceAsync(string type, string? mac, bool live, bool config, CancellationToken ct = default)
    {
        await _opLock.WaitAsync(ct);
        try
        {
            if (live && !IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is not running; use --config to remove the interface from its definition.");
            if (config && !Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{Name}' is transient; it has no definition to change (use --live).");
            InterfaceDef? found = null;
            foreach (var (d, where) in new[] { (live ? Live : null, "running domain"), (config ? Def : null, "definition") })
            {
                if (d is null) continue;
                var matches = d.Devices.Interfaces.Where(i => i.Type == type && (mac is null || string.Equals(i.Mac, mac, StringComparison.OrdinalIgnoreCase))).ToList();
                if (matches.Count == 0)
                    throw new VireoException(ErrorCode.NotFound, $"No interface of type '{type}'{(mac is null ? "" : $" with MAC {mac}")} in the {where} of '{Name}'.");
                if (matches.Count > 1)
                    throw new VireoException(ErrorCode.InvalidArgument, $"Domain '{Name}' has {matches.Count} interfaces of type '{type}'; name one with --mac.");
                found ??= matches[0];
            }
            if (live) await DetachLiveAsync(Live!.Devices.Interfaces.First(i => i.Mac == found!.Mac), ct);
            if (config)
            {
                var def = Def.Clone();
                def.Devices.Interfaces.RemoveAll(i => i.Mac == found!.Mac);
                _hv.Define(DomainXml.Write(def));
            }
            return found!;
        }
        finally
        {
            _opLock.Release();
        }
    }

    private async Task DetachLiveAsync(InterfaceDef nic, CancellationToken ct)
    {
        var qmp = Monitor();
        var deleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _deviceDeleted[nic.Alias!] = deleted;
        try
        {
            await qmp.ExecuteAsync("device_del", new JsonObject { ["id"] = nic.Alias }, ct);
            // The guest must let go of the device (ACPI/PCIe hot-unplug); QEMU says when with DEVICE_DELETED.
            try { await deleted.Task.WaitAsync(DetachTimeout, ct); }
            catch (TimeoutException)
            {
                throw new VireoException(ErrorCode.Timeout, $"The guest of '{Name}' did not release interface {nic.Mac} within {DetachTimeout.TotalSeconds:0} s (it needs ACPI PCI hot-plug support); the request stays pending in QEMU.");
            }
        }
        catch (QmpErrorException e)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot detach interface {nic.Mac} from '{Name}': {e.Message}");
        }
        finally
        {
            _deviceDeleted.TryRemove(nic.Alias!, out _);
        }
        try { await qmp.ExecuteAsync("netdev_del", new JsonObject { ["id"] = $"host{nic.Alias}" }, ct); }
        catch (QmpErrorException) { } // gone with the device already
        var live = Live!.Clone();
        live.Devices.Interfaces.RemoveAll(i => i.Mac == nic.Mac);
        lock (_state) Live = live;
        SaveStatus();
        if (NetworkManager.IsMacvtap(nic)) await Links.DeleteAsync([nic.TargetDev!], ct);
        if (nic.Type == "network" && nic.PortForwards.Count > 0) await _hv.Networks.RefreshFirewallAsync(ct);
        _bus.Publish(Name, "DeviceRemoved", nic.Alias!, "device-removed");
    }

    private void OnDeviceDeleted(string? id)
    {
        if (id is not null && _deviceDeleted.TryGetValue(id, out var tcs)) tcs.TrySetResult();
    }

    private static InterfaceDef Clone(InterfaceDef n)
    {
        var d = new DomainDef { Name = "x", Type = "qemu" };
        d.Devices.Interfaces.Add(n);
        return DomainXml.Parse(DomainXml.Write(d)).Devices.Interfaces[0];
    }
}
