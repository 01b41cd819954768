using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Vireo.Api;
using Vireo.Engine;

namespace Vireo.Daemon;

/// <summary>save, restore, managedsave and what a host shutdown does to guests.</summary>
internal static class SaveRoutes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        app.MapPost("/v1/domains/{d}/save", async (HttpContext ctx, string d, SaveRequest body) =>
        {
            var vm = hv.Get(d);
            if (body.Path is null) throw new VireoException(ErrorCode.InvalidArgument, "save needs the file to write the guest's state to: give \"path\" (an absolute path), or use managedsave.");
            vm.CheckSave(body.Path);
            await JobStream.RunAsync(ctx, async progress =>
            {
                await vm.SaveAsync(body.Path, body.Running, progress, ctx.RequestAborted);
                return new JobLine(null, null, null, $"Domain '{vm.Name}' saved to {body.Path}");
            });
        });
        app.MapPost("/v1/domains/{d}/managedsave", async (HttpContext ctx, string d, SaveRequest body) =>
        {
            var vm = hv.Get(d);
            vm.CheckSave(null);
            await JobStream.RunAsync(ctx, async progress =>
            {
                await vm.ManagedSaveAsync(body.Running, progress, ctx.RequestAborted);
                return new JobLine(null, null, null, $"Domain '{vm.Name}' state saved by Vireo");
            });
        });
        app.MapDelete("/v1/domains/{d}/managedsave", (string d) =>
        {
            hv.Get(d).RemoveManagedSave();
            return Results.NoContent();
        });
        app.MapPost("/v1/restore", async (RestoreRequest body, CancellationToken ct) =>
            Results.Json(Routes.Info(await hv.RestoreAsync(body.Path, body.Paused, ct)), ApiJson.Default.DomainInfo));
        app.MapPost("/v1/import", async (HttpContext ctx, ImportRequest b) =>
        {
            if (b.DiskBus is not (null or "virtio" or "sata" or "scsi" or "ide"))
                throw new VireoException(ErrorCode.InvalidArgument, $"Disk bus '{b.DiskBus}' is not known; use virtio, sata, scsi or ide.");
            hv.Storage.GetActive(b.Pool);
            await JobStream.RunAsync(ctx, async progress =>
            {
                var r = await Importer.ImportAsync(hv, new ImportOptions(b.Source, b.Name, b.Pool, b.Format, b.MemoryMiB, b.Vcpus, b.Network, b.DiskBus,
                    b.Kernel, b.Initrd, b.Cmdline), progress, ctx.RequestAborted);
                return new JobLine(null, null, null, r.Summary);
            });
        });
        app.MapPost("/v1/host/shutdown-guests", async (double? timeout, CancellationToken ct) =>
        {
            var t = TimeSpan.FromSeconds(timeout ?? 120);
            var results = await Task.WhenAll(hv.All().Where(v => v.IsActive).Select(async vm =>
            {
                var action = HostShutdown.ActionOf(vm.Def);
                try
                {
                    switch (action)
                    {
                        case "save" when vm.Persistent:
                            await vm.ManagedSaveAsync(null, null, ct);
                            return new GuestShutdownResult(vm.Name, action, true, "state saved; the next start resumes it");
                        case "none":
                            return new GuestShutdownResult(vm.Name, action, true, "left running");
                        default:
                            var done = await vm.ShutdownAsync(t, ct);
                            return new GuestShutdownResult(vm.Name, "shutdown", done, done ? "shut down" : $"did not shut down within {t.TotalSeconds:0} s");
                    }
                }
                catch (VireoException e)
                {
                    return new GuestShutdownResult(vm.Name, action, false, e.Message);
                }
            }));
            return Results.Json(results.OrderBy(r => r.Domain, StringComparer.Ordinal).ToArray(), ApiJson.Default.GuestShutdownResultArray);
        });
    }
}
