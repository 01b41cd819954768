using System.CommandLine;

namespace Vireo.Cli;

/// <summary>Arguments for the daemon verb; the host program supplies the daemon itself.</summary>
public sealed record DaemonArgs(string ConfigDir, string RunDir, string Socket, string DataDir, string? Web, string? LibvirtSocket = null, string? LibvirtSocketRo = null, string? SocketGroup = "auto", string? SocketRo = null,
    IReadOnlyList<System.Net.IPEndPoint>? TlsListen = null, string? TlsDir = null, string QemuUser = "root");

/// <summary>The vireo command line: virsh verbs (client of vireod), plus daemon and host-validate.</summary>
public static partial class CliMain
{
    public const string DefaultConfigDir = "/etc/vireo";
    public const string DefaultRunDir = "/run/vireo";
    public const string DefaultDataDir = "/var/lib/vireo";

    internal static readonly Option<string?> Connect = new("--connect", "-c")
    {
        Description = "Daemon to talk to: unix:/path/to/vireo.sock, or tls://HOST:PORT (default: $VIREO_CONNECT, else unix:/run/vireo/vireo.sock)",
        Recursive = true,
    };

    internal static readonly Option<string?> TlsDir = new("--tls-dir")
    {
        Description = "For tls://: where cacert.pem, clientcert.pem and clientkey.pem are (default: $VIREO_TLS_DIR, else /etc/vireo/tls); for the daemon, its CA and server certificate (default: CONFIG_DIR/tls)",
        Recursive = true,
    };

    internal static readonly Option<bool> ReadOnly = new("--readonly", "-r")
    {
        Description = "Connect to the daemon's read-only socket (vireo-ro.sock beside the main one): list, info, XML and events as any user",
        Recursive = true,
    };

    public static async Task<int> RunAsync(string[] args, Func<DaemonArgs, CancellationToken, Task<int>> runDaemon)
    {
        var root = new RootCommand("Vireo: a virtualization manager for KVM/QEMU hosts (virsh verbs, daemon, host validation).");
        root.Options.Add(Connect);
        root.Options.Add(ReadOnly);
        root.Options.Add(TlsDir);
        root.Subcommands.Add(DaemonCommand(runDaemon));
        AddDomainCommands(root);
        AddNetworkCommands(root);
        AddStorageCommands(root);
        AddDiskCommands(root);
        AddSnapshotCommands(root);
        AddSaveCommands(root);
        AddImportCommand(root);
        AddBlockJobCommands(root);
        AddInstallCommand(root);
        AddCloneCommand(root);
        AddWebCommands(root);
        AddHostCommands(root);
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (CliException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
    }

    private static Command DaemonCommand(Func<DaemonArgs, CancellationToken, Task<int>> runDaemon)
    {
        var config = new Option<string>("--config-dir") { Description = "Where definitions live", DefaultValueFactory = _ => DefaultConfigDir };
        var run = new Option<string>("--run-dir") { Description = "Where runtime state lives (pids, monitor sockets, logs)", DefaultValueFactory = _ => DefaultRunDir };
        var data = new Option<string>("--data-dir") { Description = "Where images and saved guests live (DATA_DIR/images is the default pool)", DefaultValueFactory = _ => DefaultDataDir };
        var listen = new Option<string[]>("--listen") { Description = "Where to serve the API, once or more: unix:PATH (default: RUN_DIR/vireo.sock), tls:ADDR:PORT (remote clients with a certificate the CA in --tls-dir signed)", Arity = ArgumentArity.ZeroOrMore };
        var web = new Option<string>("--web") { Description = "The web console's address: HOST:PORT, tls:HOST:PORT (HTTPS with --tls-dir's server certificate), unix:PATH (behind a reverse proxy), or none", DefaultValueFactory = _ => "127.0.0.1:8780" };
        var libvirt = new Option<string>("--libvirt-listen") { Description = "unix:PATH to serve libvirt's remote protocol on, none, or auto: libvirt's own /run/libvirt/libvirt-sock when no libvirtd holds it (so plain 'virsh' reaches Vireo)", DefaultValueFactory = _ => "auto" };
        var libvirtRo = new Option<string>("--libvirt-listen-ro") { Description = "unix:PATH for libvirt's read-only socket, none, or auto (/run/libvirt/libvirt-sock-ro)", DefaultValueFactory = _ => "auto" };
        var group = new Option<string>("--socket-group") { Description = "The group whose members may use the API socket besides root (mode 0660): a group name, none (root only), or auto (vireo when that group exists)", DefaultValueFactory = _ => "auto" };
        var listenRo = new Option<string?>("--listen-ro") { Description = "unix:PATH for the read-only API socket any local user may use (list, info, XML, events, statistics), or none (default: RUN_DIR/vireo-ro.sock)" };
        var qemuUser = new Option<string>("--qemu-user") { Description = "The user guests' QEMUs run as: root, auto (vireo-qemu when it exists), or a user name; their files are given to it for each run", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("daemon", "Run vireod in the foreground") { config, run, data, listen, listenRo, web, libvirt, libvirtRo, group, qemuUser };
        cmd.SetAction((pr, ct) =>
        {
            var runDir = Path.GetFullPath(pr.GetValue(run)!);
            string? sock = null;
            var tls = new List<System.Net.IPEndPoint>();
            foreach (var l in pr.GetValue(listen) ?? [])
            {
                if (l.StartsWith("tls:", StringComparison.Ordinal) && System.Net.IPEndPoint.TryParse(l[4..], out var ep) && ep.Port != 0) tls.Add(ep);
                else if (l.StartsWith("unix:", StringComparison.Ordinal) && sock is null) sock = l[5..];
                else
                {
                    Console.Error.WriteLine($"error: --listen '{l}' is not unix:/absolute/path or tls:ADDR:PORT (e.g. tls:0.0.0.0:16514, tls:[::]:16514); give one unix socket at most.");
                    return Task.FromResult(1);
                }
            }
            sock ??= Path.Combine(runDir, "vireo.sock");
            var sockRo = pr.GetValue(listenRo) switch
            {
                "none" => null,
                null => Path.Combine(runDir, DaemonClient.ReadOnlySocketName),
                var v => Path.GetFullPath(DaemonClient.ParseConnect(v)),
            };
            var w = pr.GetValue(web)!;
            if (w != "none" && !Vireo.Host.ListenAddress.TryParse(w.StartsWith("tls:", StringComparison.Ordinal) ? w[4..] : w, out _))
            {
                Console.Error.WriteLine($"error: --web '{w}' is not HOST:PORT (e.g. 127.0.0.1:8780), tls:HOST:PORT (HTTPS with the server certificate in --tls-dir), unix:/absolute/path, or none.");
                return Task.FromResult(1);
            }
            string? Unix(Option<string> o) => pr.GetValue(o) switch
            {
                null or "none" => null,
                "auto" => "auto",
                var v => Path.GetFullPath(DaemonClient.ParseConnect(v)),
            };
            return runDaemon(new DaemonArgs(Path.GetFullPath(pr.GetValue(config)!), runDir, Path.GetFullPath(sock), Path.GetFullPath(pr.GetValue(data)!), w == "none" ? null : w,
                Unix(libvirt), Unix(libvirtRo), pr.GetValue(group) is "none" ? null : pr.GetValue(group), sockRo, tls,
                // tls: listeners' CA and server certificate (vireo tls-init makes them).
                Path.GetFullPath(pr.GetValue(TlsDir) ?? Path.Combine(pr.GetValue(config)!, "tls")), pr.GetValue(qemuUser)!), ct);
        });
        return cmd;
    }

    /// <summary>
    /// A hot-unplug the guest has not finished (202): the request stands and the device leaves the
    /// running domain when the guest lets go (a guest still booting, or one without ACPI hot-plug).
    /// </summary>
    internal static string DetachRequested(string what) =>
        $"{what} detach requested: the guest has not released it yet; it leaves the running domain when it does (vireo event --event device-removed waits for that)";

    /// <summary>A client command: opens the connection, runs, maps CliException to "error:" and exit 1.</summary>
    internal static void Client(Command cmd, Func<ParseResult, DaemonClient, CancellationToken, Task<int>> body) =>
        cmd.SetAction(async (pr, ct) =>
        {
            try
            {
                using var client = new DaemonClient(pr.GetValue(Connect), pr.GetValue(ReadOnly), pr.GetValue(TlsDir));
                return await body(pr, client, ct);
            }
            catch (CliException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });

    internal static Argument<string> DomainArg() => new("domain") { Description = "Domain name, id or uuid" };
}
