using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Vireo.Api;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static void AddDomainCommands(RootCommand root)
    {
        root.Subcommands.Add(ListCommand());

        {
            var file = new Argument<string>("file") { Description = "Domain XML file (libvirt format); - reads stdin" };
            var cmd = new Command("define", "Define (but don't start) a domain from an XML file") { file };
            Client(cmd, async (pr, c, ct) =>
            {
                var path = pr.GetValue(file)!;
                var xml = await ReadXmlArg(path, ct);
                var r = await c.TextAsync("POST", "v1/domains?format=tsv", DaemonClient.Xml(xml), ct);
                Console.WriteLine($"Domain '{r.Split('\t')[0]}' defined from {path}");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var snaps = new Option<bool>("--snapshots-metadata") { Description = "Also drop the records of its snapshots (their images stay)" };
            var managed = new Option<bool>("--managed-save") { Description = "Also discard its managed save image" };
            var storage = new Option<bool>("--remove-all-storage") { Description = "Also delete the pool volumes its disks use (when no other domain uses them)" };
            var nvram = new Option<bool>("--nvram") { Description = "Also delete its UEFI variable store (NVRAM)" };
            var keepNvram = new Option<bool>("--keep-nvram") { Description = "Keep its UEFI variable store (NVRAM)" };
            var tpm = new Option<bool>("--tpm") { Description = "Also delete its emulated TPM's state (the default)" };
            var keepTpm = new Option<bool>("--keep-tpm") { Description = "Keep its emulated TPM's state" };
            var cmd = new Command("undefine", "Undefine a domain (a running one goes on as transient)") { d, snaps, managed, storage, nvram, keepNvram, tpm, keepTpm };
            Client(cmd, async (pr, c, ct) =>
            {
                if (pr.GetValue(nvram) && pr.GetValue(keepNvram)) throw new CliException("--nvram and --keep-nvram exclude each other.");
                if (pr.GetValue(tpm) && pr.GetValue(keepTpm)) throw new CliException("--tpm and --keep-tpm exclude each other.");
                var info = await c.DomainAsync(pr.GetValue(d)!, ct);
                var q = string.Join("&", new[] { (snaps, "snapshotsMetadata"), (managed, "managedSave"), (storage, "removeAllStorage"), (nvram, "nvram") }
                    .Where(o => pr.GetValue(o.Item1)).Select(o => o.Item2 + "=true").Concat(pr.GetValue(keepNvram) ? ["nvram=false"] : [])
                    .Concat(pr.GetValue(keepTpm) ? ["keepTpm=true"] : []));
                var r = await c.JsonAsync("DELETE", $"v1/domains/{DaemonClient.E(info.Name)}{(q.Length > 0 ? "?" + q : "")}", ApiJson.Default.UndefineResult, null, ct);
                foreach (var w in r.Warnings) Console.Error.WriteLine($"warning: {w}");
                Console.WriteLine($"Domain '{info.Name}' has been undefined");
                foreach (var v in r.Removed) Console.WriteLine($"Volume '{v}' removed.");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var paused = new Option<bool>("--paused") { Description = "Leave the guest paused after start" };
            var console = new Option<bool>("--console") { Description = "Attach to the serial console after start" };
            var cmd = new Command("start", "Start a (previously defined) inactive domain") { d, paused, console };
            Client(cmd, async (pr, c, ct) =>
            {
                var name = pr.GetValue(d)!;
                var info = await c.ActAsync(name, "start", pr.GetValue(paused) ? "?paused=true" : "", ct);
                Console.WriteLine($"Domain '{info.Name}' started");
                if (pr.GetValue(console)) return await ConsoleSession.RunAsync(c, info.Name, false, ct);
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the guest to power off", DefaultValueFactory = _ => 60 };
            var noWait = new Option<bool>("--no-wait") { Description = "Press the power button and return at once" };
            var cmd = new Command("shutdown", "Gracefully shut down a domain (ACPI power button)") { d, timeout, noWait };
            Client(cmd, async (pr, c, ct) =>
            {
                var t = pr.GetValue(noWait) ? 0 : pr.GetValue(timeout);
                var info = await c.ActAsync(pr.GetValue(d)!, "shutdown", $"?timeout={t.ToString(CultureInfo.InvariantCulture)}", ct);
                Console.WriteLine(t == 0 ? $"Domain '{info.Name}' is being shutdown" : $"Domain '{info.Name}' has been shut down");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        Simple(root, "destroy", "Destroy (stop) a domain at once", "destroyed");
        Simple(root, "reboot", "Reboot a domain (ACPI)", "is being rebooted");
        Simple(root, "reset", "Reset a domain (like the reset button)", "was reset");
        Simple(root, "suspend", "Suspend (pause) a domain", "suspended");
        Simple(root, "resume", "Resume a suspended domain", "resumed");

        {
            var d = DomainArg();
            var cmd = new Command("dominfo", "Domain information") { d };
            Client(cmd, async (pr, c, ct) =>
            {
                var i = await c.DomainAsync(pr.GetValue(d)!, ct);
                Console.Write(Table.Pairs([
                    ("Id", i.Id?.ToString(CultureInfo.InvariantCulture) ?? "-"),
                    ("Name", i.Name),
                    ("UUID", i.Uuid),
                    ("OS Type", i.OsType),
                    ("State", i.State),
                    ("CPU(s)", i.Vcpus.ToString(CultureInfo.InvariantCulture)),
                    .. i.Id is null ? Array.Empty<(string, string)>() : [("CPU time", i.CpuTimeSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s")],
                    ("Max memory", $"{i.MaxMemoryKiB} KiB"),
                    ("Used memory", $"{i.MemoryKiB} KiB"),
                    ("Persistent", i.Persistent ? "yes" : "no"),
                    ("Autostart", i.Autostart ? "enable" : "disable"),
                    ("Managed save", "no"),
                    ("Security model", i.SecurityModel),
                    ("Security DOI", "0"),
                    .. i.SecurityLabel is { } label ? [("Security label", $"{label} (enforcing)")] : Array.Empty<(string, string)>(),
                ]));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var reason = new Option<bool>("--reason") { Description = "Also print the reason for the state" };
            var cmd = new Command("domstate", "Domain state") { d, reason };
            Client(cmd, async (pr, c, ct) =>
            {
                var i = await c.DomainAsync(pr.GetValue(d)!, ct);
                Console.WriteLine(pr.GetValue(reason) ? $"{i.State} ({i.Reason})" : i.State);
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        Lookup(root, "domid", "Convert a domain name or uuid to its id", i => i.Id?.ToString(CultureInfo.InvariantCulture) ?? "-");
        Lookup(root, "domuuid", "Convert a domain name or id to its uuid", i => i.Uuid);
        Lookup(root, "domname", "Convert a domain id or uuid to its name", i => i.Name);

        {
            var d = DomainArg();
            var inactive = new Option<bool>("--inactive") { Description = "Show the persistent definition, not the running one" };
            var security = new Option<bool>("--security-info") { Description = "Include security-sensitive information (display passwords)" };
            var cmd = new Command("dumpxml", "Domain information in XML") { d, inactive, security };
            Client(cmd, async (pr, c, ct) =>
            {
                var q = (pr.GetValue(inactive), pr.GetValue(security)) switch
                {
                    (true, true) => "?inactive=true&securityInfo=true", (true, false) => "?inactive=true", (false, true) => "?securityInfo=true", _ => "",
                };
                Console.Write(await c.TextAsync("GET", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/xml{q}", ct: ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            // virsh edit: the persistent definition (secrets included, so they survive) in $VISUAL or
            // $EDITOR (vi), defined again when it changed. A definition the daemon refuses stays in its file.
            var d = DomainArg();
            var cmd = new Command("edit", "Edit the XML configuration of a domain") { d };
            Client(cmd, async (pr, c, ct) =>
            {
                var name = pr.GetValue(d)!;
                var xml = await c.TextAsync("GET", $"v1/domains/{DaemonClient.E(name)}/xml?inactive=true&securityInfo=true", ct: ct);
                var dir = Directory.CreateTempSubdirectory("vireo-edit-").FullName;
                var file = Path.Combine(dir, $"{name}.xml");
                await File.WriteAllTextAsync(file, xml, ct);
                var editor = Environment.GetEnvironmentVariable("VISUAL") is { Length: > 0 } v ? v : Environment.GetEnvironmentVariable("EDITOR") is { Length: > 0 } e ? e : "vi";
                // The editor may carry arguments ("code -w"): the shell splits it, the file is passed apart.
                var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", editor + " \"$1\"", "vireo-edit", file } };
                using (var p = System.Diagnostics.Process.Start(psi)!)
                {
                    await p.WaitForExitAsync(ct);
                    if (p.ExitCode != 0) throw new CliException($"The editor '{editor}' exited with {p.ExitCode}; nothing was changed (the XML stays in {file}).");
                }
                var edited = await File.ReadAllTextAsync(file, ct);
                if (edited == xml)
                {
                    Directory.Delete(dir, true);
                    Console.WriteLine($"Domain '{name}' XML configuration not changed.");
                    return 0;
                }
                try { await c.TextAsync("POST", "v1/domains?format=tsv", DaemonClient.Xml(edited), ct); }
                catch (CliException ex) { throw new CliException($"{ex.Message}\nThe edited XML stays in {file}; fix it and run 'vireo define {file}'."); }
                Directory.Delete(dir, true);
                Console.WriteLine($"Domain '{name}' XML configuration edited.");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var disable = new Option<bool>("--disable") { Description = "Turn autostart off" };
            var cmd = new Command("autostart", "Start the domain when the daemon starts") { d, disable };
            Client(cmd, async (pr, c, ct) =>
            {
                var off = pr.GetValue(disable);
                var i = DomainInfoTsv.Read((await c.TextAsync("PUT", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/autostart?enable={(!off).ToString().ToLowerInvariant()}&format=tsv", null, ct)).TrimEnd('\n'));
                Console.WriteLine(off ? $"Domain '{i.Name}' unmarked as autostarted" : $"Domain '{i.Name}' marked as autostarted");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var force = new Option<bool>("--force") { Description = "Take over a console session that is already open" };
            var cmd = new Command("console", "Connect to the guest's serial console (escape with Ctrl+])") { d, force };
            Client(cmd, (pr, c, ct) => ConsoleSession.RunAsync(c, pr.GetValue(d)!, pr.GetValue(force), ct));
            root.Subcommands.Add(cmd);
        }

        {
            var d = DomainArg();
            var hmp = new Option<bool>("--hmp") { Description = "The command is a human monitor (HMP) command line" };
            var pretty = new Option<bool>("--pretty") { Description = "Indent the JSON reply" };
            var words = new Argument<string[]>("command") { Description = "QMP JSON, or an HMP command with --hmp", Arity = ArgumentArity.OneOrMore };
            var cmd = new Command("qemu-monitor-command", "Send a command to the QEMU monitor") { d, hmp, pretty, words };
            Client(cmd, async (pr, c, ct) =>
            {
                var req = new MonitorRequest(string.Join(' ', pr.GetValue(words)!), pr.GetValue(hmp));
                var body = DaemonClient.Json(req, ApiJson.Default.MonitorRequest);
                var r = await c.JsonAsync("POST", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/monitor", ApiJson.Default.MonitorReply, body, ct);
                var output = r.Output;
                if (!req.Hmp && pr.GetValue(pretty))
                    output = JsonSerializer.Serialize(JsonDocument.Parse(output).RootElement, new JsonSerializerOptions { WriteIndented = true });
                Console.Write(output.EndsWith('\n') ? output : output + "\n");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        root.Subcommands.Add(EventCommand());
        root.Subcommands.Add(NetEventCommand());
        root.Subcommands.Add(PoolEventCommand());
    }

    private static void Simple(RootCommand root, string verb, string description, string done)
    {
        var d = DomainArg();
        var cmd = new Command(verb, description) { d };
        Client(cmd, async (pr, c, ct) =>
        {
            var i = await c.ActAsync(pr.GetValue(d)!, verb, "", ct);
            Console.WriteLine($"Domain '{i.Name}' {done}");
            return 0;
        });
        root.Subcommands.Add(cmd);
    }

    private static void Lookup(RootCommand root, string verb, string description, Func<DomainInfo, string> pick)
    {
        var d = DomainArg();
        var cmd = new Command(verb, description) { d };
        Client(cmd, async (pr, c, ct) =>
        {
            Console.WriteLine(pick(await c.DomainAsync(pr.GetValue(d)!, ct)));
            Console.WriteLine();
            return 0;
        });
        root.Subcommands.Add(cmd);
    }

    private static Command ListCommand()
    {
        var all = new Option<bool>("--all") { Description = "List active and inactive domains" };
        var inactive = new Option<bool>("--inactive") { Description = "List inactive domains only" };
        var running = new Option<bool>("--state-running") { Description = "Running domains" };
        var paused = new Option<bool>("--state-paused") { Description = "Paused domains" };
        var shutoff = new Option<bool>("--state-shutoff") { Description = "Shut off domains" };
        var other = new Option<bool>("--state-other") { Description = "Domains in other states" };
        var persistent = new Option<bool>("--persistent") { Description = "Persistent domains" };
        var transient = new Option<bool>("--transient") { Description = "Transient domains" };
        var autostart = new Option<bool>("--autostart") { Description = "Domains marked autostart" };
        var noAutostart = new Option<bool>("--no-autostart") { Description = "Domains not marked autostart" };
        var name = new Option<bool>("--name") { Description = "Print names only" };
        var uuid = new Option<bool>("--uuid") { Description = "Print uuids only" };
        var title = new Option<bool>("--title") { Description = "Show titles" };
        var cmd = new Command("list", "List domains") { all, inactive, running, paused, shutoff, other, persistent, transient, autostart, noAutostart, name, uuid, title };
        Client(cmd, async (pr, c, ct) =>
        {
            var doms = await c.DomainsAsync(ct);
            bool stateFilter = pr.GetValue(running) || pr.GetValue(paused) || pr.GetValue(shutoff) || pr.GetValue(other);
            IEnumerable<DomainInfo> sel = doms;
            if (stateFilter)
                sel = sel.Where(x => (pr.GetValue(running) && x.State == "running") || (pr.GetValue(paused) && x.State == "paused")
                                     || (pr.GetValue(shutoff) && x.State == "shut off") || (pr.GetValue(other) && x.State is not ("running" or "paused" or "shut off")));
            else if (pr.GetValue(inactive)) sel = sel.Where(x => x.Id is null);
            else if (!pr.GetValue(all)) sel = sel.Where(x => x.Id is not null);
            if (pr.GetValue(persistent)) sel = sel.Where(x => x.Persistent);
            if (pr.GetValue(transient)) sel = sel.Where(x => !x.Persistent);
            if (pr.GetValue(autostart)) sel = sel.Where(x => x.Autostart);
            if (pr.GetValue(noAutostart)) sel = sel.Where(x => !x.Autostart);
            // virsh orders running domains by id, then inactive ones by name. (A Comparison, not
            // OrderBy/ThenBy over value-type keys: those generic instantiations cost JIT time here.)
            var list = sel.ToList();
            list.Sort(static (a, b) => (a.Id, b.Id) switch
            {
                (null, null) => string.CompareOrdinal(a.Name, b.Name),
                (null, _) => 1,
                (_, null) => -1,
                var (x, y) => x.Value.CompareTo(y.Value),
            });
            var sb = new StringBuilder();
            if (pr.GetValue(name) || pr.GetValue(uuid))
            {
                foreach (var x in list)
                    sb.Append(pr.GetValue(name) && pr.GetValue(uuid) ? $"{x.Uuid} {x.Name}" : pr.GetValue(name) ? x.Name : x.Uuid).Append('\n');
                sb.Append('\n');
            }
            else
            {
                var withTitle = pr.GetValue(title);
                string[] headers = withTitle ? ["Id", "Name", "State", "Title"] : ["Id", "Name", "State"];
                sb.Append(Table.Render(headers, list.Select(x =>
                {
                    var id = x.Id?.ToString(CultureInfo.InvariantCulture) ?? "-";
                    return withTitle ? new[] { id, x.Name, x.State, x.Title ?? "" } : [id, x.Name, x.State];
                })));
            }
            Console.Out.Write(sb.ToString());
            return 0;
        });
        return cmd;
    }

    private static Command EventCommand()
    {
        var domain = new Option<string?>("--domain") { Description = "Only events of this domain" };
        var all = new Option<bool>("--all") { Description = "All event kinds" };
        var ev = new Option<string?>("--event") { Description = "Only this event kind (lifecycle, reboot, device-added, device-removed, tray-change, block-job, snapshot, watchdog)" };
        var cmd = new Command("event", "Print domain events as they happen") { domain, all, ev };
        EventLoop(cmd, pr =>
        {
            if (!pr.GetValue(all) && pr.GetValue(ev) is null)
                throw new CliException("either --event or --all is required, e.g. 'vireo event --all --loop'.");
            return e => e.Kind is not ("network" or "pool" or "pool-refresh") && (pr.GetValue(domain) is not { } dn || dn == e.Domain) && (pr.GetValue(ev) is not { } kind || kind == e.Kind);
        }, e => e.Kind switch
        {
            "lifecycle" => $"event 'lifecycle' for domain '{e.Domain}': {e.Event} {e.Detail}",
            "device-added" or "device-removed" => $"event '{e.Kind}' for domain '{e.Domain}': {e.Detail}",
            "tray-change" => $"event 'tray-change' for domain '{e.Domain}' {e.Detail}",
            "snapshot" => $"event 'snapshot' for domain '{e.Domain}': {e.Event} {e.Detail}",
            "watchdog" => $"event 'watchdog' for domain '{e.Domain}': {e.Event}",
            "block-job" => $"event 'block-job' for domain '{e.Domain}': {(e.Detail.StartsWith("copy", StringComparison.Ordinal) ? "Block Copy" : "Active Block Commit")} for {e.Detail.Split(' ')[^1]} {e.Event.ToLowerInvariant()}",
            _ => $"event '{e.Kind}' for domain '{e.Domain}'",
        });
        return cmd;
    }

    private static Command NetEventCommand()
    {
        var network = new Option<string?>("--network") { Description = "Only events of this network" };
        var all = new Option<bool>("--all") { Description = "All event kinds" };
        var ev = new Option<string?>("--event") { Description = "Only this event kind (lifecycle)" };
        var cmd = new Command("net-event", "Print network events as they happen") { network, all, ev };
        EventLoop(cmd, pr =>
        {
            if (!pr.GetValue(all) && pr.GetValue(ev) is null)
                throw new CliException("either --event or --all is required, e.g. 'vireo net-event --all --loop'.");
            if (pr.GetValue(ev) is { } kind && kind != "lifecycle")
                throw new CliException($"unknown network event '{kind}'; networks have 'lifecycle' events.");
            return e => e.Kind == "network" && (pr.GetValue(network) is not { } n || n == e.Domain);
        }, e => $"event 'lifecycle' for network '{e.Domain}': {e.Event}");
        return cmd;
    }

    private static Command PoolEventCommand()
    {
        var pool = new Option<string?>("--pool") { Description = "Only events of this storage pool" };
        var all = new Option<bool>("--all") { Description = "All event kinds" };
        var ev = new Option<string?>("--event") { Description = "Only this event kind (lifecycle, refresh)" };
        var cmd = new Command("pool-event", "Print storage pool events as they happen") { pool, all, ev };
        EventLoop(cmd, pr =>
        {
            if (!pr.GetValue(all) && pr.GetValue(ev) is null)
                throw new CliException("either --event or --all is required, e.g. 'vireo pool-event --all --loop'.");
            var kind = pr.GetValue(ev) switch
            {
                null => null,
                "lifecycle" => "pool",
                "refresh" => "pool-refresh",
                var k => throw new CliException($"unknown storage pool event '{k}'; pools have 'lifecycle' and 'refresh' events."),
            };
            return e => e.Kind is "pool" or "pool-refresh" && (kind is null || e.Kind == kind) && (pr.GetValue(pool) is not { } p || p == e.Domain);
        }, e => e.Kind == "pool" ? $"event 'lifecycle' for storage pool {e.Domain}: {e.Event}" : $"event 'refresh' for storage pool {e.Domain}");
        return cmd;
    }

    /// <summary>The event stream shared by event, net-event and pool-event: --loop, --timeout, --timestamp, a count at the end.</summary>
    private static void EventLoop(Command cmd, Func<ParseResult, Func<EventInfo, bool>> filter, Func<EventInfo, string> format)
    {
        var loop = new Option<bool>("--loop") { Description = "Keep printing events until interrupted" };
        var timeout = new Option<double?>("--timeout") { Description = "Stop after this many seconds" };
        var timestamp = new Option<bool>("--timestamp") { Description = "Prefix each event with its time" };
        cmd.Options.Add(loop);
        cmd.Options.Add(timeout);
        cmd.Options.Add(timestamp);
        Client(cmd, async (pr, c, ct) =>
        {
            var wanted = filter(pr);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (pr.GetValue(timeout) is { } t) cts.CancelAfter(TimeSpan.FromSeconds(t));
            var count = 0;
            try
            {
                using var resp = await c.SendAsync("GET", "v1/events", null, cts.Token);
                using var reader = new StreamReader(resp.Body);
                while (await reader.ReadLineAsync(cts.Token) is { } line)
                {
                    var e = JsonSerializer.Deserialize(line, ApiJson.Default.EventInfo)!;
                    if (!wanted(e)) continue;
                    var prefix = pr.GetValue(timestamp) ? e.Time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fffzzz", CultureInfo.InvariantCulture) + ": " : "";
                    Console.WriteLine(prefix + format(e));
                    count++;
                    if (!pr.GetValue(loop)) break;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                Console.WriteLine("event loop timed out");
            }
            catch (OperationCanceledException) { }
            Console.WriteLine($"events received: {count}");
            return 0;
        });
    }
}
