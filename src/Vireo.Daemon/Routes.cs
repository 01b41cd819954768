using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Daemon;

internal static class Routes
{
    public static void Map(WebApplication app, Hypervisor hv)
    {
        app.MapGet("/v1/version", () => Results.Text("vireo 0.1\n"));

        app.MapGet("/v1/domains", (string? format) =>
        {
            var all = hv.All().Select(v => Info(v)).OrderBy(d => d.Name, StringComparer.Ordinal).ToArray();
            return format == "tsv"
                ? Results.Text(string.Concat(all.Select(DomainInfoTsv.Write)), "text/tab-separated-values")
                : Results.Json(all, ApiJson.Default.DomainInfoArray);
        });

        app.MapPost("/v1/domains", async (HttpRequest req, string? format) =>
        {
            var xml = await new StreamReader(req.Body, Encoding.UTF8).ReadToEndAsync();
            var (vm, created) = hv.Define(xml);
            var status = created ? 201 : 200;
            return format == "tsv"
                ? Results.Text($"{vm.Name}\t{vm.Uuid}\t{(created ? 1 : 0)}\n", "text/tab-separated-values", statusCode: status)
                : Results.Json(new DefineResult(vm.Name, vm.Uuid.ToString(), created), ApiJson.Default.DefineResult, statusCode: status);
        });

        app.MapGet("/v1/domains/{d}", (string d, string? format) => Reply(Info(hv.Get(d)), format));
        app.MapDelete("/v1/domains/{d}", async (string d, bool? snapshotsMetadata, bool? managedSave, bool? removeAllStorage, bool? nvram, bool? keepTpm, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var disks = vm.Disks(inactive: true);
            if (removeAllStorage == true && vm.IsActive)
                throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{vm.Name}' is running; destroy it before removing its storage.");
            await hv.UndefineAsync(d, snapshotsMetadata == true, managedSave == true, nvram, keepTpm == true);
            var removed = new List<string>();
            var warnings = new List<string>();
            if (removeAllStorage == true)
            {
                foreach (var disk in disks.Where(x => x.Device == "disk" && x.Source is not null))
                {
                    var vol = hv.Storage.FindByPath(disk.Source!);
                    if (vol is null) { warnings.Add($"{disk.Source} ({disk.Target}) is not a pool volume; it stays."); continue; }
                    try { await hv.Storage.DeleteAsync(vol.Pool, vol.Name, force: false, ct); removed.Add(vol.Path); }
                    catch (VireoException e) { warnings.Add(e.Message); }
                }
            }
            return Results.Json(new UndefineResult(removed.ToArray(), warnings.ToArray()), ApiJson.Default.UndefineResult);
        });
        app.MapGet("/v1/domains/{d}/xml", (string d, bool? inactive, bool? securityInfo) =>
            Results.Text(hv.Get(d).DumpXml(inactive == true, securityInfo == true), "application/xml"));

        app.MapPost("/v1/domains/{d}/start", async (string d, bool? paused, string? format, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            await vm.StartAsync(paused == true, ct);
            return Reply(Info(vm), format);
        });
        app.MapPost("/v1/domains/{d}/shutdown", async (string d, double? timeout, string? format, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            var t = TimeSpan.FromSeconds(timeout ?? hv.Options.ShutdownTimeout.TotalSeconds);
            var done = await vm.ShutdownAsync(t == TimeSpan.Zero ? null : t, ct);
            if (!done)
                throw new VireoException(ErrorCode.Timeout,
                    $"Domain '{vm.Name}' did not shut down within {t.TotalSeconds:0.#} s: the guest ignored the ACPI power button. Use 'vireo destroy {vm.Name}' to force it off.");
            return Reply(Info(vm), format);
        });
        MapSimple(app, hv, "destroy", (vm, ct) => vm.DestroyAsync(ct));
        MapSimple(app, hv, "reboot", (vm, ct) => vm.RebootAsync(ct));
        MapSimple(app, hv, "reset", (vm, ct) => vm.ResetAsync(ct));
        MapSimple(app, hv, "suspend", (vm, ct) => vm.SuspendAsync(ct));
        MapSimple(app, hv, "resume", (vm, ct) => vm.ResumeAsync(ct));

        app.MapPut("/v1/domains/{d}/autostart", (string d, bool? enable, string? format) =>
        {
            hv.SetAutostart(d, enable != false);
            return Reply(Info(hv.Get(d)), format);
        });

        app.MapPost("/v1/domains/{d}/monitor", async (string d, MonitorRequest body, CancellationToken ct) =>
            new MonitorReply(await hv.Get(d).MonitorCommandAsync(body.Command, body.Hmp, ct)));

        app.MapGet("/v1/domains/{d}/console", async (HttpContext ctx, string d, bool? force) =>
        {
            var vm = hv.Get(d);
            if (!ctx.WebSockets.IsWebSocketRequest)
            {
                // A plain GET asks whether the console can be opened (the error says why not).
                vm.CheckConsole(force == true);
                ctx.Response.StatusCode = 204;
                return;
            }
            var pty = vm.OpenConsole(force == true);
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            await Vireo.Web.ConsoleBridge.RunAsync(ws, pty, () => vm.CloseConsole(pty), ctx.RequestAborted);
        });

        // Not a bare RequestDelegate (HttpContext alone), so that the OpenAPI document lists it.
        app.MapGet("/v1/events", async (HttpContext ctx, CancellationToken rq) =>
        {
            ctx.Response.ContentType = "application/x-ndjson";
            using var sub = hv.Events.Subscribe();
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            try
            {
                await foreach (var e in sub.Reader.ReadAllAsync(ctx.RequestAborted))
                {
                    var line = JsonSerializer.Serialize(new EventInfo(e.Domain, e.Kind, e.Event, e.Detail, e.Time), ApiJson.Default.EventInfo);
                    await ctx.Response.WriteAsync(line + "\n", ctx.RequestAborted);
                    await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                }
            }
            catch (OperationCanceledException) { }
        });

        // libvirt's XML, as virsh capabilities / domcapabilities print it (and as the libvirt protocol returns it).
        app.MapGet("/v1/capabilities/xml", async (CancellationToken ct) =>
            Results.Text(DomainXml.ToText(Capabilities.HostXml(await hv.CapabilitiesAsync(ct), Capabilities.Probe(hv.Kvm.Usable), hv.VhostNet, Capabilities.HostUuid())), "application/xml"));
        app.MapGet("/v1/domcapabilities", async (string? virttype, string? machine, string? arch, CancellationToken ct) =>
        {
            if (arch is not null and not "x86_64")
                throw new VireoException(ErrorCode.InvalidArgument, $"Vireo runs x86_64 guests only, not '{arch}'.");
            var xml = Capabilities.Domain(await hv.CapabilitiesAsync(ct), Capabilities.Probe(hv.Kvm.Usable), virttype ?? (hv.Kvm.Usable ? "kvm" : "qemu"), machine);
            return Results.Text(DomainXml.ToText(xml), "application/xml");
        });
        app.MapGet("/v1/capabilities", async (CancellationToken ct) =>
        {
            var caps = await hv.CapabilitiesAsync(ct);
            return new CapabilitiesInfo(caps.Emulator, caps.Version, hv.Kvm.Usable, hv.Kvm.Reason, hv.VhostNet,
                caps.Machines.Select(m => new MachineInfo(m.Name, m.Alias, m.IsDefault, m.MaxCpus)).ToArray(),
                caps.CpuModels.Select(c => new CpuModelInfo(c.Name, c.Usable)).ToArray());
        });
    }

    private static void MapSimple(WebApplication app, Hypervisor hv, string verb, Func<Vm, CancellationToken, Task> op) =>
        app.MapPost($"/v1/domains/{{d}}/{verb}", async (string d, string? format, CancellationToken ct) =>
        {
            var vm = hv.Get(d);
            await op(vm, ct);
            return Reply(Info(vm), format);
        });

    /// <summary>JSON by default; ?format=tsv for the CLI (see DomainInfoTsv).</summary>
    private static IResult Reply(DomainInfo info, string? format) =>
        format == "tsv" ? Results.Text(DomainInfoTsv.Write(info), "text/tab-separated-values") : Results.Json(info, ApiJson.Default.DomainInfo);

    internal static DomainInfo Info(Vm vm)
    {
        var s = vm.Summary();
        return new DomainInfo(s.Id, s.Name, s.Uuid.ToString(), StateText.Of(s.State), s.Reason, s.Persistent, s.Autostart,
            s.Vcpus, s.MaxMemoryKiB, s.MemoryKiB, s.Title, s.OsType, s.CpuTimeSeconds, vm.SecurityModel, vm.SecurityLabel);
    }
}
