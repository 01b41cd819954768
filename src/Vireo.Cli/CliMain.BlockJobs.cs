using System.CommandLine;
using System.Text.Json;
using Vireo.Api;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static string DiskUrl(string domain, string target) => $"v1/domains/{DaemonClient.E(domain)}/disks/{DaemonClient.E(target)}";

    private static void AddBlockJobCommands(RootCommand root)
    {
        {
            var d = DomainArg();
            var path = new Argument<string>("path") { Description = "Disk target (vda) or source path" };
            var size = new Argument<string>("size") { Description = "New size, e.g. 20G (bytes without a unit)" };
            var cmd = new Command("blockresize", "Grow a disk of a running domain") { d, path, size };
            Client(cmd, async (pr, c, ct) =>
            {
                var body = JsonSerializer.SerializeToUtf8Bytes(new BlockResizeRequest(ParseSize(pr.GetValue(size)!, "Size")), ApiJson.Default.BlockResizeRequest);
                (await c.SendAsync("POST", DiskUrl(pr.GetValue(d)!, pr.GetValue(path)!) + "/resize", new Body(body, "application/json"), ct)).Dispose();
                Console.WriteLine($"Block device '{pr.GetValue(path)}' is resized");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var path = new Argument<string>("path") { Description = "Disk target (vda) or source path" };
            var dest = new Argument<string>("dest") { Description = "The new image to copy into" };
            var format = new Option<string>("--format") { Description = "Format of the copy: qcow2 or raw", DefaultValueFactory = _ => "qcow2" };
            var wait = new Option<bool>("--wait") { Description = "Wait for the copy (with --pivot or --finish to end it)" };
            var pivot = new Option<bool>("--pivot") { Description = "Switch the guest onto the copy when done" };
            var finish = new Option<bool>("--finish") { Description = "End the job when done; the guest stays on its image" };
            var verbose = new Option<bool>("--verbose") { Description = "Show progress (always shown on a terminal)" };
            var cmd = new Command("blockcopy", "Copy a disk of a running domain into a new image") { d, path, dest, format, wait, pivot, finish, verbose };
            Client(cmd, async (pr, c, ct) =>
            {
                if (pr.GetValue(pivot) && pr.GetValue(finish)) throw new CliException("Use --pivot or --finish, not both.");
                var w = pr.GetValue(wait) || pr.GetValue(pivot) || pr.GetValue(finish);
                var req = new BlockCopyRequest(Path.GetFullPath(pr.GetValue(dest)!), pr.GetValue(format)!, w, pr.GetValue(pivot));
                var body = DaemonClient.Json(req, ApiJson.Default.BlockCopyRequest);
                var url = DiskUrl(pr.GetValue(d)!, pr.GetValue(path)!) + "/copy";
                if (!w)
                {
                    (await c.SendAsync("POST", url, body, ct)).Dispose();
                    Console.WriteLine("Block Copy started");
                    return 0;
                }
                return await ShowJobAsync(c, url, body, "Block Copy", ct);
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var path = new Argument<string>("path") { Description = "Disk target (vda) or source path" };
            var active = new Option<bool>("--active") { Description = "Commit the active layer (required: the top overlay goes into the image below)" };
            var pivot = new Option<bool>("--pivot") { Description = "Switch the guest onto the image below when done (required)" };
            var wait = new Option<bool>("--wait") { Description = "Accepted: blockcommit always waits" };
            var verbose = new Option<bool>("--verbose") { Description = "Show progress (always shown on a terminal)" };
            var delete = new Option<bool>("--delete") { Description = "Delete the merged overlay file afterwards" };
            var cmd = new Command("blockcommit", "Merge a running disk's top overlay into the image below it") { d, path, active, pivot, wait, verbose, delete };
            Client(cmd, async (pr, c, ct) =>
            {
                if (!pr.GetValue(active) || !pr.GetValue(pivot))
                    throw new CliException("blockcommit merges the active layer and pivots: give --active --pivot (snapshot-delete merges the layers snapshots made).");
                var body = DaemonClient.Json(new BlockCommitRequest(pr.GetValue(delete)), ApiJson.Default.BlockCommitRequest);
                return await ShowJobAsync(c, DiskUrl(pr.GetValue(d)!, pr.GetValue(path)!) + "/commit", body, "Block Commit", ct);
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var path = new Argument<string>("path") { Description = "Disk target (vda) or source path" };
            var info = new Option<bool>("--info") { Description = "Show the job's progress (default)" };
            var abort = new Option<bool>("--abort") { Description = "Stop the job (a copy's file is removed)" };
            var pivot = new Option<bool>("--pivot") { Description = "End a copy in its mirroring phase by switching onto the copy" };
            var cmd = new Command("blockjob", "Show or end the block job on a disk") { d, path, info, abort, pivot };
            Client(cmd, async (pr, c, ct) =>
            {
                var dom = pr.GetValue(d)!;
                var target = pr.GetValue(path)!;
                if (pr.GetValue(abort) || pr.GetValue(pivot))
                {
                    (await c.SendAsync("POST", DiskUrl(dom, target) + $"/job?action={(pr.GetValue(abort) ? "abort" : "pivot")}", null, ct)).Dispose();
                    Console.WriteLine(pr.GetValue(abort) ? "Block job aborted" : "Successfully pivoted");
                    return 0;
                }
                var jobs = await c.JsonAsync("GET", $"v1/domains/{DaemonClient.E(dom)}/blockjobs", ApiJson.Default.BlockJobInfoArray, null, ct);
                if (jobs.FirstOrDefault(j => j.Target == target || j.Destination == target) is not { } job)
                {
                    Console.WriteLine($"No current block job for {target}");
                    return 0;
                }
                var pct = job.Total == 0 ? 0 : (int)(job.Current * 100 / job.Total);
                Console.WriteLine($"{job.Kind}: [{pct,3} %]{(job.Status == "ready" ? " (ready to pivot or finish)" : "")}");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }
}
