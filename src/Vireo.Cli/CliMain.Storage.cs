using System.CommandLine;
using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json;
using Vireo.Api;
using Vireo.Model;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static Argument<string> PoolArg() => new("pool") { Description = "Pool name or uuid" };
    private static Argument<string> VolArg() => new("vol") { Description = "Volume name (with --pool) or path" };
    private static Option<string?> PoolOpt() => new("--pool") { Description = "Pool the volume is in" };

    private static void AddStorageCommands(RootCommand root)
    {
        AddPoolCommands(root);
        AddVolumeCommands(root);
    }

    private static void AddPoolCommands(RootCommand root)
    {
        {
            var file = new Argument<string>("file") { Description = "Pool XML file (libvirt format); - reads stdin" };
            var cmd = new Command("pool-define", "Define (but don't build or start) a pool from an XML file") { file };
            Client(cmd, async (pr, c, ct) =>
            {
                var path = pr.GetValue(file)!;
                var r = await c.JsonAsync("POST", "v1/pools", ApiJson.Default.DefineResult, DaemonClient.Xml(await ReadXmlArg(path, ct)), ct);
                Console.WriteLine($"Pool {r.Name} defined from {path}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var name = new Argument<string>("name") { Description = "Name of the pool" };
            var type = new Argument<string>("type") { Description = "Pool type (dir)" };
            var target = new Option<string>("--target") { Description = "The pool's directory", Required = true };
            var cmd = new Command("pool-define-as", "Define a pool from a name, type and target directory") { name, type, target };
            Client(cmd, async (pr, c, ct) =>
            {
                var xml = $"<pool type='{SecurityElement.Escape(pr.GetValue(type))}'><name>{SecurityElement.Escape(pr.GetValue(name))}</name><target><path>{SecurityElement.Escape(pr.GetValue(target))}</path></target></pool>";
                var r = await c.JsonAsync("POST", "v1/pools", ApiJson.Default.DefineResult, DaemonClient.Xml(xml), ct);
                Console.WriteLine($"Pool {r.Name} defined");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        PoolAction(root, "pool-build", "Build a pool: make its directory", "build", "built");
        PoolAction(root, "pool-start", "Start a (previously defined) inactive pool", "start", "started");
        PoolAction(root, "pool-destroy", "Destroy (stop) a pool; its directory and volumes stay", "destroy", "destroyed");
        PoolAction(root, "pool-refresh", "Refresh a pool: re-read its volumes", "refresh", "refreshed");
        {
            var p = PoolArg();
            var cmd = new Command("pool-undefine", "Undefine an inactive pool (its files stay)") { p };
            Client(cmd, async (pr, c, ct) =>
            {
                var info = await c.JsonAsync("GET", $"v1/pools/{DaemonClient.E(pr.GetValue(p)!)}", ApiJson.Default.PoolInfo, null, ct);
                (await c.SendAsync("DELETE", $"v1/pools/{DaemonClient.E(info.Name)}", null, ct)).Dispose();
                Console.WriteLine($"Pool {info.Name} has been undefined");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var p = PoolArg();
            var disable = new Option<bool>("--disable") { Description = "Turn autostart off" };
            var cmd = new Command("pool-autostart", "Start the pool when the daemon starts") { p, disable };
            Client(cmd, async (pr, c, ct) =>
            {
                var off = pr.GetValue(disable);
                var r = await c.JsonAsync("PUT", $"v1/pools/{DaemonClient.E(pr.GetValue(p)!)}/autostart?enable={(off ? "false" : "true")}", ApiJson.Default.PoolInfo, null, ct);
                Console.WriteLine(off ? $"Pool {r.Name} unmarked as autostarted" : $"Pool {r.Name} marked as autostarted");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var all = new Option<bool>("--all") { Description = "List active and inactive pools" };
            var inactive = new Option<bool>("--inactive") { Description = "List inactive pools only" };
            var details = new Option<bool>("--details") { Description = "Capacity, allocation and free space too" };
            var name = new Option<bool>("--name") { Description = "List pool names only" };
            var cmd = new Command("pool-list", "List pools") { all, inactive, details, name };
            Client(cmd, async (pr, c, ct) =>
            {
                var list = await c.JsonAsync("GET", "v1/pools", ApiJson.Default.PoolInfoArray, null, ct);
                var shown = list.Where(x => pr.GetValue(all) || (pr.GetValue(inactive) ? !x.Active : x.Active)).ToList();
                if (pr.GetValue(name))
                {
                    foreach (var x in shown) Console.WriteLine(x.Name);
                    Console.WriteLine();
                    return 0;
                }
                if (pr.GetValue(details))
                    Console.Write(Table.Render(["Name", "State", "Autostart", "Persistent", "Capacity", "Allocation", "Available"],
                        shown.Select(x => new[] { x.Name, x.Active ? "running" : "inactive", YesNo(x.Autostart), YesNo(x.Persistent),
                            x.Active ? Vireo.Model.Units.Bytes(x.Capacity) : "-", x.Active ? Vireo.Model.Units.Bytes(x.Allocation) : "-", x.Active ? Vireo.Model.Units.Bytes(x.Available) : "-" })));
                else
                    Console.Write(Table.Render(["Name", "State", "Autostart"], shown.Select(x => new[] { x.Name, x.Active ? "active" : "inactive", YesNo(x.Autostart) })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var p = PoolArg();
            var cmd = new Command("pool-info", "Pool information") { p };
            Client(cmd, async (pr, c, ct) =>
            {
                var i = await c.JsonAsync("GET", $"v1/pools/{DaemonClient.E(pr.GetValue(p)!)}", ApiJson.Default.PoolInfo, null, ct);
                var rows = new List<(string, string)> { ("Name", i.Name), ("UUID", i.Uuid), ("State", i.Active ? "running" : "inactive"), ("Persistent", YesNo(i.Persistent)), ("Autostart", YesNo(i.Autostart)) };
                if (i.Active) rows.AddRange([("Capacity", Vireo.Model.Units.Bytes(i.Capacity)), ("Allocation", Vireo.Model.Units.Bytes(i.Allocation)), ("Available", Vireo.Model.Units.Bytes(i.Available))]);
                Console.Write(Table.Pairs(rows));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var p = PoolArg();
            var inactive = new Option<bool>("--inactive") { Description = "Without live figures" };
            var cmd = new Command("pool-dumpxml", "Pool information in XML") { p, inactive };
            Client(cmd, async (pr, c, ct) =>
            {
                Console.Write(await c.TextAsync("GET", $"v1/pools/{DaemonClient.E(pr.GetValue(p)!)}/xml{(pr.GetValue(inactive) ? "?inactive=true" : "")}", null, ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }

    private static void PoolAction(RootCommand root, string verb, string help, string action, string done)
    {
        var p = PoolArg();
        var cmd = new Command(verb, help) { p };
        Client(cmd, async (pr, c, ct) =>
        {
            var r = await c.JsonAsync("POST", $"v1/pools/{DaemonClient.E(pr.GetValue(p)!)}/{action}", ApiJson.Default.PoolInfo, null, ct);
            Console.WriteLine($"Pool {r.Name} {done}");
            Console.WriteLine();
            return 0;
        });
        root.Subcommands.Add(cmd);
    }

    /// <summary>A size argument: "1G", "512M", "1073741824" (bytes); a negative one is an error, not a wrap-around.</summary>
    public static ulong ParseSize(string text, string what)
    {
        if (text.TrimStart().StartsWith('-'))
            throw new CliException($"{what} '{text}' is negative; sizes are 0 or more (to make a volume smaller use vol-resize --shrink).");
        if (!Units.TryParseSize(text, out var bytes))
            throw new CliException($"{what} '{text}' is not a size; write a number with an optional unit, like 10G, 512M or 1073741824.");
        return bytes;
    }

    /// <summary>Resolves a volume argument: a name with --pool, or a path (which must lie in --pool when one is given).</summary>
    private static async Task<VolumeInfo> VolAsync(DaemonClient c, string vol, string? pool, CancellationToken ct)
    {
        if (vol.StartsWith('/'))
        {
            var v = await c.JsonAsync("GET", $"v1/volumes?path={DaemonClient.E(vol)}", ApiJson.Default.VolumeInfo, null, ct);
            if (pool is not null)
            {
                var p = await c.JsonAsync("GET", $"v1/pools/{DaemonClient.E(pool)}", ApiJson.Default.PoolInfo, null, ct);
                if (v.Pool != p.Name) throw new CliException($"{vol} is not in pool '{p.Name}' ({p.Path}); it belongs to pool '{v.Pool}'.");
            }
            return v;
        }
        if (pool is null) throw new CliException($"Which pool holds volume '{vol}'? Add --pool POOL, or give the volume's full path.");
        return await c.JsonAsync("GET", $"v1/pools/{DaemonClient.E(pool)}/volumes/{DaemonClient.E(vol)}", ApiJson.Default.VolumeInfo, null, ct);
    }

    /// <summary>vol-path/vol-info for a path outside every pool get this rather than the daemon's lookup error when --pool names a pool.</summary>
    private static string VolUrl(VolumeInfo v) => $"v1/pools/{DaemonClient.E(v.Pool)}/volumes/{DaemonClient.E(v.Name)}";

    private static void AddVolumeCommands(RootCommand root)
    {
        {
            var pool = PoolArg();
            var name = new Argument<string>("name") { Description = "Name of the new volume" };
            var capacity = new Argument<string>("capacity") { Description = "Size of the volume, e.g. 10G (bytes without a unit)" };
            var allocation = new Option<string?>("--allocation") { Description = "Bytes to allocate up front (raw: that much of the file; equal to capacity: falloc)" };
            var format = new Option<string?>("--format") { Description = "raw (default) or qcow2" };
            var backing = new Option<string?>("--backing-vol") { Description = "Backing volume (name in this pool, or path): makes a qcow2 linked clone" };
            var backingFormat = new Option<string?>("--backing-vol-format") { Description = "Format of the backing volume (default: what qemu-img finds)" };
            var preallocMeta = new Option<bool>("--prealloc-metadata") { Description = "Preallocate qcow2 metadata" };
            var prealloc = new Option<string?>("--prealloc") { Description = "Preallocation mode: off, metadata (qcow2), falloc, full" };
            var printXml = new Option<bool>("--print-xml") { Description = "Print the volume XML instead of creating it" };
            var cmd = new Command("vol-create-as", "Create a volume from a set of arguments") { pool, name, capacity, allocation, format, backing, backingFormat, preallocMeta, prealloc, printXml };
            Client(cmd, async (pr, c, ct) =>
            {
                var cap = ParseSize(pr.GetValue(capacity)!, "Capacity");
                var alloc = pr.GetValue(allocation) is { } a ? ParseSize(a, "Allocation") : (ulong?)null;
                var fmt = pr.GetValue(format) ?? (pr.GetValue(backing) is null ? "raw" : "qcow2");
                var sb = new StringBuilder();
                sb.Append("<volume>\n  <name>").Append(SecurityElement.Escape(pr.GetValue(name))).Append("</name>\n");
                sb.Append("  <capacity unit='bytes'>").Append(cap).Append("</capacity>\n");
                if (alloc is { } al) sb.Append("  <allocation unit='bytes'>").Append(al).Append("</allocation>\n");
                sb.Append("  <target>\n    <format type='").Append(SecurityElement.Escape(fmt)).Append("'/>\n  </target>\n");
                if (pr.GetValue(backing) is { } b)
                {
                    sb.Append("  <backingStore>\n    <path>").Append(SecurityElement.Escape(b)).Append("</path>\n");
                    if (pr.GetValue(backingFormat) is { } bf) sb.Append("    <format type='").Append(SecurityElement.Escape(bf)).Append("'/>\n");
                    sb.Append("  </backingStore>\n");
                }
                sb.Append("</volume>\n");
                if (pr.GetValue(printXml)) { Console.Write(sb.ToString()); return 0; }
                var mode = pr.GetValue(prealloc) ?? (pr.GetValue(preallocMeta) ? "metadata" : null);
                var v = await c.JsonAsync("POST", $"v1/pools/{DaemonClient.E(pr.GetValue(pool)!)}/volumes{(mode is null ? "" : "?prealloc=" + DaemonClient.E(mode))}",
                    ApiJson.Default.VolumeInfo, DaemonClient.Xml(sb.ToString()), ct);
                Console.WriteLine($"Vol {v.Name} created");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var pool = PoolArg();
            var file = new Argument<string>("file") { Description = "Volume XML file; - reads stdin" };
            var prealloc = new Option<string?>("--prealloc") { Description = "Preallocation mode: off, metadata (qcow2), falloc, full" };
            var preallocMeta = new Option<bool>("--prealloc-metadata") { Description = "Preallocate qcow2 metadata" };
            var cmd = new Command("vol-create", "Create a volume from an XML file") { pool, file, prealloc, preallocMeta };
            Client(cmd, async (pr, c, ct) =>
            {
                var mode = pr.GetValue(prealloc) ?? (pr.GetValue(preallocMeta) ? "metadata" : null);
                var v = await c.JsonAsync("POST", $"v1/pools/{DaemonClient.E(pr.GetValue(pool)!)}/volumes{(mode is null ? "" : "?prealloc=" + DaemonClient.E(mode))}",
                    ApiJson.Default.VolumeInfo, DaemonClient.Xml(await ReadXmlArg(pr.GetValue(file)!, ct)), ct);
                Console.WriteLine($"Vol {v.Name} created from {pr.GetValue(file)}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var pool = PoolArg();
            var file = new Argument<string>("file") { Description = "Volume XML file for the new volume (its name and format)" };
            var vol = VolArg();
            var inputPool = new Option<string?>("--inputpool") { Description = "Pool of the source volume (default: the target pool)" };
            var cmd = new Command("vol-create-from", "Create a volume as a full copy of another, described by an XML file") { pool, file, vol, inputPool };
            Client(cmd, async (pr, c, ct) =>
            {
                VolumeDef def;
                try { def = StorageXml.ParseVolume(await ReadXmlArg(pr.GetValue(file)!, ct)); }
                catch (DefinitionException e) { throw new CliException(e.Message); }
                var src = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(inputPool) ?? pr.GetValue(pool), ct);
                var v = await CopyAsync(c, src, pr.GetValue(pool)!, def.Name, def.Format, ct);
                Console.WriteLine($"Vol {v.Name} created from input vol {src.Name}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var newName = new Argument<string>("newname") { Description = "Name of the copy" };
            var pool = PoolOpt();
            var newPool = new Option<string?>("--newpool") { Description = "Pool for the copy (default: the source's pool)" };
            var cmd = new Command("vol-clone", "Copy a volume to a new one (a full copy)") { vol, newName, pool, newPool };
            Client(cmd, async (pr, c, ct) =>
            {
                var src = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                var v = await CopyAsync(c, src, pr.GetValue(newPool) ?? src.Pool, pr.GetValue(newName)!, null, ct);
                Console.WriteLine($"Vol {v.Name} cloned from {src.Name}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var pool = PoolArg();
            var details = new Option<bool>("--details") { Description = "Type, capacity and allocation too" };
            var cmd = new Command("vol-list", "List the volumes of a pool") { pool, details };
            Client(cmd, async (pr, c, ct) =>
            {
                var list = await c.JsonAsync("GET", $"v1/pools/{DaemonClient.E(pr.GetValue(pool)!)}/volumes", ApiJson.Default.VolumeInfoArray, null, ct);
                if (pr.GetValue(details))
                    Console.Write(Table.Render(["Name", "Path", "Type", "Format", "Capacity", "Allocation"],
                        list.Select(v => new[] { v.Name, v.Path, v.Type, v.Format, Vireo.Model.Units.Bytes(v.Capacity), Vireo.Model.Units.Bytes(v.Allocation) })));
                else
                    Console.Write(Table.Render(["Name", "Path"], list.Select(v => new[] { v.Name, v.Path })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var pool = PoolOpt();
            var bytes = new Option<bool>("--bytes") { Description = "Sizes in bytes" };
            var cmd = new Command("vol-info", "Volume information") { vol, pool, bytes };
            Client(cmd, async (pr, c, ct) =>
            {
                var v = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                string Size(ulong b) => pr.GetValue(bytes) ? $"{b} bytes" : Vireo.Model.Units.Bytes(b);
                var rows = new List<(string, string)> { ("Name", v.Name), ("Type", v.Type), ("Format", v.Format), ("Capacity", Size(v.Capacity)), ("Allocation", Size(v.Allocation)), ("Physical", Size(v.Physical)) };
                if (v.BackingPath is not null) rows.Add(("Backing", v.BackingPath + (v.BackingFormat is null ? "" : $" ({v.BackingFormat})")));
                Console.Write(Table.Pairs(rows));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var pool = PoolOpt();
            var cmd = new Command("vol-dumpxml", "Volume information in XML") { vol, pool };
            Client(cmd, async (pr, c, ct) =>
            {
                var v = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                Console.Write(await c.TextAsync("GET", VolUrl(v) + "/xml", null, ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var pool = PoolOpt();
            var cmd = new Command("vol-path", "The path of a volume") { vol, pool };
            Client(cmd, async (pr, c, ct) =>
            {
                Console.WriteLine((await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct)).Path);
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var capacity = new Argument<string>("capacity") { Description = "New size (or with --delta, the size to add)" };
            var pool = PoolOpt();
            var delta = new Option<bool>("--delta") { Description = "Add the capacity to the current size (with --shrink: take it away)" };
            var shrink = new Option<bool>("--shrink") { Description = "Allow making the volume smaller (what lies past the new end is lost)" };
            var cmd = new Command("vol-resize", "Resize a volume") { vol, capacity, pool, delta, shrink };
            Client(cmd, async (pr, c, ct) =>
            {
                var v = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                var size = ParseSize(pr.GetValue(capacity)!, "Capacity");
                var body = JsonSerializer.SerializeToUtf8Bytes(new VolumeResizeRequest(size, pr.GetValue(delta), pr.GetValue(shrink)), ApiJson.Default.VolumeResizeRequest);
                var r = await c.JsonAsync("POST", VolUrl(v) + "/resize", ApiJson.Default.VolumeInfo, new Body(body, "application/json"), ct);
                Console.WriteLine($"Size of volume '{r.Name}' successfully changed to {pr.GetValue(capacity)}");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var pool = PoolOpt();
            var force = new Option<bool>("--force") { Description = "Delete even when a domain or another volume uses it" };
            var cmd = new Command("vol-delete", "Delete a volume") { vol, pool, force };
            Client(cmd, async (pr, c, ct) =>
            {
                var v = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                (await c.SendAsync("DELETE", VolUrl(v) + (pr.GetValue(force) ? "?force=true" : ""), null, ct)).Dispose();
                Console.WriteLine($"Vol {v.Name} deleted");
                Console.WriteLine();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var file = new Argument<string>("file") { Description = "Local file to read" };
            var pool = PoolOpt();
            var offset = new Option<string?>("--offset") { Description = "Where in the volume to start writing" };
            var length = new Option<string?>("--length") { Description = "How many bytes to upload (default: the whole file)" };
            var cmd = new Command("vol-upload", "Upload a file into a volume") { vol, file, pool, offset, length };
            Client(cmd, async (pr, c, ct) =>
            {
                var v = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                var off = pr.GetValue(offset) is { } o ? ParseSize(o, "Offset") : 0;
                FileStream f;
                try { f = File.OpenRead(pr.GetValue(file)!); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"Cannot read '{pr.GetValue(file)}': {e.Message}"); }
                await using var _ = f;
                var len = pr.GetValue(length) is { } l ? (long)Math.Min(ParseSize(l, "Length"), (ulong)f.Length) : f.Length;
                var bar = new ProgressBar($"Uploading {Path.GetFileName(pr.GetValue(file))}");
                using var resp = await UnixHttp.SendStreamAsync(c.Endpoint, "PUT", VolUrl(v) + $"/data?offset={off}&length={len}", f, len,
                    sent => bar.Report(len == 0 ? 100 : sent * 100.0 / len, sent), ct);
                if (!resp.Ok) throw new CliException(await DaemonClient.ErrorText(resp, ct));
                bar.Done(len);
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var vol = VolArg();
            var file = new Argument<string>("file") { Description = "Local file to write" };
            var pool = PoolOpt();
            var offset = new Option<string?>("--offset") { Description = "Where in the volume to start reading" };
            var length = new Option<string?>("--length") { Description = "How many bytes to download (default: to the end)" };
            var cmd = new Command("vol-download", "Download a volume's content into a file") { vol, file, pool, offset, length };
            Client(cmd, async (pr, c, ct) =>
            {
                var v = await VolAsync(c, pr.GetValue(vol)!, pr.GetValue(pool), ct);
                var q = $"?offset={(pr.GetValue(offset) is { } o ? ParseSize(o, "Offset") : 0)}" + (pr.GetValue(length) is { } l ? $"&length={ParseSize(l, "Length")}" : "");
                using var resp = await c.SendAsync("GET", VolUrl(v) + "/data" + q, null, ct);
                var total = resp.Headers.TryGetValue("Content-Length", out var cl) && long.TryParse(cl, out var n) ? n : (long)v.Physical;
                var bar = new ProgressBar($"Downloading {v.Name}");
                long got = 0;
                try
                {
                    await using var f = new FileStream(pr.GetValue(file)!, FileMode.Create, FileAccess.Write);
                    var buf = new byte[1 << 20];
                    int r;
                    while ((r = resp.Body.Read(buf, 0, buf.Length)) > 0)
                    {
                        f.Write(buf, 0, r);
                        got += r;
                        bar.Report(total == 0 ? 100 : got * 100.0 / total, got);
                    }
                }
                catch (UnauthorizedAccessException e) { throw new CliException($"Cannot write '{pr.GetValue(file)}': {e.Message}"); }
                if (got != total) throw new CliException($"The download of '{v.Name}' ended after {got} of {total} bytes.");
                bar.Done(got);
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }

    /// <summary>Runs a copy job on the daemon, drawing its progress; returns the new volume.</summary>
    private static async Task<VolumeInfo> CopyAsync(DaemonClient c, VolumeInfo src, string pool, string name, string? format, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new VolumeCopyRequest(src.Pool, src.Name, name, format), ApiJson.Default.VolumeCopyRequest);
        var bar = new ProgressBar($"Copying {src.Name} to {name}");
        var done = await JobAsync(c, $"v1/pools/{DaemonClient.E(pool)}/volumes/copy", new Body(body, "application/json"), bar, ct);
        bar.Done((long)src.Capacity);
        return done.Volume!;
    }

    /// <summary>A job with a progress bar labelled <paramref name="label"/>, its summary on stderr and its message on stdout.</summary>
    internal static async Task<int> ShowJobAsync(DaemonClient c, string path, Body? body, string label, CancellationToken ct)
    {
        var bar = new ProgressBar(label);
        var done = await JobAsync(c, path, body, bar, ct);
        bar.Done();
        Console.WriteLine(done.Message);
        return 0;
    }

    /// <summary>Reads a job's NDJSON stream: progress lines to the bar, then the result (or its error).</summary>
    internal static async Task<JobLine> JobAsync(DaemonClient c, string path, Body? body, ProgressBar bar, CancellationToken ct)
    {
        using var resp = await c.SendAsync("POST", path, body, ct);
        using var reader = new StreamReader(resp.Body, Encoding.UTF8);
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0) continue;
            var j = JsonSerializer.Deserialize(line, ApiJson.Default.JobLine)!;
            if (j.Progress is { } p) { bar.Report(p); continue; }
            if (j.Error is { } err) throw new CliException(err);
            return j;
        }
        throw new CliException("the daemon ended the job without a result.");
    }
}
