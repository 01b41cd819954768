using System.CommandLine;
using System.Text.Json;
using Vireo.Api;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static void AddSaveCommands(RootCommand root)
    {
        static (Option<bool> Running, Option<bool> Paused) RunState() =>
            (new("--running") { Description = "The guest runs after restore" }, new("--paused") { Description = "The guest stays paused after restore" });
        static bool? Pick(ParseResult pr, (Option<bool> Running, Option<bool> Paused) o)
        {
            if (pr.GetValue(o.Running) && pr.GetValue(o.Paused)) throw new CliException("Use --running or --paused, not both.");
            return pr.GetValue(o.Running) ? true : pr.GetValue(o.Paused) ? false : null;
        }
        {
            var d = DomainArg();
            var file = new Argument<string>("file") { Description = "Where to write the guest's state" };
            var rs = RunState();
            var cmd = new Command("save", "Save a running domain's state to a file and stop it") { d, file, rs.Running, rs.Paused };
            Client(cmd, async (pr, c, ct) =>
            {
                var body = JsonSerializer.SerializeToUtf8Bytes(new SaveRequest(Path.GetFullPath(pr.GetValue(file)!), Pick(pr, rs)), ApiJson.Default.SaveRequest);
                var bar = new ProgressBar($"Saving {pr.GetValue(d)}");
                await JobAsync(c, $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/save", new Body(body, "application/json"), bar, ct);
                Console.WriteLine();
                Console.WriteLine($"Domain '{pr.GetValue(d)}' saved to {pr.GetValue(file)}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var file = new Argument<string>("file") { Description = "A file written by save" };
            var rs = RunState();
            var cmd = new Command("restore", "Restore a domain from a saved state file") { file, rs.Running, rs.Paused };
            Client(cmd, async (pr, c, ct) =>
            {
                var running = Pick(pr, rs);
                var body = JsonSerializer.SerializeToUtf8Bytes(new RestoreRequest(Path.GetFullPath(pr.GetValue(file)!), running is null ? null : !running), ApiJson.Default.RestoreRequest);
                await c.JsonAsync("POST", "v1/restore", ApiJson.Default.DomainInfo, new Body(body, "application/json"), ct);
                Console.WriteLine($"Domain restored from {pr.GetValue(file)}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var rs = RunState();
            var cmd = new Command("managedsave", "Save a running domain's state; its next start resumes it") { d, rs.Running, rs.Paused };
            Client(cmd, async (pr, c, ct) =>
            {
                var body = JsonSerializer.SerializeToUtf8Bytes(new SaveRequest(null, Pick(pr, rs)), ApiJson.Default.SaveRequest);
                var bar = new ProgressBar($"Saving {pr.GetValue(d)}");
                var done = await JobAsync(c, $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/managedsave", new Body(body, "application/json"), bar, ct);
                Console.WriteLine();
                Console.WriteLine(done.Message);
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var cmd = new Command("managedsave-remove", "Discard a domain's managed save image") { d };
            Client(cmd, async (pr, c, ct) =>
            {
                (await c.SendAsync("DELETE", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/managedsave", null, ct)).Dispose();
                Console.WriteLine($"Removed managedsave image for domain '{pr.GetValue(d)}'");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var timeout = new Option<int>("--timeout") { Description = "Seconds each guest gets to shut down", DefaultValueFactory = _ => 120 };
            var cmd = new Command("host-shutdown", "What the host does before it goes down: save the guests that ask for it (<vireo:hostShutdown action='save'/>), shut down the rest") { timeout };
            Client(cmd, async (pr, c, ct) =>
            {
                var results = await c.JsonAsync("POST", $"v1/host/shutdown-guests?timeout={pr.GetValue(timeout)}", ApiJson.Default.GuestShutdownResultArray, null, ct);
                foreach (var r in results) Console.WriteLine($"{r.Domain}: {r.Action}: {r.Message}");
                Console.WriteLine();
                return results.All(r => r.Ok) ? 0 : 1;
            });
            root.Subcommands.Add(cmd);
        }
    }
}

public static partial class CliMain
{
    private static void AddImportCommand(RootCommand root)
    {
        var source = new Argument<string>("source") { Description = "A disk image (VMDK, VHD, VHDX, VDI, qcow2, raw) or an OVA" };
        var name = new Option<string?>("--name") { Description = "Domain name (default: the OVF's name, or the file's)" };
        var pool = new Option<string>("--pool") { Description = "Pool for the converted disks", DefaultValueFactory = _ => "default" };
        var format = new Option<string>("--format") { Description = "Format of the converted disks: qcow2 or raw", DefaultValueFactory = _ => "qcow2" };
        var memory = new Option<ulong?>("--memory") { Description = "Memory in MiB (default: the OVF's, else 1024)" };
        var vcpus = new Option<int?>("--vcpus") { Description = "vCPUs (default: the OVF's, else 1)" };
        var network = new Option<string?>("--network") { Description = "Network for the NICs: a network name, or user (default: user)" };
        var bus = new Option<string?>("--disk-bus") { Description = "virtio, sata, scsi or ide (default: the OVF's controller, else sata)" };
        var boot = new Option<string?>("--boot") { Description = "Direct kernel boot: kernel=PATH,initrd=PATH,kernel_args=ARGS" };
        var cmd = new Command("import", "Import a foreign disk image or OVA into a pool as a new domain") { source, name, pool, format, memory, vcpus, network, bus, boot };
        Client(cmd, async (pr, c, ct) =>
        {
            string? kernel = null, initrd = null, args = null;
            if (pr.GetValue(boot) is { } b)
            {
                foreach (var part in b.Split(',', 3))
                {
                    var kv = part.Split('=', 2);
                    switch (kv[0])
                    {
                        case "kernel" when kv.Length == 2: kernel = Path.GetFullPath(kv[1]); break;
                        case "initrd" when kv.Length == 2: initrd = Path.GetFullPath(kv[1]); break;
                        case "kernel_args" when kv.Length == 2: args = kv[1]; break;
                        default: throw new CliException($"--boot takes kernel=PATH,initrd=PATH,kernel_args=ARGS; '{part}' is not one of them.");
                    }
                }
            }
            var req = new ImportRequest(Path.GetFullPath(pr.GetValue(source)!), pr.GetValue(name), pr.GetValue(pool)!, pr.GetValue(format)!, pr.GetValue(memory),
                pr.GetValue(vcpus), pr.GetValue(network), pr.GetValue(bus), kernel, initrd, args);
            return await ShowJobAsync(c, "v1/import", DaemonClient.Json(req, ApiJson.Default.ImportRequest),
                $"Importing {Path.GetFileName(pr.GetValue(source))}", ct);
        });
        root.Subcommands.Add(cmd);
    }
}
