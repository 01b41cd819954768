using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Daemon;

/// <summary>What `vireo install` and `vireo clone` need from the daemon beyond define and start.</summary>
internal static class InstallRoutes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        // A job stream (NDJSON): progress while a remote --location's kernel downloads, then the
        // lines of what was done (JobLine.Message, one per line), or the error.
        app.MapPost("/v1/install", async (HttpContext ctx, InstallRequest body) =>
        {
            InstallPlan plan;
            try { plan = InstallBuilder.Build(body.Options, hv.Kvm.Usable); }
            catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidArgument, string.Join("\n", e.Problems.Select(p => p.Message))); }
            var seed = body.Seed?.Select(f => (f.Name, f.Text)).ToList();
            await JobStream.RunAsync(ctx, async progress =>
            {
                var done = await new Installer(hv).RunAsync(plan, seed, body.Options.Transient, body.Autostart, body.Start, ctx.RequestAborted, progress);
                return new JobLine(null, null, null, string.Join("\n", done.Lines));
            });
        });
        // virsh create: a transient domain, started at once and forgotten when it stops.
        app.MapPost("/v1/create", async (HttpRequest req, bool? paused, CancellationToken ct) =>
        {
            var xml = await new StreamReader(req.Body, System.Text.Encoding.UTF8).ReadToEndAsync(ct);
            var vm = await hv.CreateAsync(xml, paused == true, ct);
            return Results.Json(Routes.Info(vm), ApiJson.Default.DomainInfo, statusCode: 201);
        });
        app.MapPost("/v1/domains/{d}/clone", async (HttpContext ctx, string d, CloneRequest body) =>
        {
            var mode = body.Mode switch
            {
                "copy" => CloneMode.Copy, "reflink" => CloneMode.Reflink, "linked" => CloneMode.Linked,
                _ => throw new VireoException(ErrorCode.InvalidArgument, $"Unknown clone mode '{body.Mode}'; use copy, reflink or linked."),
            };
            hv.Get(d);
            await JobStream.RunAsync(ctx, async progress =>
            {
                var (vm, disks) = await new Cloner(hv).CloneAsync(d, body.Name, body.AutoClone, body.Files, mode, body.Macs, progress, ctx.RequestAborted);
                var lines = disks.Select(x => $"{x.Target}: {x.From} -> {x.To} ({x.How})");
                var macs = vm.Def.Devices.Interfaces.Select(i => i.Mac);
                return new JobLine(null, null, null, string.Join("\n", lines.Append($"Clone '{vm.Name}' created successfully (uuid {vm.Uuid}{(macs.Any() ? ", MAC " + string.Join(", ", macs) : "")}).")));
            });
        });
        app.MapPost("/v1/install/location", async (LocationRequest body, CancellationToken ct) =>
        {
            if (DomainRules.NameProblem(body.Name) is { } bad) throw new VireoException(ErrorCode.InvalidArgument, bad);
            if (!Path.IsPathFullyQualified(body.Source) && !LocationPlan.IsRemote(body.Source))
                throw new VireoException(ErrorCode.InvalidArgument, $"--location '{body.Source}' must be an absolute path or an http(s) URL.");
            var found = await InstallMedia.LocateAsync(body.Source, body.Kernel, body.Initrd, ct);
            var dir = hv.Options.BootDir(body.Name);
            // Only looks (for --print-xml, --dry-run and early errors); /v1/install copies them.
            return Results.Json(new LocationResult(found.Distro, Path.Combine(dir, "vmlinuz"), Path.Combine(dir, "initrd"), found.KernelInside, found.InitrdInside, found.IsDirectory,
                InstallMedia.Cmdline(body.Source, found, body.ExtraArgs)), ApiJson.Default.LocationResult);
        });
    }
}
