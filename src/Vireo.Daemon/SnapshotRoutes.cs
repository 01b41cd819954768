using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Daemon;

/// <summary>The snapshot-* verbs.</summary>
internal static class SnapshotRoutes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        app.MapGet("/v1/domains/{d}/snapshots", (string d) =>
        {
            var vm = hv.Get(d);
            var all = vm.Snapshots();
            return Results.Json(all.Select(s => Info(vm, s, all)).ToArray(), ApiJson.Default.SnapshotInfoArray);
        });
        app.MapPost("/v1/domains/{d}/snapshots", async (string d, SnapshotRequest body, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var snap = body.Xml is not null ? await vm.CreateSnapshotAsync(body.Xml, body.DiskOnly, ct) : await vm.CreateSnapshotAsync(body.Name, body.Description, body.DiskOnly, ct);
            return Results.Json(Info(vm, snap, vm.Snapshots()), ApiJson.Default.SnapshotInfo, statusCode: 201);
        });
        app.MapGet("/v1/domains/{d}/snapshots/{s}", (string d, string s) =>
        {
            var vm = hv.Get(d);
            return Results.Json(Info(vm, vm.GetSnapshot(s), vm.Snapshots()), ApiJson.Default.SnapshotInfo);
        });
        app.MapGet("/v1/domains/{d}/snapshots/{s}/xml", (string d, string s) =>
        {
            var vm = hv.Get(d);
            return Results.Text(SnapshotXml.Write(vm.GetSnapshot(s), vm.CurrentSnapshot == s), "application/xml");
        });
        app.MapPost("/v1/domains/{d}/snapshots/{s}/revert", async (string d, string s, bool? paused, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            await vm.RevertSnapshotAsync(s, paused, ct);
            return Results.Json(Routes.Info(vm), ApiJson.Default.DomainInfo);
        });
        app.MapPost("/v1/domains/{d}/snapshots/{s}/delete", async (HttpContext ctx, string d, string s) =>
        {
            var vm = hv.Get(d);
            vm.GetSnapshot(s);
            await JobStream.RunAsync(ctx, async progress =>
            {
                await vm.DeleteSnapshotAsync(s, progress, ctx.RequestAborted);
                return new JobLine(null, null, null, $"Domain snapshot {s} deleted");
            });
        });
    }

    private static SnapshotInfo Info(Vm vm, SnapshotDef s, IReadOnlyList<SnapshotDef> all)
    {
        var children = all.Count(x => x.Parent == s.Name);
        var descendants = 0;
        var frontier = new Queue<string>([s.Name]);
        while (frontier.TryDequeue(out var n))
            foreach (var c in all.Where(x => x.Parent == n)) { descendants++; frontier.Enqueue(c.Name); }
        return new SnapshotInfo(s.Name, vm.Name, s.CreationTime, s.State, s.Parent, vm.CurrentSnapshot == s.Name,
            s.IsExternal ? "external" : "internal", s.Description, children, descendants);
    }
}
