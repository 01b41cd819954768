using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Logging;
using Vireo.Engine;
using Vireo.Model;
using Vireo.Web.Components;

namespace Vireo.Web;

public sealed record DevicesView(string Name, IReadOnlyList<DiskReport> Disks, IReadOnlyList<InterfaceDef> Nics, IReadOnlyList<(string Label, string Path)> Isos,
    IReadOnlyList<string> Pools, IReadOnlyList<string> Volumes, IReadOnlyList<string> Networks, string? Error = null, string? Note = null, string? Open = null, IFormCollection? Form = null);

public sealed record SnapshotsView(string Name, IReadOnlyList<SnapshotDef> List, string? Current, string? Error = null, string? Note = null);

public sealed record GraphicsView(string Name, string Type, string Listen, string? Error = null, string? Note = null);

/// <summary>
/// The machine page's changes, as cockpit-machines offers them: CD-ROM media, disks and NICs
/// added or removed (in the running guest and its definition, as virsh's --persistent does),
/// snapshots, and the display. Each answers with the block it changed, errors inside it.
/// </summary>
public static class MachineEdits
{
    public static DevicesView Devices(Hypervisor hv, Vm vm, string? error = null, string? note = null, string? open = null, IFormCollection? form = null)
    {
        var pools = hv.Storage.All().Where(p => p.IsActive).ToList();
        return new DevicesView(vm.Name, vm.Disks(inactive: !vm.IsActive), (vm.Live ?? vm.Def).Devices.Interfaces,
            pools.SelectMany(p => p.Volumes().Where(v => v.Format == "iso").Select(v => ($"{p.Name}/{v.Name}", v.Path))).ToList(),
            pools.Select(p => p.Name).ToList(),
            pools.SelectMany(p => p.Volumes().Where(v => v.Format != "iso").Select(v => $"{p.Name}/{v.Name}")).ToList(),
            hv.Networks.All().Select(n => n.Name).ToList(), error, note, open, form);
    }

    public static SnapshotsView Snapshots(Vm vm, string? error = null, string? note = null) =>
        new(vm.Name, vm.Snapshots().OrderBy(s => s.CreationTime).ToList(), vm.CurrentSnapshot, error, note);

    public static GraphicsView Graphics(Vm vm, string? error = null, string? note = null)
    {
        var g = vm.Def.Devices.Graphics.FirstOrDefault(x => x.Type == "vnc");
        return new GraphicsView(vm.Name, g is null ? "none" : "vnc", g?.Listen ?? "127.0.0.1", error, note);
    }

    /// <summary>Changes go to the running guest and to the definition, like cockpit (virsh --live --config).</summary>
    private static (bool Live, bool Config) Both(Vm vm) => (vm.IsActive, vm.Persistent);

    internal static void Map(WebApplication app, Hypervisor hv, ILogger log)
    {
        var P = WebConsole.P;
        IResult DevicesResult(Vm vm, string? error, string? note, string? open = null, IFormCollection? form = null) =>
            new RazorComponentResult<VmDevices>(P(("D", Devices(hv, vm, error, note, open, form))));

        // One shape for every device change: find the machine, do it, show the block again with
        // what happened (or the error, next to the forms that caused it).
        void MapDevices(string action, Func<Vm, IFormCollection, CancellationToken, Task<string>> change, string? openOnError = null) =>
            app.MapPost($"/vm/{{name}}/{action}", async (HttpContext ctx, string name, CancellationToken rq) =>
            {
                if (hv.Find(name) is not { } vm) return (IResult)Results.NotFound($"No machine named '{name}'.");
                var form = await ctx.Request.ReadFormAsync(rq);
                try
                {
                    var note = await change(vm, form, rq);
                    log.LogInformation("Web console: {Domain}: {Note}", vm.Name, note);
                    return DevicesResult(vm, null, note);
                }
                catch (VireoException e) { return DevicesResult(vm, e.Message, null, openOnError, openOnError is null ? null : form); }
            });

        MapDevices("media", async (vm, f, rq) =>
        {
            var target = f["target"].ToString();
            bool eject = f["eject"] == "on";
            var source = f["source"].ToString();
            if (!eject && source.Length == 0)
                throw new VireoException(ErrorCode.InvalidArgument, $"Choose an ISO image to insert into {target}, or eject it.");
            var (live, config) = Both(vm);
            await vm.ChangeMediaAsync(target, eject ? null : source, live, config, rq);
            return eject ? $"Ejected the medium from {target}." : $"Inserted {Path.GetFileName(source)} into {target}.";
        });

        MapDevices("attach-disk", async (vm, f, rq) =>
        {
            var (live, config) = Both(vm);
            var kind = f["kind"].ToString();
            var def = vm.Live ?? vm.Def;
            switch (kind)
            {
                case "cdrom":
                {
                    var bus = (def.Os.Machine ?? "").Contains("q35") ? "sata" : "ide";
                    var disk = DeviceSpecs.Disk(hv, null, DeviceSpecs.NextTarget(vm, bus == "ide" ? "hd" : "sd"), null, bus, "cdrom");
                    disk.ReadOnly = true;
                    var done = await vm.AttachDiskAsync(disk, live, config, rq);
                    return $"Added an empty CD-ROM drive at {done.TargetDev}.";
                }
                case "existing":
                {
                    var spec = f["volume"].ToString();
                    var slash = spec.IndexOf('/');
                    if (slash <= 0) throw new VireoException(ErrorCode.InvalidArgument, "Choose the volume to add.");
                    var disk = DeviceSpecs.Disk(hv, spec[(slash + 1)..], DeviceSpecs.NextTarget(vm, "vd"), spec[..slash], "virtio");
                    var done = await vm.AttachDiskAsync(disk, live, config, rq);
                    return $"Added {spec} at {done.TargetDev}.";
                }
                case "new":
                {
                    var pool = f["pool"].ToString();
                    var sizeText = f["size"].ToString().Trim();
                    var bytes = StorageForms.GiB(sizeText) ?? throw new VireoException(ErrorCode.InvalidArgument, $"Size '{sizeText}' is not a number of GiB above 0 (e.g. 10 or 0.5).");
                    var target = DeviceSpecs.NextTarget(vm, "vd");
                    var volName = $"{vm.Name}-{target}.qcow2";
                    var vol = await hv.Storage.CreateAsync(pool, new VolumeDef { Name = volName, Format = "qcow2", Capacity = bytes }, null, rq);
                    try
                    {
                        await vm.AttachDiskAsync(DeviceSpecs.Disk(hv, vol.Name, target, pool, "virtio"), live, config, rq);
                    }
                    catch
                    {
                        // Nothing half-made stays behind: the new, unused volume goes again.
                        await hv.Storage.DeleteAsync(pool, vol.Name, force: false, CancellationToken.None);
                        throw;
                    }
                    return $"Added a new {Units.Bytes(vol.Capacity)} volume {pool}/{vol.Name} at {target}.";
                }
                default: throw new VireoException(ErrorCode.InvalidArgument, $"Unknown kind of disk '{kind}'.");
            }
        }, openOnError: "disk");

        MapDevices("detach-disk", async (vm, f, rq) =>
        {
            var (live, config) = Both(vm);
            var gone = await vm.DetachDiskAsync(f["target"].ToString(), live, config, rq);
            if (vm.RemovalPending(gone.Alias)) return $"Asked the guest to release {gone.Device} {gone.Target}; it has not yet, and the disk leaves the running machine when it does.";
            return $"Removed {gone.Device} {gone.Target}{(gone.Source is { } s ? $" ({s} stays)" : "")}.";
        });

        MapDevices("attach-nic", async (vm, f, rq) =>
        {
            var (live, config) = Both(vm);
            var source = f["source"].ToString();
            var mac = f["mac"].ToString().Trim();
            var model = f["model"].ToString();
            var nic = source switch
            {
                "user" => DeviceSpecs.Interface("user", null, mac.Length == 0 ? null : mac, model),
                "bridge" => DeviceSpecs.Interface("bridge", f["bridge"].ToString().Trim(), mac.Length == 0 ? null : mac, model),
                _ when source.StartsWith("network:", StringComparison.Ordinal) => DeviceSpecs.Interface("network", source["network:".Length..], mac.Length == 0 ? null : mac, model),
                _ => throw new VireoException(ErrorCode.InvalidArgument, "Choose what the interface connects to."),
            };
            var done = await vm.AttachInterfaceAsync(nic, live, config, rq);
            return $"Added a {done.Model} interface {done.Mac}.";
        }, openOnError: "nic");

        MapDevices("detach-nic", async (vm, f, rq) =>
        {
            var (live, config) = Both(vm);
            var gone = await vm.DetachInterfaceAsync(f["type"].ToString(), f["mac"].ToString(), live, config, rq);
            if (vm.RemovalPending(gone.Alias)) return $"Asked the guest to release the interface {gone.Mac}; it has not yet, and it leaves the running machine when it does.";
            return $"Removed the interface {gone.Mac}.";
        });

        IResult SnapshotsResult(Vm vm, string? error, string? note) => new RazorComponentResult<VmSnapshots>(P(("S", Snapshots(vm, error, note))));
        app.MapPost("/vm/{name}/snapshots", async (HttpContext ctx, string name, CancellationToken rq) =>
        {
            if (hv.Find(name) is not { } vm) return (IResult)Results.NotFound($"No machine named '{name}'.");
            var f = await ctx.Request.ReadFormAsync(rq);
            var snapName = f["name"].ToString().Trim();
            var description = f["description"].ToString().Trim();
            try
            {
                var s = await vm.CreateSnapshotAsync(snapName.Length == 0 ? null : snapName, description.Length == 0 ? null : description, diskOnly: false, rq);
                return SnapshotsResult(vm, null, $"Took snapshot '{s.Name}'.");
            }
            catch (VireoException e) { return SnapshotsResult(vm, e.Message, null); }
        });
        app.MapPost("/vm/{name}/snapshots/{snap}/{action}", async (string name, string snap, string action, CancellationToken rq) =>
        {
            if (hv.Find(name) is not { } vm) return (IResult)Results.NotFound($"No machine named '{name}'.");
            try
            {
                switch (action)
                {
                    case "revert": await vm.RevertSnapshotAsync(snap, null, rq); return SnapshotsResult(vm, null, $"Reverted to '{snap}'.");
                    case "delete": await vm.DeleteSnapshotAsync(snap, null, rq); return SnapshotsResult(vm, null, $"Deleted snapshot '{snap}'.");
                    default: return Results.NotFound($"No snapshot action '{action}'.");
                }
            }
            catch (VireoException e) { return SnapshotsResult(vm, e.Message, null); }
        });

        app.MapPost("/vm/{name}/graphics", async (HttpContext ctx, string name, CancellationToken rq) =>
        {
            if (hv.Find(name) is not { } vm) return (IResult)Results.NotFound($"No machine named '{name}'.");
            var f = await ctx.Request.ReadFormAsync(rq);
            var type = f["type"].ToString();
            var listen = f["listen"].ToString().Trim();
            string? error = null, note = null;
            try
            {
                if (!vm.Persistent) throw new VireoException(ErrorCode.InvalidOperation, $"'{vm.Name}' is transient; it has no definition to keep a display setting in.");
                var def = vm.Def.Clone();
                SetGraphics(def, type, listen);
                hv.Define(DomainXml.Write(def));
                note = type == "none" ? "No graphics: the serial console is the way in." : $"VNC on {listen}.";
                if (vm.IsActive) note += " The running machine gets it at its next start.";
            }
            catch (VireoException e) { error = e.Message; }
            catch (DefinitionException e) { error = e.Message; }
            // After an error the form keeps what was typed, so it can be corrected.
            var view = error is null ? Graphics(vm, null, note) : new GraphicsView(vm.Name, type, listen, error);
            return new RazorComponentResult<VmGraphics>(P(("G", view)));
        });
    }

    /// <summary>What is wrong with a VNC listen address (the machine page's and the wizard's), or null.</summary>
    public static string? ListenProblem(string listen) => IPAddress.TryParse(listen, out _) ? null
        : $"Listen address '{listen}' is not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (every network).";

    /// <summary>virt-install's --graphics none|vnc,listen= on an existing definition: VNC brings a VGA card and a USB tablet along.</summary>
    public static void SetGraphics(DomainDef def, string type, string listen)
    {
        switch (type)
        {
            case "none":
                def.Devices.Graphics.Clear();
                def.Devices.Videos.Clear();
                break;
            case "vnc":
                if (ListenProblem(listen) is { } problem) throw new VireoException(ErrorCode.InvalidArgument, problem);
                var g = def.Devices.Graphics.FirstOrDefault(x => x.Type == "vnc");
                if (g is null) def.Devices.Graphics.Add(g = new GraphicsDef());
                g.Listen = listen;
                if (def.Devices.Videos.Count == 0) def.Devices.Videos.Add(new VideoDef { Model = "vga" });
                if (!def.Devices.Inputs.Any(i => i.Type == "tablet")) def.Devices.Inputs.Add(new InputDef { Type = "tablet", Bus = "usb" });
                break;
            default: throw new VireoException(ErrorCode.InvalidArgument, $"Graphics '{type}' is not offered; choose none or VNC.");
        }
    }
}
