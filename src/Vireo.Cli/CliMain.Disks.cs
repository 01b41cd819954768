using System.CommandLine;
using System.Text.Json;
using Vireo.Api;

namespace Vireo.Cli;

/// <summary>virsh's --live / --config / --persistent / --current on device changes.</summary>
internal sealed class ScopeOptions
{
    public Option<bool> Live { get; } = new("--live") { Description = "Change the running domain" };
    public Option<bool> Config { get; } = new("--config") { Description = "Change the persistent definition" };
    public Option<bool> Persistent { get; } = new("--persistent") { Description = "Both: the running domain (if it runs) and the definition" };
    public Option<bool> Current { get; } = new("--current") { Description = "The running domain if it runs, else the definition (default)" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Live);
        cmd.Options.Add(Config);
        cmd.Options.Add(Persistent);
        cmd.Options.Add(Current);
    }

    /// <summary>Neither flag set means --current, which the daemon decides from the domain's state.</summary>
    public (bool Live, bool Config) Resolve(ParseResult pr, DomainInfo info) =>
        (pr.GetValue(Live) || pr.GetValue(Persistent) && info.Id is not null, pr.GetValue(Config) || pr.GetValue(Persistent));
}

public static partial class CliMain
{
    private static void AddDiskCommands(RootCommand root)
    {
        {
            var d = DomainArg();
            var inactive = new Option<bool>("--inactive") { Description = "Disks of the definition rather than of the running domain" };
            var details = new Option<bool>("--details") { Description = "Type and device too" };
            var cmd = new Command("domblklist", "List the block devices of a domain") { d, inactive, details };
            Client(cmd, async (pr, c, ct) =>
            {
                var disks = await c.JsonAsync("GET", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/disks{(pr.GetValue(inactive) ? "?inactive=true" : "")}", ApiJson.Default.DiskInfoArray, null, ct);
                if (pr.GetValue(details))
                    Console.Write(Table.Render(["Type", "Device", "Target", "Source"], disks.Select(x => new[] { x.Type, x.Device, x.Target, x.Source ?? "-" })));
                else
                    Console.Write(Table.Render(["Target", "Source"], disks.Select(x => new[] { x.Target, x.Source ?? "-" })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var device = new Argument<string?>("device") { Description = "Disk target (vda) or source path", Arity = ArgumentArity.ZeroOrOne };
            var all = new Option<bool>("--all") { Description = "Every disk, as a table" };
            var human = new Option<bool>("--human") { Description = "Sizes with units" };
            var cmd = new Command("domblkinfo", "Capacity, allocation and physical size of a domain's disk") { d, device, all, human };
            Client(cmd, async (pr, c, ct) =>
            {
                var dom = DaemonClient.E(pr.GetValue(d)!);
                string Size(ulong b) => pr.GetValue(human) ? Vireo.Model.Units.Bytes(b) : b.ToString();
                if (pr.GetValue(all) || pr.GetValue(device) is null)
                {
                    if (!pr.GetValue(all)) throw new CliException("Name a disk (vda, or its path), or add --all.");
                    var disks = await c.JsonAsync("GET", $"v1/domains/{dom}/disks", ApiJson.Default.DiskInfoArray, null, ct);
                    var rows = new List<string[]>();
                    foreach (var x in disks)
                    {
                        var b = await c.JsonAsync("GET", $"v1/domains/{dom}/disks/{DaemonClient.E(x.Target)}/info", ApiJson.Default.BlockInfo, null, ct);
                        rows.Add([x.Target, Size(b.Capacity), Size(b.Allocation), Size(b.Physical)]);
                    }
                    Console.Write(Table.Render(["Target", "Capacity", "Allocation", "Physical"], rows));
                    return 0;
                }
                var i = await c.JsonAsync("GET", $"v1/domains/{dom}/disks/{DaemonClient.E(pr.GetValue(device)!)}/info", ApiJson.Default.BlockInfo, null, ct);
                Console.Write(Table.Pairs([("Capacity", Size(i.Capacity)), ("Allocation", Size(i.Allocation)), ("Physical", Size(i.Physical))]));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var device = new Argument<string?>("device") { Description = "Disk target (default: every disk)", Arity = ArgumentArity.ZeroOrOne };
            var cmd = new Command("domblkstat", "Block I/O statistics of a running domain") { d, device };
            Client(cmd, async (pr, c, ct) =>
            {
                var stats = await c.JsonAsync("GET", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/blockstats", ApiJson.Default.BlockStatInfoArray, null, ct);
                var want = pr.GetValue(device);
                var shown = stats.Where(s => want is null || s.Target == want).ToList();
                if (want is not null && shown.Count == 0)
                    throw new CliException($"Domain has no disk '{want}'; its disks: {string.Join(", ", stats.Select(s => s.Target))}.");
                foreach (var s in shown)
                {
                    foreach (var (k, v) in new[] { ("rd_req", s.RdReq), ("rd_bytes", s.RdBytes), ("wr_req", s.WrReq), ("wr_bytes", s.WrBytes),
                        ("flush_operations", s.FlushOperations), ("rd_total_times", s.RdTotalTimeNs), ("wr_total_times", s.WrTotalTimeNs), ("flush_total_times", s.FlushTotalTimeNs) })
                        Console.WriteLine($"{s.Target} {k} {v}");
                    Console.WriteLine();
                }
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var source = new Argument<string>("source") { Description = "Image path, or a volume name with --pool" };
            var target = new Argument<string>("target") { Description = "Target in the guest: vdb (virtio), sdb (scsi), hdc (ide)" };
            var pool = new Option<string?>("--pool") { Description = "The source is a volume of this pool (<disk type='volume'>)" };
            var bus = new Option<string?>("--targetbus") { Description = "virtio, scsi, sata or ide (default: from the target name)" };
            var driver = new Option<string?>("--driver") { Description = "qemu (the only driver)" };
            var subdriver = new Option<string?>("--subdriver") { Description = "Image format: raw (default) or qcow2" };
            var cache = new Option<string?>("--cache") { Description = "none, writethrough, writeback, directsync, unsafe" };
            var type = new Option<string?>("--type") { Description = "disk (default) or cdrom" };
            var mode = new Option<string?>("--mode") { Description = "readonly or shareable" };
            var serial = new Option<string?>("--serial") { Description = "Disk serial number the guest sees" };
            var scope = new ScopeOptions();
            var cmd = new Command("attach-disk", "Attach a disk (hot-plug with --live)") { d, source, target, pool, bus, driver, subdriver, cache, type, mode, serial };
            scope.AddTo(cmd);
            Client(cmd, async (pr, c, ct) =>
            {
                if (pr.GetValue(driver) is { } drv && drv != "qemu") throw new CliException($"Driver '{drv}' is not supported; Vireo drives qemu.");
                var m = pr.GetValue(mode);
                if (m is not (null or "readonly" or "shareable")) throw new CliException($"Mode '{m}' is not known; use readonly or shareable.");
                var info = await c.DomainAsync(pr.GetValue(d)!, ct);
                var (l, cf) = scope.Resolve(pr, info);
                var body = new DiskRequest(pr.GetValue(source), pr.GetValue(target)!, pr.GetValue(pool), pr.GetValue(bus), pr.GetValue(type), pr.GetValue(subdriver),
                    pr.GetValue(cache), m == "readonly", m == "shareable", pr.GetValue(serial), l, cf);
                await c.JsonAsync("POST", $"v1/domains/{DaemonClient.E(info.Name)}/disks", ApiJson.Default.DiskInfo,
                    DaemonClient.Json(body, ApiJson.Default.DiskRequest), ct);
                Console.WriteLine("Disk attached successfully");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var target = new Argument<string>("target") { Description = "Disk target (vdb) or source path" };
            var scope = new ScopeOptions();
            var cmd = new Command("detach-disk", "Detach a disk (hot-unplug with --live)") { d, target };
            scope.AddTo(cmd);
            Client(cmd, async (pr, c, ct) =>
            {
                var info = await c.DomainAsync(pr.GetValue(d)!, ct);
                var (l, cf) = scope.Resolve(pr, info);
                var body = new DiskRequest(null, pr.GetValue(target)!, null, null, null, null, null, false, false, null, l, cf);
                using var resp = await c.SendAsync("POST", $"v1/domains/{DaemonClient.E(info.Name)}/disks/detach",
                    DaemonClient.Json(body, ApiJson.Default.DiskRequest), ct);
                Console.WriteLine(resp.Status == 202 ? DetachRequested("Disk") : "Disk detached successfully");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        foreach (var (verb, action, done, what) in new[]
        {
            ("attach-device", "attach", "attached", "Attach a device from an XML file (<disk> or <interface>; hot-plug with --live)"),
            ("detach-device", "detach", "detached", "Detach the device an XML file describes (hot-unplug with --live)"),
            ("update-device", "update", "updated", "Update a device from an XML file (a cdrom's medium)"),
        })
        {
            var d = DomainArg();
            var file = new Argument<string>("file") { Description = "XML file of the device (- for standard input)" };
            var scope = new ScopeOptions();
            var cmd = new Command(verb, what) { d, file };
            scope.AddTo(cmd);
            if (action == "update") cmd.Options.Add(new Option<bool>("--force") { Description = "Open the tray even when the guest has locked it (always done)" });
            Client(cmd, async (pr, c, ct) =>
            {
                var xml = await ReadXmlArg(pr.GetValue(file)!, ct);
                var info = await c.DomainAsync(pr.GetValue(d)!, ct);
                var (l, cf) = scope.Resolve(pr, info);
                using var resp = await c.SendAsync("POST", $"v1/domains/{DaemonClient.E(info.Name)}/devices/{action}?live={(l ? "true" : "false")}&config={(cf ? "true" : "false")}",
                    DaemonClient.Xml(xml), ct);
                Console.WriteLine(resp.Status == 202 ? DetachRequested("Device") : $"Device {done} successfully");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var path = new Argument<string>("path") { Description = "The cdrom: its target (hdc, sda) or current source path" };
            var source = new Argument<string?>("source") { Description = "The new medium (ISO path)", Arity = ArgumentArity.ZeroOrOne };
            var eject = new Option<bool>("--eject") { Description = "Take the medium out" };
            var insert = new Option<bool>("--insert") { Description = "Put a medium into an empty drive" };
            var update = new Option<bool>("--update") { Description = "Replace the medium (default when a source is given)" };
            var force = new Option<bool>("--force") { Description = "Open the tray even when the guest has locked it (always done)" };
            var scope = new ScopeOptions();
            var cmd = new Command("change-media", "Change, insert or eject the medium of a CD-ROM") { d, path, source, eject, insert, update, force };
            scope.AddTo(cmd);
            Client(cmd, async (pr, c, ct) =>
            {
                var ej = pr.GetValue(eject);
                if (ej && pr.GetValue(source) is not null) throw new CliException("--eject takes no source; leave it out, or use --update to replace the medium.");
                if (!ej && pr.GetValue(source) is null) throw new CliException("Give the new medium's path, or --eject.");
                if (new[] { ej, pr.GetValue(insert), pr.GetValue(update) }.Count(x => x) > 1) throw new CliException("Use only one of --eject, --insert and --update.");
                var info = await c.DomainAsync(pr.GetValue(d)!, ct);
                var (l, cf) = scope.Resolve(pr, info);
                var src = pr.GetValue(source) is { } s ? Path.GetFullPath(s) : null;
                var body = new MediaRequest(pr.GetValue(path)!, src, ej, l, cf, pr.GetValue(force));
                (await c.SendAsync("POST", $"v1/domains/{DaemonClient.E(info.Name)}/media",
                    DaemonClient.Json(body, ApiJson.Default.MediaRequest), ct)).Dispose();
                Console.WriteLine(ej ? "Successfully ejected media." : pr.GetValue(insert) ? "Successfully inserted media." : "Successfully updated media.");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }
}
