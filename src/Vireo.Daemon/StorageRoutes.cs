using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Daemon;

/// <summary>The pool-* and vol-* verbs.</summary>
internal static class StorageRoutes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        var st = hv.Storage;
        app.MapGet("/v1/pools", () => Results.Json(st.All().Select(Info).ToArray(), ApiJson.Default.PoolInfoArray));
        app.MapPost("/v1/pools", async (HttpRequest req) =>
        {
            var xml = await new StreamReader(req.Body, Encoding.UTF8).ReadToEndAsync();
            var (p, created) = st.Define(xml);
            return Results.Json(new DefineResult(p.Name, p.Uuid.ToString(), created), ApiJson.Default.DefineResult, statusCode: created ? 201 : 200);
        });
        app.MapGet("/v1/pools/{p}", (string p) => Results.Json(Info(st.Get(p)), ApiJson.Default.PoolInfo));
        app.MapDelete("/v1/pools/{p}", (string p) => { st.Undefine(p); return Results.NoContent(); });
        app.MapGet("/v1/pools/{p}/xml", (string p, bool? inactive) =>
        {
            var pool = st.Get(p);
            return Results.Text(StorageXml.WritePool(pool.Def, inactive == true ? null : StorageManager.Space(pool)), "application/xml");
        });
        app.MapPost("/v1/pools/{p}/build", (string p) => { st.Build(p); return Results.Json(Info(st.Get(p)), ApiJson.Default.PoolInfo); });
        app.MapPost("/v1/pools/{p}/start", async (string p, CancellationToken ct) => { await st.StartAsync(p, ct); return Results.Json(Info(st.Get(p)), ApiJson.Default.PoolInfo); });
        app.MapPost("/v1/pools/{p}/destroy", async (string p, CancellationToken ct) => { await st.DestroyAsync(p, ct); return Results.Json(Info(st.Get(p)), ApiJson.Default.PoolInfo); });
        app.MapPost("/v1/pools/{p}/refresh", async (string p, CancellationToken ct) => { await st.RefreshAsync(p, ct); return Results.Json(Info(st.Get(p)), ApiJson.Default.PoolInfo); });
        app.MapPut("/v1/pools/{p}/autostart", (string p, bool? enable) => { st.SetAutostart(p, enable != false); return Results.Json(Info(st.Get(p)), ApiJson.Default.PoolInfo); });

        app.MapGet("/v1/pools/{p}/volumes", (string p) => Results.Json(st.GetActive(p).Volumes().Select(Info).ToArray(), ApiJson.Default.VolumeInfoArray));
        app.MapPost("/v1/pools/{p}/volumes", async (HttpRequest req, string p, string? prealloc, CancellationToken ct) =>
        {
            var xml = await new StreamReader(req.Body, Encoding.UTF8).ReadToEndAsync(ct);
            var def = StorageManager.ParseVolume(xml);
            Prealloc? mode = prealloc switch
            {
                null => null,
                "off" => Prealloc.Off,
                "metadata" => Prealloc.Metadata,
                "falloc" => Prealloc.Falloc,
                "full" => Prealloc.Full,
                _ => throw new VireoException(ErrorCode.InvalidArgument, $"Unknown preallocation '{prealloc}'; use off, metadata, falloc or full."),
            };
            var v = await st.CreateAsync(p, def, mode, ct);
            return Results.Json(Info(v), ApiJson.Default.VolumeInfo, statusCode: 201);
        });
        app.MapPost("/v1/pools/{p}/volumes/copy", async (HttpContext ctx, string p, VolumeCopyRequest body) =>
        {
            var source = st.GetVolume(body.SourcePool, body.SourceVolume);
            st.GetActive(p);
            await JobStream.RunAsync(ctx, async progress =>
            {
                var v = await st.CopyAsync(source, p, body.Name, body.Format, progress, ctx.RequestAborted);
                return new JobLine(null, null, Info(v), null);
            });
        });
        app.MapGet("/v1/pools/{p}/volumes/{v}", (string p, string v) => Results.Json(Info(st.GetVolume(p, v)), ApiJson.Default.VolumeInfo));
        app.MapGet("/v1/pools/{p}/volumes/{v}/xml", (string p, string v) =>
        {
            var vol = st.GetVolume(p, v);
            return Results.Text(StorageXml.WriteVolume(vol.ToDef(), vol.Path, vol.Allocation, vol.Physical), "application/xml");
        });
        app.MapDelete("/v1/pools/{p}/volumes/{v}", async (string p, string v, bool? force, CancellationToken ct) =>
        {
            await st.DeleteAsync(p, v, force == true, ct);
            return Results.NoContent();
        });
        app.MapPost("/v1/pools/{p}/volumes/{v}/resize", async (string p, string v, VolumeResizeRequest body, CancellationToken ct) =>
        {
            var capacity = StorageManager.ResizeTarget(st.GetVolume(p, v), body.Capacity, body.Delta, body.Shrink);
            return Results.Json(Info(await st.ResizeAsync(p, v, capacity, body.Shrink, ct)), ApiJson.Default.VolumeInfo);
        });
        app.MapPut("/v1/pools/{p}/volumes/{v}/data", async (HttpRequest req, string p, string v, long? offset, long? length, CancellationToken ct) =>
            Results.Json(Info(await st.UploadAsync(p, v, req.Body, offset ?? 0, length, ct)), ApiJson.Default.VolumeInfo));
        app.MapGet("/v1/pools/{p}/volumes/{v}/data", async (HttpContext ctx, string p, string v, long? offset, long? length) =>
        {
            var (f, count) = st.OpenRead(p, v, offset ?? 0, length);
            await using var _ = f;
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = count;
            var buf = new byte[1 << 20];
            while (count > 0)
            {
                var n = await f.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, count)), ctx.RequestAborted);
                if (n == 0) break;
                await ctx.Response.Body.WriteAsync(buf.AsMemory(0, n), ctx.RequestAborted);
                count -= n;
            }
        });
        app.MapGet("/v1/volumes", (string path) =>
            Results.Json(Info(st.FindByPath(path) ?? throw new VireoException(ErrorCode.NotFound,
                $"Storage volume not found: {path} is not a volume of an active pool. 'vireo pool-list' shows the pools; 'vireo pool-refresh POOL' picks up files copied in by hand.")), ApiJson.Default.VolumeInfo));
    }

    internal static PoolInfo Info(StoragePool p)
    {
        var (cap, alloc, avail) = StorageManager.Space(p);
        return new PoolInfo(p.Name, p.Uuid.ToString(), p.IsActive, true, p.Autostart, p.Def.Type, p.Dir, cap, alloc, avail, p.Volumes().Count);
    }

    internal static VolumeInfo Info(VolumeState v) =>
        new(v.Pool, v.Name, v.Path, "file", v.Format, v.Capacity, v.Allocation, v.Physical, v.BackingPath, v.BackingFormat);
}

/// <summary>
/// A long job over HTTP: NDJSON lines of progress, then the result line (or an error line, since
/// the 200 status has gone out with the first progress line).
/// </summary>
internal static class JobStream
{
    public static async Task RunAsync(HttpContext ctx, Func<IProgress<double>, Task<JobLine>> job)
    {
        ctx.Response.ContentType = "application/x-ndjson";
        var lines = System.Threading.Channels.Channel.CreateUnbounded<JobLine>(new() { SingleReader = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var line in lines.Reader.ReadAllAsync())
            {
                await ctx.Response.WriteAsync(JsonSerializer.Serialize(line, ApiJson.Default.JobLine) + "\n");
                await ctx.Response.Body.FlushAsync();
            }
        });
        JobLine result;
        try { result = await job(new Reporter(lines.Writer)); }
        catch (VireoException e) { result = new JobLine(null, e.Message, null, null); }
        // The answer has begun, so the middleware can no longer turn these into a problem: an error line instead.
        catch (Exception e) when (e is LinkException or FirewallException or CommandException) { result = new JobLine(null, e.Message, null, null); }
        lines.Writer.TryWrite(result);
        lines.Writer.Complete();
        await writer;
    }

    /// <summary>Reports in order, at most one line per whole percent.</summary>
    private sealed class Reporter(System.Threading.Channels.ChannelWriter<JobLine> w) : IProgress<double>
    {
        private double _last = -1;

        public void Report(double pct)
        {
            lock (this)
            {
                if (pct - _last < 1 && pct < 100) return;
                _last = pct;
                w.TryWrite(new JobLine(pct, null, null, null));
            }
        }
    }
}
