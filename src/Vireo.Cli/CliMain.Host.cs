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
            var cmd = new Command("capabilities", "Host and hypervisor capabilities, as XML (from QEMU itself)");
            Client(cmd, async (pr, c, ct) =>
            {
                var caps = await c.JsonAsync("GET", "v1/capabilities", ApiJson.Default.CapabilitiesInfo, ct: ct);
                var arch = new XElement("arch", new XAttribute("name", "x86_64"),
                    new XElement("wordsize", 64), new XElement("emulator", caps.Emulator));
                foreach (var m in caps.Machines)
                {
                    arch.Add(new XElement("machine", new XAttribute("maxCpus", m.MaxCpus), m.Name));
                    if (m.Alias is { } alias)
                        arch.Add(new XElement("machine", new XAttribute("canonical", m.Name), new XAttribute("maxCpus", m.MaxCpus), alias));
                }
                arch.Add(new XElement("domain", new XAttribute("type", "qemu")));
                if (caps.KvmUsable) arch.Add(new XElement("domain", new XAttribute("type", "kvm")));
                var doc = new XElement("capabilities",
                    new XElement("host",
                        new XElement("cpu", new XElement("arch", "x86_64")),
                        new XComment($" KVM {(caps.KvmUsable ? "usable" : "not usable")}: {caps.KvmReason} "),
                        new XElement("vhostNet", caps.VhostNet ? "yes" : "no")),
                    new XElement("guest", new XElement("os_type", "hvm"), arch,
                        new XElement("features", new XElement("acpi", new XAttribute("default", "on"), new XAttribute("toggle", "yes")))));
                Console.Write(Vireo.Model.DomainXml.ToText(doc));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }

        {
            var virt = new Option<string>("--virttype") { Description = "kvm or qemu", DefaultValueFactory = _ => "qemu" };
            var machine = new Option<string?>("--machine") { Description = "Machine type (default: QEMU's default)" };
            var cmd = new Command("domcapabilities", "What a domain of this type can use: machine, CPU models, devices") { virt, machine };
            Client(cmd, async (pr, c, ct) =>
            {
                var caps = await c.JsonAsync("GET", "v1/capabilities", ApiJson.Default.CapabilitiesInfo, ct: ct);
                var type = pr.GetValue(virt)!;
                if (type is not ("qemu" or "kvm")) throw new CliException($"Unknown virttype '{type}'; use kvm or qemu.");
                var m = pr.GetValue(machine) is { } want
                    ? caps.Machines.FirstOrDefault(x => x.Name == want || x.Alias == want) ?? throw new CliException($"QEMU has no machine type '{want}'; see 'vireo capabilities'.")
                    : caps.Machines.FirstOrDefault(x => x.IsDefault) ?? caps.Machines[0];
                var kvmOk = type == "kvm" && caps.KvmUsable;
                var doc = new XElement("domainCapabilities",
                    new XElement("path", caps.Emulator),
                    new XElement("domain", type),
                    new XElement("machine", m.Name),
                    new XElement("arch", "x86_64"),
                    new XElement("vcpu", new XAttribute("max", m.MaxCpus)),
                    type == "kvm" && !caps.KvmUsable ? new XComment($" KVM cannot run guests here: {caps.KvmReason}; use virttype qemu ") : null,
                    new XElement("cpu",
                        new XElement("mode", new XAttribute("name", "host-passthrough"), new XAttribute("supported", kvmOk ? "yes" : "no")),
                        new XElement("mode", new XAttribute("name", "maximum"), new XAttribute("supported", "yes")),
                        new XElement("mode", new XAttribute("name", "host-model"), new XAttribute("supported", "yes")),
                        new XElement("mode", new XAttribute("name", "custom"), new XAttribute("supported", "yes"),
                            caps.CpuModels.Select(cm => new XElement("model", new XAttribute("usable", cm.Usable ? "yes" : "no"), cm.Name)))),
                    new XElement("devices",
                        Enum("disk", ("diskDevice", ["disk", "cdrom"]), ("bus", ["virtio", "sata", "scsi", "ide"])),
                        Enum("graphics", ("type", ["vnc"])),
                        Enum("video", ("modelType", ["vga", "cirrus", "virtio", "bochs", "none"])),
                        Enum("rng", ("model", ["virtio"]), ("backendModel", ["random", "builtin"])),
                        Enum("filesystem", ("driverType", ["path"]))));
                Console.Write(Vireo.Model.DomainXml.ToText(doc));
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

    private static XElement Enum(string name, params (string Enum, string[] Values)[] enums) =>
        new(name, new XAttribute("supported", "yes"),
            enums.Select(e => new XElement("enum", new XAttribute("name", e.Enum), e.Values.Select(v => new XElement("value", v)))));
}
