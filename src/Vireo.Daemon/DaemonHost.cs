using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Vireo.Api;
using Vireo.Engine;
using Vireo.Host;

namespace Vireo.Daemon;

/// <param name="Web">The web console's address (HOST:PORT or unix:PATH), or null for none.</param>
/// <param name="LibvirtSocket">Where to serve libvirt's remote protocol (read-write), or null.</param>
/// <param name="LibvirtSocketRo">Its read-only socket, or null.</param>
/// <param name="SocketGroup">The group that may use the API socket besides root; "auto": vireo when it exists; null: root only.</param>
/// <param name="SocketRo">The read-only API socket any local user may use (mode 0666), or null for none.</param>
/// <param name="QemuUser">Who guests' QEMUs run as: root, auto (vireo-qemu when it exists), or a user name.</param>
/// <param name="TlsListen">TCP addresses that serve the API over TLS to clients with a certificate the CA in <paramref name="TlsDir"/> signed.</param>
public sealed record DaemonOptions(string ConfigDir, string RunDir, string SocketPath, string DataDir = "/var/lib/vireo", string? Web = null,
    string? LibvirtSocket = null, string? LibvirtSocketRo = null, string? SocketGroup = "auto", string? SocketRo = null,
    IReadOnlyList<System.Net.IPEndPoint>? TlsListen = null, string? TlsDir = null, string QemuUser = "root");

/// <summary>vireod: the engine behind an HTTP API on a unix socket. A thin shell: every route calls the engine.</summary>
public static class DaemonHost
{
    public static async Task<int> RunAsync(DaemonOptions opts, CancellationToken ct = default)
    {
        FileAccessRules.PrivateByDefault();
        int? socketGid = null;
        if (opts.SocketGroup is { } group)
        {
            socketGid = FileAccessRules.GroupId(group == "auto" ? "vireo" : group);
            if (socketGid is null && group != "auto")
            {
                Console.Error.WriteLine($"error: --socket-group '{group}' is not a group on this host (see /etc/group); create it (groupadd {group}), or give none for a socket only root may use.");
                return 1;
            }
        }
        // Remote access: the server certificate and the CA its clients must be signed by, read before anything starts.
        (System.Security.Cryptography.X509Certificates.X509Certificate2 Server, System.Security.Cryptography.X509Certificates.X509Certificate2 Ca)? tls = null;
        var webTls = opts.Web?.StartsWith("tls:", StringComparison.Ordinal) == true;
        if (opts.TlsListen is { Count: > 0 } || webTls)
        {
            var files = new TlsFiles(opts.TlsDir ?? Path.Combine(opts.ConfigDir, "tls"));
            try { tls = (files.LoadPair(server: true), files.LoadCa()); }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
            {
                Console.Error.WriteLine($"error: {(webTls ? "--web tls:" : "--listen tls:")} needs the server certificate and the CA: {e.Message}");
                return 1;
            }
        }
        QemuUser? qemuUser = null;
        if (opts.QemuUser != "root")
        {
            qemuUser = QemuUser.Find(opts.QemuUser == "auto" ? QemuUser.DefaultName : opts.QemuUser);
            if (qemuUser is null && opts.QemuUser != "auto")
            {
                Console.Error.WriteLine($"error: --qemu-user '{opts.QemuUser}' is not a user on this host (see /etc/passwd); make it (scripts/setup.sh makes {QemuUser.DefaultName}), or give root.");
                return 1;
            }
            if (qemuUser is { Uid: 0 }) qemuUser = null;
        }
        Directory.CreateDirectory(opts.ConfigDir);
        Directory.CreateDirectory(opts.RunDir);
        // The run dir is the way in to what helpers that drop root reach (dnsmasq's files) and to the read-only sockets.
        File.SetUnixFileMode(opts.RunDir, (UnixFileMode)0x1ed /* 0755 */);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(opts.SocketPath))!);
        // One daemon per run dir: a second one would take the socket and fight over the guests.
        // .NET locks FileShare.None files with flock(2), released when the process ends, however.
        using var runLock = LockRunDir(opts.RunDir);
        if (runLock is null) return 1;
        // The empty builder: no configuration files, environment or command-line sources to read;
        // only Kestrel, routing and console logging. Start-up time is a target (≤ 150 ms).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);   // "no XML encryptor": see WebConsole
        // A body that does not bind (bad JSON, a missing field, the wrong media type) throws
        // BadHttpRequestException, which the middleware below answers with its message.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Default);
            // A null for a field the contract says is never null ({"options": null}) is a 400 naming it.
            o.SerializerOptions.RespectNullableAnnotations = true;
        });
        // The API's contract, made from the routes on first request (GET /openapi/v1.json); docs/openapi.json is its checked-in copy.
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info = new() { Title = "Vireo API", Version = "v1", Description = "vireod's HTTP API on its unix socket (RUN_DIR/vireo.sock); errors are application/problem+json." };
            doc.Servers = [new() { Url = "http://vireo" }];
            return Task.CompletedTask;
        }));
        if (File.Exists(opts.SocketPath)) File.Delete(opts.SocketPath);
        if (opts.SocketRo is { } roSocket)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(roSocket)!);
            if (File.Exists(roSocket)) File.Delete(roSocket);
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenUnixSocket(opts.SocketPath);
            if (opts.SocketRo is { } ro) k.ListenUnixSocket(ro, ReadOnlyApi.MarkConnections);
            foreach (var ep in opts.TlsListen ?? [])
                k.Listen(ep, lo => RemoteTls.Use(lo, tls!.Value.Server, tls.Value.Ca));
            k.Limits.MaxRequestBodySize = null; // vol-upload streams whole images
        });
        var app = builder.Build();
        var loggerFactory = app.Services.GetRequiredService<ILoggerFactory>();

        var engineOptions = new EngineOptions { ConfigDir = opts.ConfigDir, RunDir = opts.RunDir, DataDir = opts.DataDir, QemuUser = qemuUser };
        var hv = await Hypervisor.OpenAsync(engineOptions, loggerFactory, ct);

        var problemLog = loggerFactory.CreateLogger("Vireo.Api");
        app.UseWebSockets();
        app.Use(async (ctx, next) =>
        {
            try
            {
                await next(ctx);
            }
            catch (VireoException e)
            {
                await Problem(ctx, e);
            }
            catch (Exception e) when (!ctx.Response.HasStarted && !ctx.RequestAborted.IsCancellationRequested)
            {
                await Problem(ctx, AsProblem(e, problemLog));
                return;
            }
            // An answer the framework gave without a body (a route that does not match the
            // method, a body of the wrong media type): say what it was.
            if (ctx.Response.StatusCode >= 400 && !ctx.Response.HasStarted && ctx.Response.ContentLength is null && ctx.Response.ContentType is null)
                await Problem(ctx, ctx.Response.StatusCode);
        });
        if (opts.SocketRo is not null) app.Use(ReadOnlyApi.Gate);
        app.MapOpenApi();
        Routes.Map(app, hv);
        NetworkRoutes.Map(app, hv);
        NetworkRoutes.MapHost(app, hv);
        StorageRoutes.Map(app, hv);
        DiskRoutes.Map(app, hv);
        DiskRoutes.MapJobs(app, hv);
        SnapshotRoutes.Map(app, hv);
        SaveRoutes.Map(app, hv);
        InstallRoutes.Map(app, hv);
        app.MapPut("/v1/web/password", async (HttpRequest req, CancellationToken rq) =>
        {
            var secret = (await new StreamReader(req.Body, Encoding.UTF8).ReadToEndAsync(rq)).TrimEnd('\n', '\r');
            if (secret.Length < 8) throw new VireoException(ErrorCode.InvalidArgument, "The web console password needs at least 8 characters.");
            new Vireo.Web.WebAuth(opts.ConfigDir).Set(secret);
            return Results.NoContent();
        });
        var log = loggerFactory.CreateLogger("vireod");
        await app.StartAsync(ct);
        // Bound under the umask of 077 (root's alone), then opened to the group.
        FileAccessRules.OwnerAndGroup(opts.SocketPath, socketGid);
        if (opts.SocketRo is { } everyone) FileAccessRules.Everyone(everyone);
        log.LogInformation("vireod listening on unix:{Socket}{Tls} (read-only: {Ro}; config {Config}, run {Run}); {Count} domains, {Running} running; ready {Ms:0} ms after launch",
            opts.SocketPath, string.Concat((opts.TlsListen ?? []).Select(e => $", tls:{e}")), opts.SocketRo ?? "none", opts.ConfigDir, opts.RunDir, hv.All().Count, hv.All().Count(v => v.IsActive),
            (DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalMilliseconds);
        // The web console after the API: its start-up (Razor components, data protection) never delays the API.
        await using var web = opts.Web is { } listen && Vireo.Host.ListenAddress.TryParse(webTls ? listen[4..] : listen, out var ep)
            ? await Vireo.Web.WebConsole.StartAsync(hv, ep, opts.ConfigDir, loggerFactory, ct, webTls ? tls!.Value.Server : null) : null;
        // libvirt's clients (virsh, virt-install, virt-manager, python-libvirt) on libvirt's protocol.
        var rw = LibvirtPath(opts.LibvirtSocket, "/run/libvirt/libvirt-sock", log);
        var ro = LibvirtPath(opts.LibvirtSocketRo, "/run/libvirt/libvirt-sock-ro", log);
        await using var libvirtRw = rw is not null ? Vireo.Libvirt.RemoteServer.Start(hv, rw, readOnly: false, loggerFactory.CreateLogger("libvirt"), socketGid) : null;
        await using var libvirtRo = ro is not null ? Vireo.Libvirt.RemoteServer.Start(hv, ro, readOnly: true, loggerFactory.CreateLogger("libvirt")) : null;
        if (libvirtRw is not null || libvirtRo is not null)
            log.LogInformation("libvirt remote protocol on {Sockets}", string.Join(", ", new[] { libvirtRw?.Path, libvirtRo?.Path + (libvirtRo is null ? "" : " (read-only)") }.Where(p => !string.IsNullOrEmpty(p))));
        await app.WaitForShutdownAsync(ct);
        // Guests keep running: QEMU lives in its own session and the next daemon adopts it.
        return 0;
    }

    /// <summary>
    /// Where to serve libvirt's protocol: the path given, or with "auto" libvirt's own path — unless a
    /// live libvirtd answers there, which Vireo never takes over (it says so and goes on without it).
    /// A socket nobody answers on is a stale one, and is taken.
    /// </summary>
    private static string? LibvirtPath(string? option, string libvirtDefault, ILogger log)
    {
        if (option != "auto") return option;
        if (!File.Exists(libvirtDefault)) return libvirtDefault;
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(libvirtDefault));
            log.LogWarning("{Path} belongs to a running libvirtd; Vireo leaves it alone and serves libvirt's protocol only where --libvirt-listen says", libvirtDefault);
            return null;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return libvirtDefault;
        }
    }

    private static FileStream? LockRunDir(string runDir)
    {
        var pidFile = Path.Combine(runDir, "vireod.pid");
        try
        {
            var lockFile = new FileStream(Path.Combine(runDir, "vireod.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            AtomicFile.Write(pidFile, $"{Environment.ProcessId}\n");
            return lockFile;
        }
        catch (IOException)
        {
            var other = File.Exists(pidFile) ? File.ReadAllText(pidFile).Trim() : "?";
            Console.Error.WriteLine($"error: another vireod (pid {other}) already runs on {runDir}; stop it first, or give this one its own --run-dir.");
            return null;
        }
    }

    /// <summary>
    /// What an exception the routes did not turn into a VireoException means for the client.
    /// Every answer carries a message: no error is an empty 500.
    /// </summary>
    internal static VireoException AsProblem(Exception e, ILogger log)
    {
        // "Failed to read parameter ... as JSON" + the serializer's own words (which field, where).
        if (e is BadHttpRequestException bad)
            return new VireoException(ErrorCode.InvalidArgument, bad.InnerException is JsonException inner ? $"{bad.Message} {inner.Message}" : bad.Message) { HttpStatus = bad.StatusCode };
        if (Failures.Classify(e) is { } known) return known;
        log.LogError(e, "Unhandled error");
        return new VireoException(ErrorCode.InternalError, $"Internal error ({e.GetType().Name}): {e.Message}. This is a bug in Vireo; the daemon's log has the details.");
    }

    private static Task Problem(HttpContext ctx, int status)
    {
        var text = status switch
        {
            404 => $"No such API path: {ctx.Request.Method} {ctx.Request.Path}.",
            405 => $"{ctx.Request.Path} does not take {ctx.Request.Method}.",
            415 => $"{ctx.Request.Method} {ctx.Request.Path} takes a body of another media type than '{ctx.Request.ContentType}' (application/json for JSON bodies).",
            _ => $"The request was refused ({status}).",
        };
        return Problem(ctx, new VireoException(status == 404 ? ErrorCode.NotFound : ErrorCode.InvalidArgument, text) { HttpStatus = status });
    }

    internal static Task Problem(HttpContext ctx, VireoException e)
    {
        var status = e.HttpStatus ?? e.Code switch
        {
            ErrorCode.NotFound => 404,
            ErrorCode.InvalidArgument => 400,
            ErrorCode.InvalidOperation => 409,
            ErrorCode.Timeout => 504,
            ErrorCode.AccessDenied => 403,
            _ => 500,
        };
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/problem+json";
        var p = new ProblemInfo(e.Code.ToString(), status, e.Message, e.Details.Count > 1 ? e.Details.ToArray() : null);
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(p, ApiJson.Default.ProblemInfo));
    }
}
