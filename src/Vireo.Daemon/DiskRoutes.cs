using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Daemon;

/// <summary>Disks of domains: domblklist, domblkinfo, domblkstat, attach-disk, detach-disk, change-media; attach/detach/update-device.</summary>
internal static class DiskRoutes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        app.MapGet("/v1/domains/{d}/disks", (string d, bool? inactive) =>
            Results.Json(hv.Get(d).Disks(inactive == true).Select(Info).ToArray(), ApiJson.Default.DiskInfoArray));

        app.MapGet("/v1/domains/{d}/disks/{target}/info", async (string d, string target, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var (disk, capacity, allocation, physical) = await vm.BlockInfoAsync(target, ct);
            return Results.Json(new BlockInfo(disk, capacity, allocation, physical), ApiJson.Default.BlockInfo);
        });

        app.MapGet("/v1/domains/{d}/blockstats", async (string d, CancellationToken ct) =>
        {
            var stats = await hv.Get(d).BlockStatsAsync(ct);
            static long N(JsonObject o, string k) => o[k]?.GetValue<long>() ?? 0;
            return Results.Json(stats.Select(s => new BlockStatInfo(s.Target, N(s.Stats, "rd_operations"), N(s.Stats, "rd_bytes"), N(s.Stats, "wr_operations"),
                N(s.Stats, "wr_bytes"), N(s.Stats, "flush_operations"), N(s.Stats, "rd_total_time_ns"), N(s.Stats, "wr_total_time_ns"),
                N(s.Stats, "flush_total_time_ns"))).ToArray(), ApiJson.Default.BlockStatInfoArray);
        });

        app.MapPost("/v1/domains/{d}/disks", async (string d, DiskRequest body, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var disk = DeviceSpecs.Disk(hv, body.Source, body.Target, body.Pool, body.Bus, body.Device, body.Format, body.Cache, body.ReadOnly, body.Shareable, body.Serial);
            var (live, config) = DeviceSpecs.Scope(vm, body.Live, body.Config);
            var done = await vm.AttachDiskAsync(disk, live, config, ct);
            return Results.Json(Info(vm.FindDisk(done.TargetDev, inactive: !live)), ApiJson.Default.DiskInfo);
        });

        app.MapPost("/v1/domains/{d}/disks/detach", async (string d, DiskRequest body, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var (live, config) = DeviceSpecs.Scope(vm, body.Live, body.Config);
            var gone = await vm.DetachDiskAsync(body.Target, live, config, ct);
            // 202: asked of the guest, which has not let go yet (libvirt's detach returns then too).
            return Results.Json(Info(gone), ApiJson.Default.DiskInfo, statusCode: vm.RemovalPending(gone.Alias) ? 202 : 200);
        });

        // attach-device, detach-device, update-device: the device as libvirt XML in the body.
        app.MapPost("/v1/domains/{d}/devices/{action}", async (HttpRequest req, string d, string action, bool? live, bool? config, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var xml = await new StreamReader(req.Body, System.Text.Encoding.UTF8).ReadToEndAsync(ct);
            var (l, c) = DeviceSpecs.Scope(vm, live == true, config == true);
            switch (action)
            {
                case "attach": await vm.AttachDeviceAsync(xml, l, c, ct); break;
                case "detach": if (await vm.DetachDeviceAsync(xml, l, c, ct)) return Results.Accepted(); break;
                case "update": await vm.UpdateDeviceAsync(xml, l, c, ct); break;
                default: throw new VireoException(ErrorCode.NotFound, $"Unknown device action '{action}'; use attach, detach or update.");
            }
            return Results.NoContent();
        });

        app.MapPost("/v1/domains/{d}/media", async (string d, MediaRequest body, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var (live, config) = DeviceSpecs.Scope(vm, body.Live, body.Config);
            if (!body.Eject && string.IsNullOrEmpty(body.Source))
                throw new VireoException(ErrorCode.InvalidArgument, "change-media needs a source to insert or update, or --eject.");
            var source = body.Eject ? null : Path.GetFullPath(body.Source!);
            await vm.ChangeMediaAsync(body.Target, source, live, config, ct); // the tray is always forced open: guests lock it
            return Results.NoContent();
        });
    }

    public static void MapJobs(WebApplication app, Hypervisor hv)
    {
        app.MapPost("/v1/domains/{d}/disks/{t}/resize", async (string d, string t, BlockResizeRequest body, CancellationToken ct) =>
        {
            await hv.Get(d).BlockResizeAsync(t, body.Size, ct);
            return Results.NoContent();
        });
        app.MapPost("/v1/domains/{d}/disks/{t}/copy", async (HttpContext ctx, string d, string t, BlockCopyRequest body) =>
        {
            var vm = hv.Get(d);
            if (!Path.IsPathFullyQualified(body.Destination))
                throw new VireoException(ErrorCode.InvalidArgument, $"The copy's destination must be an absolute path, not '{body.Destination}'.");
            if (!body.Wait)
            {
                await vm.BlockCopyAsync(t, body.Destination, body.Format, wait: false, pivot: false, null, ctx.RequestAborted);
                ctx.Response.StatusCode = 202;
                return;
            }
            await JobStream.RunAsync(ctx, async progress =>
            {
                await vm.BlockCopyAsync(t, body.Destination, body.Format, wait: true, body.Pivot, progress, ctx.RequestAborted);
                return new JobLine(null, null, null, body.Pivot ? "Successfully pivoted" : "Successfully copied");
            });
        });
        app.MapPost("/v1/domains/{d}/disks/{t}/commit", async (HttpContext ctx, string d, string t, BlockCommitRequest body) =>
        {
            var vm = hv.Get(d);
            await JobStream.RunAsync(ctx, async progress =>
            {
                await vm.BlockCommitAsync(t, body.Delete, progress, ctx.RequestAborted);
                return new JobLine(null, null, null, "Successfully pivoted");
            });
        });
        app.MapGet("/v1/domains/{d}/blockjobs", async (string d, CancellationToken ct) =>
            Results.Json((await hv.Get(d).BlockJobsAsync(ct)).Select(j => new BlockJobInfo(j.Target, j.Kind, j.Status, j.Current, j.Total, j.Destination)).ToArray(),
                ApiJson.Default.BlockJobInfoArray));
        app.MapPost("/v1/domains/{d}/disks/{t}/job", async (string d, string t, string action, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            switch (action)
            {
                case "abort": await vm.AbortCopyAsync(t, ct); break;
                case "pivot": await vm.FinishCopyAsync(t, pivot: true, ct); break;
                case "finish": await vm.FinishCopyAsync(t, pivot: false, ct); break;
                default: throw new VireoException(ErrorCode.InvalidArgument, $"Unknown block job action '{action}'; use abort, pivot or finish.");
            }
            return Results.NoContent();
        });
    }

    private static DiskInfo Info(DiskReport d) =>
        new(d.Target, d.Type, d.Device, d.Bus, d.Source, d.Format, d.Pool, d.Volume, d.ReadOnly);
}
