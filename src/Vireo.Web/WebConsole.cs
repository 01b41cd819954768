using System.Net;
using System.Reflection;
using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Vireo.Engine;
using Vireo.Web.Components;

namespace Vireo.Web;

/// <summary>
/// The web console: its own Kestrel on a TCP address (default 127.0.0.1:8780), beside the unix
/// socket API, driving the same engine. Pages are Razor components rendered on the server;
/// htmx (from npm) swaps in fragments the server renders, and a server-sent event stream
/// carries the engine's events, so pages change without reloading and the logic stays in C#.
/// Every request needs a login session (an HttpOnly, SameSite=Strict cookie that expires) and
/// every state-changing request an antiforgery token (form field or X-CSRF-TOKEN header).
/// </summary>
public static class WebConsole
{
    private const string CsrfHeader = "X-CSRF-TOKEN";
    private const string CsrfField = "__csrf";

    /// <summary>Starts the console; null when it cannot listen (the daemon goes on without it).</summary>
    /// <param name="certificate">Serve HTTPS with it (--web tls:HOST:PORT, the daemon's server certificate); null for plain HTTP.</param>
    public static async Task<WebApplication?> StartAsync(Hypervisor hv, EndPoint listen, string configDir, ILoggerFactory logs, CancellationToken ct,
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var log = logs.CreateLogger("Vireo.Web");
        var auth = new WebAuth(configDir);
        var throttle = new LoginThrottle(TimeProvider.System);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        if (listen is System.Net.Sockets.UnixDomainSocketEndPoint unix && unix.ToString() is { } stale && File.Exists(stale))
            File.Delete(stale);   // left by a daemon that was killed; Kestrel cannot bind over it
        builder.WebHost.ConfigureKestrel(k => k.Listen(listen, lo =>
        {
            if (certificate is not null) lo.UseHttps(certificate);
        }));
        builder.Services.AddSingleton(logs);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddRoutingCore();
        builder.Services.AddRazorComponents();
        // Session cookies survive a daemon restart: the keys live with the configuration, readable by root only
        // (kept as files with 0700 on their directory; there is no key-encryption service on a plain Linux host).
        var keys = Directory.CreateDirectory(Path.Combine(configDir, "web", "keys"));
        keys.UnixFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        builder.Services.AddDataProtection().PersistKeysToFileSystem(keys);
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.Cookie.Name = "vireo_session";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.LoginPath = "/login";
        });
        builder.Services.AddAuthorization();
        builder.Services.AddAntiforgery(o => { o.HeaderName = CsrfHeader; o.FormFieldName = CsrfField; o.Cookie.Name = "vireo_csrf"; o.Cookie.SameSite = SameSiteMode.Strict; });
        builder.Services.AddSingleton(hv);
        var history = new ResourceHistory(hv, TimeProvider.System);
        builder.Services.AddSingleton(history);
        var app = builder.Build();
        app.Lifetime.ApplicationStopping.Register(() => history.DisposeAsync().AsTask().Wait());

        // On every answer, the login page's included: no framing (clickjacking), no MIME sniffing,
        // no referrer to other sites, and a content policy that allows only this origin. Inline
        // handlers (onsubmit confirmations, htmx's hx-on) still need 'unsafe-inline'.
        app.Use((ctx, next) =>
        {
            var h = ctx.Response.Headers;
            h["Content-Security-Policy"] = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
            h["X-Frame-Options"] = "DENY";
            h["X-Content-Type-Options"] = "nosniff";
            h["Referrer-Policy"] = "same-origin";
            if (ctx.Request.IsHttps) h["Strict-Transport-Security"] = "max-age=31536000";
            return next(ctx);
        });
        app.UseWebSockets();
        app.UseAuthentication();
        // Sign-in first: everything but the login page and the static assets needs a session.
        app.Use(async (ctx, next) =>
        {
            var path = ctx.Request.Path.Value ?? "/";
            bool open = path is "/login" || path.StartsWith("/assets/", StringComparison.Ordinal);
            // Prometheus cannot log in: /metrics also takes the credential as a bearer token.
            if (path == "/metrics" && ctx.Request.Headers.Authorization.ToString() is { } authz
                && authz.StartsWith("Bearer ", StringComparison.Ordinal) && auth.Verify(authz[7..])) open = true;
            if (!open && ctx.User.Identity?.IsAuthenticated != true)
            {
                if (HttpMethods.IsGet(ctx.Request.Method) && !ctx.Request.Headers.ContainsKey("HX-Request")) ctx.Response.Redirect("/login");
                else ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }
            // Every state-changing request carries the antiforgery token (a form field or a header).
            if (!HttpMethods.IsGet(ctx.Request.Method) && !HttpMethods.IsHead(ctx.Request.Method))
            {
                var af = ctx.RequestServices.GetRequiredService<IAntiforgery>();
                if (!await af.IsRequestValidAsync(ctx))
                {
                    ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
                    await ctx.Response.WriteAsync("Missing or wrong CSRF token: reload the page and try again.");
                    return;
                }
            }
            await next(ctx);
        });


        app.MapGet("/assets/{**name}", (string name) =>
        {
            var stream = typeof(WebConsole).Assembly.GetManifestResourceStream("assets/" + name);
            if (stream is null) return Results.NotFound();
            var type = Path.GetExtension(name) switch { ".js" => "text/javascript", ".css" => "text/css", _ => "application/octet-stream" };
            return Results.Stream(stream, type);
        });

        app.MapGet("/login", (HttpContext ctx) => new RazorComponentResult<LoginPage>(P(("Csrf", Csrf(ctx)))));
        app.MapPost("/login", async (HttpContext ctx) =>
        {
            var form = await ctx.Request.ReadFormAsync();
            var client = ctx.Connection.RemoteIpAddress?.ToString() ?? "unix";
            if (throttle.Refused(client) is { } wait)
            {
                ctx.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                ctx.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return (IResult)new RazorComponentResult<LoginPage>(P(("Csrf", Csrf(ctx)),
                    ("Error", $"Too many wrong logins from this address: try again in {Math.Ceiling(wait.TotalSeconds):0} s.")));
            }
            if (!auth.Verify(form["token"]))
            {
                throttle.Failed(client);
                log.LogWarning("Web console: a login with a wrong token or password from {Remote}", client);
                return (IResult)new RazorComponentResult<LoginPage>(P(("Csrf", Csrf(ctx)), ("Error", "That token or password is not right.")));
            }
            throttle.Succeeded(client);
            var id = new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin")], CookieAuthenticationDefaults.AuthenticationScheme);
            await ctx.SignInAsync(new ClaimsPrincipal(id));
            return Results.Redirect("/");
        });
        app.MapPost("/logout", async (HttpContext ctx) =>
        {
            await ctx.SignOutAsync();
            return Results.Redirect("/login");
        });

        app.MapGet("/", (HttpContext ctx, ResourceHistory cpu) =>
            new RazorComponentResult<Overview>(P(("Csrf", Csrf(ctx)), ("Machines", Machines(hv, cpu)))));
        IResult MachinePage(HttpContext ctx, Vm vm, string? error = null) =>
            new RazorComponentResult<VmPage>(P(("Csrf", Csrf(ctx)), ("M", MachineView.Of(vm, history, hv)), ("Devices", MachineEdits.Devices(hv, vm)),
                ("Snapshots", MachineEdits.Snapshots(vm)), ("Graphics", MachineEdits.Graphics(vm)), ("Samples", history.Of(vm.Name)),
                ("HasVnc", (vm.Live ?? vm.Def).Devices.Graphics.Any(g => g.Type == "vnc")), ("HasSpice", (vm.Live ?? vm.Def).Devices.Graphics.Any(g => g.Type == "spice")), ("Error", error)));
        app.MapGet("/vm/{name}", (HttpContext ctx, string name) =>
            hv.Find(name) is { } vm ? MachinePage(ctx, vm) : Results.NotFound($"No machine named '{name}'."));
        app.MapPost("/vm/{name}/{action}", async (string name, string action, ResourceHistory cpu, CancellationToken rq) =>
        {
            var vm = hv.Find(name);
            if (vm is null) return (IResult)Results.NotFound($"No machine named '{name}'.");
            string? error = null;
            try
            {
                switch (action)
                {
                    case "start": await vm.StartAsync(paused: false, rq); break;
                    case "shutdown": await vm.ShutdownAsync(TimeSpan.Zero, rq); break;   // press the button; the page follows the events
                    case "reboot": await vm.RebootAsync(rq); break;
                    case "destroy": await vm.DestroyAsync(rq); break;
                    case "suspend": await vm.SuspendAsync(rq); break;
                    case "resume": await vm.ResumeAsync(rq); break;
                    default: return Results.NotFound($"No action '{action}'.");
                }
            }
            catch (VireoException e) { error = e.Message; }
            return new RazorComponentResult<VmState>(P(("M", MachineView.Of(vm, cpu, hv)), ("Error", error)));
        });

        IResult NewPage(HttpContext ctx, NewMachineForm form, Dictionary<string, List<string>> errors)
        {
            var pools = hv.Storage.All().Where(p => p.IsActive).ToList();
            var isos = pools.SelectMany(p => p.Volumes().Where(v => v.Format == "iso").Select(v => ($"{p.Name}/{v.Name}", v.Path))).ToList();
            var images = pools.SelectMany(p => p.Volumes().Where(v => v.Format != "iso").Select(v => $"{p.Name}/{v.Name}")).ToList();
            var nets = hv.Networks.All().Select(n => n.Name).ToList();
            // 200 also with errors: the page is the answer (browsers report 4xx pages as console errors).
            return new RazorComponentResult<NewMachinePage>(P(("Csrf", Csrf(ctx)), ("F", form), ("Errors", errors), ("Isos", isos), ("Images", images), ("Networks", nets)));
        }
        app.MapGet("/new", (HttpContext ctx) => NewPage(ctx, new NewMachineForm(), []));
        // The wizard's user-data, checked while it is typed: the errors for under the field.
        app.MapPost("/new/user-data", async (HttpContext ctx, CancellationToken rq) =>
        {
            var form = NewMachineForm.Read(await ctx.Request.ReadFormAsync(rq));
            var errors = new Dictionary<string, List<string>> { ["user_data"] = form.CheckUserData().Select(p => p.Message).ToList() };
            return new RazorComponentResult<Err>(P(("Field", "user_data"), ("Errors", errors)));
        });
        // The wizard: the same InstallBuilder and Installer as `vireo install`; errors go next to the field they are about.
        app.MapPost("/new", async (HttpContext ctx, CancellationToken rq) =>
        {
            var form = NewMachineForm.Read(await ctx.Request.ReadFormAsync(rq));
            var errors = new Dictionary<string, List<string>>();
            void Add(string field, string message) { if (!errors.TryGetValue(field, out var l)) errors[field] = l = []; l.Add(message); }
            foreach (var (f, m) in form.Check()) Add(f, m);
            Vireo.Model.InstallPlan? plan = null;
            try { plan = Vireo.Model.InstallBuilder.Build(form.Options(), hv.Kvm.Usable); }
            catch (Vireo.Model.DefinitionException e) { foreach (var p in e.Problems) Add(NewMachineForm.FieldOf(p.Message), p.Message); }
            if (errors.Count == 0 && plan is not null)
            {
                var seed = plan.CloudInit?.Render(plan.Domain.Name, Guid.NewGuid(), _ => form.UserData, password: null);
                try
                {
                    var done = await new Installer(hv).RunAsync(plan, seed, transient: false, autostart: false, start: form.Start, rq);
                    log.LogInformation("Web console: created '{Name}': {Lines}", done.Vm.Name, string.Join("; ", done.Lines));
                    var page = $"/vm/{Uri.EscapeDataString(done.Vm.Name)}";
                    if (!ctx.Request.Headers.ContainsKey("HX-Request")) return Results.Redirect(page);
                    ctx.Response.Headers["HX-Redirect"] = page;   // htmx navigates there itself
                    return Results.NoContent();
                }
                catch (VireoException e) { Add(NewMachineForm.FieldOf(e.Message), e.Message); }
            }
            return NewPage(ctx, form, errors);
        });

        app.MapGet("/vm/{name}/console", (HttpContext ctx, string name) =>
            hv.Find(name) is null ? (IResult)Results.NotFound($"No machine named '{name}'.") : new RazorComponentResult<ConsolePage>(P(("Csrf", Csrf(ctx)), ("Name", name))));
        // The serial console: bytes both ways between xterm.js and the guest's pty. A new
        // connection takes the console over, so a reloaded page gets it back at once.
        app.MapGet("/vm/{name}/console/ws", async (HttpContext ctx, string name) =>
        {
            if (RefuseSocket(ctx) is { } refused) { ctx.Response.StatusCode = refused; return; }
            if (hv.Find(name) is not { } vm) { ctx.Response.StatusCode = 404; return; }
            Stream pty;
            try { pty = vm.OpenConsole(force: true); }
            catch (VireoException e)
            {
                ctx.Response.StatusCode = 409;
                await ctx.Response.WriteAsync(e.Message);
                return;
            }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            await ConsoleBridge.RunAsync(ws, pty, () => vm.CloseConsole(pty), ctx.RequestAborted);
        });

        app.MapPost("/vm/{name}/autostart", async (HttpContext ctx, string name) =>
        {
            var form = await ctx.Request.ReadFormAsync();
            if (hv.Find(name) is not { } vm) return Results.NotFound($"No machine named '{name}'.");
            try { hv.SetAutostart(name, form["enable"] == "on"); }
            catch (VireoException e) { return MachinePage(ctx, vm, e.Message); }
            return Results.Redirect($"/vm/{Uri.EscapeDataString(name)}");
        });
        // Delete: stop if running, undefine (NVRAM, snapshot records and managed save too), and
        // with remove_storage its pool volumes that no other machine uses.
        app.MapPost("/vm/{name}/delete", async (HttpContext ctx, string name, CancellationToken rq) =>
        {
            var form = await ctx.Request.ReadFormAsync(rq);
            if (hv.Find(name) is not { } vm) return (IResult)Results.NotFound($"No machine named '{name}'.");
            var disks = vm.Disks(inactive: true);
            try
            {
                if (vm.IsActive) await vm.DestroyAsync(rq);
                await hv.UndefineAsync(name, snapshotsMetadata: true, managedSave: true, nvram: true);
                if (form["remove_storage"] == "on")
                    foreach (var d in disks.Where(x => x.Device == "disk" && x.Source is not null))
                        if (hv.Storage.FindByPath(d.Source!) is { } v)
                            try { await hv.Storage.DeleteAsync(v.Pool, v.Name, force: false, rq); }
                            catch (VireoException e) { log.LogWarning("Web console: kept {Volume}: {Why}", v.Path, e.Message); }
            }
            catch (VireoException e) { return MachinePage(ctx, vm, e.Message); }
            return Results.Redirect("/");
        });
        HostRoutes.Map(app, hv, log, Csrf);
        MachineEdits.Map(app, hv, log);
        app.MapGet("/vm/{name}/graphs", (string name) => new RazorComponentResult<Graphs>(P(("Samples", history.Of(name)))));
        app.MapGet("/metrics", async (CancellationToken rq) => Results.Text(await Metrics.RenderAsync(hv, rq), "text/plain; version=0.0.4"));

        app.MapGet("/vm/{name}/vnc", (HttpContext ctx, string name) =>
            hv.Find(name) is null ? (IResult)Results.NotFound($"No machine named '{name}'.") : new RazorComponentResult<VncPage>(P(("Csrf", Csrf(ctx)), ("Name", name))));
        app.MapGet("/vm/{name}/spice", (HttpContext ctx, string name) =>
            hv.Find(name) is not { } vm ? (IResult)Results.NotFound($"No machine named '{name}'.")
            : new RazorComponentResult<SpicePage>(P(("Csrf", Csrf(ctx)), ("Name", name), ("Password", (vm.Live ?? vm.Def).Devices.Graphics.FirstOrDefault(g => g.Type == "spice")?.Passwd))));
        // The graphical consoles: noVNC speaks RFB, spice-html5 SPICE (a WebSocket per SPICE
        // channel), each WebSocket bridged to a TCP connection of its own to QEMU's server (which
        // listens on the address the definition gives, 127.0.0.1 by default).
        app.MapGet("/vm/{name}/vnc/ws", (HttpContext ctx, string name) => BridgeDisplayAsync(ctx, hv, name, "vnc"));
        app.MapGet("/vm/{name}/spice/ws", (HttpContext ctx, string name) => BridgeDisplayAsync(ctx, hv, name, "spice"));
        // Whether a display can be opened now: empty when it can, else why not — always a 200, so a
        // page waiting for its guest to start asks every second without a failed request (which a
        // browser logs as an error) and opens its WebSocket only when there is a server to bridge to.
        app.MapGet("/vm/{name}/vnc/ready", (string name) => Results.Text(DisplayServer(hv, name, "vnc").Why ?? ""));
        app.MapGet("/vm/{name}/spice/ready", (string name) => Results.Text(DisplayServer(hv, name, "spice").Why ?? ""));

        // Server-sent events: the overview's rows (or one machine's state block, facts, device rows
        // and snapshot rows) again whenever the engine says something changed, from here or the
        // CLI; the overview also every 2 s, for its CPU figures. A machine's blocks have nothing
        // that changes by itself, and re-sending them would swap their buttons under the pointer;
        // only its facts are looked at every 5 s (autostart has no event) and sent when they differ.
        app.MapGet("/events", async (HttpContext ctx, string? vm, ResourceHistory cpu) =>
        {
            var csrf = vm is null ? "" : Csrf(ctx);   // before the response starts: it may set the token's cookie
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            using var sub = hv.Events.Subscribe();
            await using var html = new HtmlRenderer(ctx.RequestServices, logs);
            Task<string> Render<T>(params (string, object?)[] ps) where T : IComponent =>
                html.Dispatcher.InvokeAsync(async () => (await html.RenderComponentAsync<T>(ParameterView.FromDictionary(P(ps)))).ToHtmlString());
            string? lastFacts = null;
            async Task SendAsync(bool tick)
            {
                var blocks = new List<(string Event, string Html)>();
                if (vm is null) blocks.Add(("vms", await Render<VmRows>(("Machines", Machines(hv, cpu)))));
                else
                {
                    if (hv.Find(vm) is not { } one) return;
                    var m = MachineView.Of(one, cpu, hv);
                    var facts = await Render<VmFacts>(("M", m), ("Csrf", csrf));
                    if (facts != lastFacts) blocks.Add(("facts", lastFacts = facts));
                    if (!tick)
                    {
                        var devices = MachineEdits.Devices(hv, one);
                        blocks.Add(("state", await Render<VmState>(("M", m))));
                        blocks.Add(("disks", await Render<DeviceRows>(("D", devices), ("Which", "disks"))));
                        blocks.Add(("nics", await Render<DeviceRows>(("D", devices), ("Which", "nics"))));
                        blocks.Add(("snapshots", await Render<SnapshotRows>(("S", MachineEdits.Snapshots(one)))));
                    }
                }
                foreach (var (ev, fragment) in blocks)
                {
                    var data = string.Join("\n", fragment.Split('\n').Select(l => "data: " + l));
                    await ctx.Response.WriteAsync($"event: {ev}\n{data}\n\n", ctx.RequestAborted);
                }
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            }
            var period = TimeSpan.FromSeconds(vm is null ? 2 : 5);
            try
            {
                await SendAsync(tick: false);
                var tick = Task.Delay(period, ctx.RequestAborted);
                var next = sub.Reader.WaitToReadAsync(ctx.RequestAborted).AsTask();
                while (!ctx.RequestAborted.IsCancellationRequested)
                {
                    var done = await Task.WhenAny(tick, next);
                    if (done == next)
                    {
                        if (!await next) break;
                        bool relevant = false;
                        while (sub.Reader.TryRead(out var e)) relevant |= vm is null || e.Domain == vm;
                        next = sub.Reader.WaitToReadAsync(ctx.RequestAborted).AsTask();
                        if (!relevant) continue;
                        await SendAsync(tick: false);
                    }
                    else
                    {
                        tick = Task.Delay(period, ctx.RequestAborted);
                        await SendAsync(tick: vm is not null);
                    }
                }
            }
            catch (OperationCanceledException) { }
        });

        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException e)
        {
            log.LogWarning("Web console not started: cannot listen on {Listen}: {Error}", listen, e.Message);
            await history.DisposeAsync();
            await app.DisposeAsync();
            return null;
        }
        if (listen is System.Net.Sockets.UnixDomainSocketEndPoint sock)
            File.SetUnixFileMode(sock.ToString()!, UnixFileMode.UserRead | UnixFileMode.UserWrite);   // root's, like the API socket
        var bound = app.Urls.FirstOrDefault() ?? $"http://{listen}";
        log.LogInformation("Web console on {Url}", bound);
        if (auth.EnsureCredential() is { } token)
            log.LogWarning("Web console login token (shown once, stored hashed; 'vireo web-password' sets a password instead): {Token}", token);
        return app;
    }

    /// <summary>
    /// Why a console WebSocket is refused: 400 when it is not one, 403 when another site's page
    /// opens it (cross-site WebSocket hijacking; browsers send Origin on every WebSocket). Null: fine.
    /// </summary>
    private static int? RefuseSocket(HttpContext ctx) =>
        !ctx.WebSockets.IsWebSocketRequest ? StatusCodes.Status400BadRequest
        : ctx.Request.Headers.Origin.ToString() is { Length: > 0 } origin && origin != $"{ctx.Request.Scheme}://{ctx.Request.Host}" ? StatusCodes.Status403Forbidden
        : null;


    /// <summary>Where a running guest's display server of <paramref name="type"/> listens, or why there is none to reach.</summary>
    private static (string Host, int Port, string? Why) DisplayServer(Hypervisor hv, string name, string type)
    {
        var what = type.ToUpperInvariant();
        if (hv.Find(name) is not { } vm) return ("", 0, $"There is no machine named '{name}'.");
        if (vm.Live?.Devices.Graphics.FirstOrDefault(g => g.Type == type) is not { Port: { } port } g || g.ListenType == "none")
            return ("", 0, vm.Live is null ? $"'{name}' is not running." : $"'{name}' is not running with {what} graphics on a port.");
        return (g.Listen is null or "0.0.0.0" or "::" ? "127.0.0.1" : g.Listen, port, null);
    }

    /// <summary>One WebSocket of a graphical console, bridged to a TCP connection to the running guest's display server.</summary>
    private static async Task BridgeDisplayAsync(HttpContext ctx, Hypervisor hv, string name, string type)
    {
        if (RefuseSocket(ctx) is { } refused) { ctx.Response.StatusCode = refused; return; }
        var (host, port, why) = DisplayServer(hv, name, type);
        if (why is not null)
        {
            ctx.Response.StatusCode = 409;
            await ctx.Response.WriteAsync(why);
            return;
        }
        var tcp = new System.Net.Sockets.TcpClient();
        try { await tcp.ConnectAsync(host, port, ctx.RequestAborted); }
        catch (System.Net.Sockets.SocketException e)
        {
            tcp.Dispose();
            ctx.Response.StatusCode = 502;
            await ctx.Response.WriteAsync($"Cannot reach the {type.ToUpperInvariant()} server of '{name}' at {host}:{port}: {e.Message}");
            return;
        }
        // spice-html5 asks for the "binary" subprotocol; a browser drops a socket whose server does not echo it.
        var sub = ctx.WebSockets.WebSocketRequestedProtocols.Contains("binary") ? "binary" : null;
        using var ws = await ctx.WebSockets.AcceptWebSocketAsync(sub);
        await ConsoleBridge.RunAsync(ws, tcp.GetStream(), tcp.Dispose, ctx.RequestAborted);
    }

    /// <summary>This session's antiforgery token, for the page's forms and htmx's header.</summary>
    internal static string Csrf(HttpContext ctx) => ctx.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(ctx).RequestToken!;

    /// <summary>A component's parameters.</summary>
    internal static Dictionary<string, object?> P(params (string, object?)[] ps) => ps.ToDictionary(p => p.Item1, p => p.Item2);

    private static List<MachineView> Machines(Hypervisor hv, ResourceHistory cpu) =>
        hv.All().OrderBy(v => v.Name, StringComparer.Ordinal).Select(v => MachineView.Of(v, cpu, hv)).ToList();
}
