using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Vireo.Engine;
using Vireo.Model;
using Vireo.Web.Components;

namespace Vireo.Web;

/// <summary>The networks and storage pages: list, create, start/stop, delete, and ISO upload.</summary>
internal static class HostRoutes
{
    public static void Map(WebApplication app, Hypervisor hv, ILogger log, Func<HttpContext, string> csrf)
    {
        var P = WebConsole.P;
        IResult Networks(HttpContext ctx, NetworkForm? form = null, Dictionary<string, List<string>>? errors = null, string? error = null) =>
            new RazorComponentResult<NetworksPage>(P(("Csrf", csrf(ctx)), ("Networks", hv.Networks.All()), ("F", form ?? new NetworkForm()),
                ("Errors", errors ?? []), ("Error", error)));

        app.MapGet("/networks", (HttpContext ctx) => Networks(ctx));
        // virt-manager's new network: the form becomes network XML for the same define as net-define.
        app.MapPost("/networks", async (HttpContext ctx, CancellationToken rq) =>
        {
            var form = NetworkForm.Read(await ctx.Request.ReadFormAsync(rq));
            var errors = new Dictionary<string, List<string>>();
            void Add(string field, string message) { if (!errors.TryGetValue(field, out var l)) errors[field] = l = []; l.Add(message); }
            var (xml, problems) = form.Build();
            foreach (var (f, m) in problems) Add(f, m);
            // net-define would redefine an existing network; the create form only makes new ones.
            if (hv.Networks.All().Any(n => n.Name == form.Name)) Add("name", $"A network named '{form.Name}' exists already; choose another name.");
            if (errors.Count > 0) return Networks(ctx, form, errors);
            if (xml is null) return Networks(ctx, form, errors);
            VirtualNetwork net;
            try { net = hv.Networks.Define(xml).Network; }
            catch (VireoException e) { Add(NetworkForm.FieldOf(e.Message), e.Message); return Networks(ctx, form, errors); }
            catch (DefinitionException e) { foreach (var pr in e.Problems) Add(NetworkForm.FieldOf(pr.Message), pr.Message); return Networks(ctx, form, errors); }
            log.LogInformation("Web console: defined network '{Name}' ({Mode})", net.Name, form.Mode);
            try
            {
                if (form.Autostart) hv.Networks.SetAutostart(net.Name, true);
                if (form.Start) await net.StartAsync(rq);
            }
            catch (VireoException e) { return Networks(ctx, null, null, $"Network '{net.Name}' is defined but did not start: {e.Message}"); }
            return Results.Redirect("/networks");
        });
        app.MapPost("/networks/{name}/{action}", async (HttpContext ctx, string name, string action, CancellationToken rq) =>
        {
            try
            {
                var n = hv.Networks.Get(name);
                switch (action)
                {
                    case "start": await n.StartAsync(rq); break;
                    case "destroy": await n.DestroyAsync(rq); break;
                    case "delete": hv.Networks.Undefine(name); break;
                    default: return Results.NotFound($"No network action '{action}'.");
                }
            }
            catch (VireoException e) { return Networks(ctx, error: e.Message); }
            return Results.Redirect("/networks");
        });

        IResult Storage(HttpContext ctx, string? error = null, string? errorAt = null, string? note = null, StorageForms? form = null) =>
            new RazorComponentResult<StoragePage>(P(("Csrf", csrf(ctx)), ("Pools", hv.Storage.All()), ("Error", error), ("ErrorAt", errorAt),
                ("Note", note), ("F", form ?? new StorageForms())));
        app.MapGet("/storage", (HttpContext ctx) => Storage(ctx));
        app.MapPost("/storage", async (HttpContext ctx, CancellationToken rq) =>
        {
            var f = await ctx.Request.ReadFormAsync(rq);
            var form = new StorageForms { PoolName = f["name"].ToString().Trim(), PoolPath = f["path"].ToString().Trim() };
            try
            {
                if (!Path.IsPathFullyQualified(form.PoolPath))
                    throw new VireoException(ErrorCode.InvalidArgument, $"The pool's directory must be an absolute path, not '{form.PoolPath}'.");
                if (hv.Storage.All().Any(p => p.Name == form.PoolName))
                    throw new VireoException(ErrorCode.InvalidArgument, $"A pool named '{form.PoolName}' exists already; choose another name.");
                var xml = StorageXml.WritePool(new PoolDef { Name = form.PoolName, TargetPath = Path.GetFullPath(form.PoolPath) }, null);
                var pool = hv.Storage.Define(xml).Pool;
                var existed = Directory.Exists(pool.Dir);
                try
                {
                    hv.Storage.Build(pool.Name);
                    await hv.Storage.StartAsync(pool.Name, rq);
                    hv.Storage.SetAutostart(pool.Name, true);
                }
                catch (VireoException)
                {
                    hv.Storage.Undefine(pool.Name);   // nothing half-made: no pool that cannot start,
                    if (!existed && Directory.Exists(pool.Dir) && !Directory.EnumerateFileSystemEntries(pool.Dir).Any())
                        Directory.Delete(pool.Dir);   // and no empty directory it made
                    throw;
                }
            }
            catch (VireoException e) { return Storage(ctx, e.Message, "", form: form); }
            catch (DefinitionException e) { return Storage(ctx, string.Join(" ", e.Problems.Select(p => p.Message)), "", form: form); }
            return Results.Redirect("/storage");
        });
        app.MapPost("/storage/{pool}/{action}", async (HttpContext ctx, string pool, string action, CancellationToken rq) =>
        {
            try
            {
                switch (action)
                {
                    case "start": await hv.Storage.StartAsync(pool, rq); break;
                    case "stop": await hv.Storage.DestroyAsync(pool, rq); break;
                    case "delete": hv.Storage.Undefine(pool); break;
                    default: return Results.NotFound($"No pool action '{action}'.");
                }
            }
            catch (VireoException e) { return Storage(ctx, e.Message, pool); }
            return Results.Redirect("/storage");
        });
        app.MapPost("/storage/{pool}/volumes", async (HttpContext ctx, string pool, CancellationToken rq) =>
        {
            var f = await ctx.Request.ReadFormAsync(rq);
            var name = f["name"].ToString().Trim();
            var size = f["size"].ToString();
            try
            {
                var bytes = StorageForms.GiB(size) ?? throw new VireoException(ErrorCode.InvalidArgument, $"Size '{size}' is not a number of GiB above 0 (e.g. 10 or 0.5).");
                var v = await hv.Storage.CreateAsync(pool, new VolumeDef { Name = name, Format = f["format"].ToString(), Capacity = bytes }, null, rq);
                return Storage(ctx, note: $"Created {pool}/{v.Name} ({Units.Bytes(v.Capacity)}).");
            }
            catch (VireoException e) { return Storage(ctx, e.Message, pool); }
        });
        app.MapPost("/storage/{pool}/volumes/{volume}/delete", async (HttpContext ctx, string pool, string volume, CancellationToken rq) =>
        {
            try { await hv.Storage.DeleteAsync(pool, volume, force: false, rq); }
            catch (VireoException e) { return Storage(ctx, e.Message, pool); }
            return Storage(ctx, note: $"Deleted {pool}/{volume}.");
        });
        // An ISO upload, streamed into a new volume as it arrives (no buffering of gigabytes in
        // memory or temp files). The form's name field comes before the file.
        app.MapPost("/storage/{pool}/upload", async (HttpContext ctx, string pool) =>
        {
            if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
            string? name = null, made = null;
            try
            {
                if (!MediaTypeHeaderValue.TryParse(ctx.Request.ContentType, out var type) || HeaderUtilities.RemoveQuotes(type.Boundary).Value is not { Length: > 0 } boundary)
                    throw new VireoException(ErrorCode.InvalidArgument, "The upload is not a multipart form.");
                var reader = new MultipartReader(boundary, ctx.Request.Body);
                while (await reader.ReadNextSectionAsync(ctx.RequestAborted) is { } section)
                {
                    if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var cd)) continue;
                    if (!cd.IsFileDisposition())
                    {
                        if (cd.Name.Value == "name") name = (await new StreamReader(section.Body).ReadToEndAsync(ctx.RequestAborted)).Trim();
                        continue;
                    }
                    var fileName = Path.GetFileName(cd.FileName.Value ?? cd.FileNameStar.Value ?? "");
                    if (string.IsNullOrEmpty(name)) name = fileName;
                    if (string.IsNullOrEmpty(name)) throw new VireoException(ErrorCode.InvalidArgument, "Choose an ISO file to upload.");
                    var v = await hv.Storage.CreateAsync(pool, new VolumeDef { Name = name, Format = "raw" }, null, ctx.RequestAborted);
                    made = v.Name;
                    v = await hv.Storage.UploadAsync(pool, v.Name, section.Body, 0, null, ctx.RequestAborted);
                    made = null;
                    log.LogInformation("Web console: uploaded {Pool}/{Volume} ({Bytes} bytes)", pool, v.Name, v.Capacity);
                    var kind = v.Format == "iso" ? "an ISO image" : $"not an ISO 9660 image (kept as {v.Format})";
                    return Storage(ctx, note: $"Uploaded {pool}/{v.Name}: {Units.Bytes(v.Capacity)}, {kind}.");
                }
                throw new VireoException(ErrorCode.InvalidArgument, "Choose an ISO file to upload.");
            }
            catch (VireoException e)
            {
                // Refused before the file was read (a taken name, say): take in the rest, so the
                // browser gets this page rather than a broken connection.
                try { await ctx.Request.Body.CopyToAsync(Stream.Null, ctx.RequestAborted); }
                catch (Exception x) when (x is IOException or OperationCanceledException) { }
                return Storage(ctx, e.Message, pool);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException)
            {
                return Storage(ctx, $"The upload of '{name}' broke off: {e.Message}", pool);
            }
            finally
            {
                // A broken-off upload leaves no half volume behind.
                if (made is not null)
                    try { await hv.Storage.DeleteAsync(pool, made, force: true, CancellationToken.None); }
                    catch (VireoException e) { log.LogWarning("Web console: could not remove the partial upload {Volume}: {Why}", made, e.Message); }
            }
        });
    }
}
