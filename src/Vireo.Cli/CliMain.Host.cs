using System.CommandLine;
using System.Xml.Linq;
using Vireo.Api;
using Vireo.Host;
using Vireo.Qemu;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static void AddHostCommands(RootCommand root)
    {
        {
            var cmd = new Command("host-validate", "Check that this host can run guests (like virt-host-validate)");
            cmd.SetAction(async (pr, ct) =>
            {
                string? qemu = null, img = null;
                try { qemu = (await Exec.RunAsync("qemu-system-x86_64", ["--version"], ct)).Stdout.Split('\n')[0].Trim(); }
                catch (CommandException) { }
                try { img = await QemuImg.VersionAsync(ct); }
                catch (CommandException) { }
                var checks = HostProbe.Validate(qemu, img);
                foreach (var c in checks)
                {
                    var verdict = c.Status switch { CheckStatus.Pass => "PASS", CheckStatus.Warn => "WARN", _ => "FAIL" };
                    var detail = c.Detail is null ? "" : $" ({c.Detail})";
                    Console.WriteLine($"{c.Area,6}: {c.Title,-52}: {verdict}{detail}");
                    if (c.Status != CheckStatus.Pass && c.Hint is not null)
                        Console.WriteLine($"{"",8}hint: {c.Hint}");
                }
                return checks.Any(c => c.Status == CheckStatus.Fail) ? 1 : 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var dir = new Option<string>("--dir") { Description = "Where to write the certificates (the daemon's --tls-dir; default /etc/vireo/tls)", DefaultValueFactory = _ => DaemonEndpoint.DefaultTlsDir };
            var host = new Option<string[]>("--host") { Description = "A name or address clients dial the daemon by; once or more", Arity = ArgumentArity.OneOrMore, Required = true };
            var clientName = new Option<string>("--client-name") { Description = "The client certificate's common name", DefaultValueFactory = _ => "vireo-client" };
            var cmd = new Command("tls-init", "Make a CA, a server certificate and a client certificate for remote access over TLS (--listen tls:, --connect tls://)") { dir, host, clientName };
            cmd.SetAction(pr =>
            {
                var files = new TlsFiles(pr.GetValue(dir)!);
                try
                {
                    var hosts = pr.GetValue(host)!;
                    files.Create(hosts, pr.GetValue(clientName)!, TimeProvider.System);
                    Console.WriteLine($"Made in {files.Dir}: a CA (cacert.pem, cakey.pem), a server certificate for {string.Join(", ", hosts)} (servercert.pem, serverkey.pem) and a client certificate (clientcert.pem, clientkey.pem).");
                    Console.WriteLine($"Daemon: vireo daemon --listen tls:0.0.0.0:16514 --tls-dir {files.Dir}");
                    Console.WriteLine($"Client: copy cacert.pem, clientcert.pem and clientkey.pem to its /etc/vireo/tls (or --tls-dir), then vireo --connect tls://{hosts[0]}:16514 list");
                    return 0;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    return 1;
                }
            });
            root.Subcommands.Add(cmd);
        }

        {
            var cmd = new Command("capabilities", "Host and hypervisor capabilities, as libvirt's XML (from QEMU itself)");
            Client(cmd, async (pr, c, ct) =>
            {
                Console.Write(await c.TextAsync("GET", "v1/capabilities/xml", ct: ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var virt = new Option<string?>("--virttype") { Description = "kvm or qemu (default: kvm where it works, else qemu)" };
            var machine = new Option<string?>("--machine") { Description = "Machine type (default: QEMU's default)" };
            var arch = new Option<string?>("--arch") { Description = "Guest architecture (x86_64)" };
            var emulator = new Option<string?>("--emulatorbin") { Description = "Emulator binary (the daemon's QEMU)" };
            var cmd = new Command("domcapabilities", "What a domain of this type can use, as libvirt's XML: machine, firmware, CPU models, devices") { virt, machine, arch, emulator };
            Client(cmd, async (pr, c, ct) =>
            {
                var q = string.Join("&", new[] { ("virttype", pr.GetValue(virt)), ("machine", pr.GetValue(machine)), ("arch", pr.GetValue(arch)) }
                    .Where(x => x.Item2 is not null).Select(x => $"{x.Item1}={DaemonClient.E(x.Item2!)}"));
                Console.Write(await c.TextAsync("GET", "v1/domcapabilities" + (q.Length > 0 ? "?" + q : ""), ct: ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var cmd = new Command("version", "Versions of vireo and the daemon");
            Client(cmd, async (pr, c, ct) =>
            {
                Console.WriteLine("Compiled against vireo 0.1");
                Console.Write("Running daemon: " + await c.TextAsync("GET", "v1/version", ct: ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }
}
