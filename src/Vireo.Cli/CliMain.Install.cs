using System.CommandLine;
using System.Security;
using Vireo.Api;
using Vireo.Model;

namespace Vireo.Cli;

public static partial class CliMain
{
    /// <summary>vireo install: virt-install's options, turned into a domain by InstallBuilder (shared with the web wizard).</summary>
    private static void AddInstallCommand(RootCommand root)
    {
        var name = new Option<string?>("--name", "-n") { Description = "Name of the new domain" };
        var memory = new Option<string?>("--memory") { Description = "Memory in MiB: 2048, or memory=2048,currentMemory=1024" };
        var vcpus = new Option<string?>("--vcpus") { Description = "vCPUs: 2, or 4,sockets=1,cores=2,threads=2, or vcpus=2,maxvcpus=4" };
        var cpu = new Option<string?>("--cpu") { Description = "host-passthrough, host-model, maximum, or a CPU model" };
        var machine = new Option<string?>("--machine") { Description = "Machine type (default: the OS variant's, pc or q35)" };
        var virtType = new Option<string?>("--virt-type") { Description = "kvm or qemu (default: kvm when host-validate says it works)" };
        var osVariant = new Option<string?>("--os-variant", "--osinfo") { Description = "OS variant, e.g. debian12, ubuntu24.04, win11, generic" };
        var disk = new Option<string[]>("--disk") { Description = "path=,size=(GiB),format=,bus=,cache=,io=,discard=,readonly,device=cdrom,boot_order=; pool=P,size=N; vol=POOL/VOL; none", AllowMultipleArgumentsPerToken = false };
        var cdrom = new Option<string?>("--cdrom") { Description = "Install media (ISO)" };
        var location = new Option<string?>("--location") { Description = "Install tree (not supported yet)" };
        var boot = new Option<string?>("--boot") { Description = "hd,cdrom,network order; kernel=,initrd=,kernel_args=; menu=on" };
        var import = new Option<bool>("--import") { Description = "Boot the first disk as it is (no install media)" };
        var network = new Option<string[]>("--network", "-w") { Description = "network=NAME | bridge=BR | type=direct,source=DEV,source_mode=M | user | none; model=, mac=" };
        var graphics = new Option<string?>("--graphics") { Description = "none (default) or vnc[,listen=ADDR,port=N]" };
        var console = new Option<string[]>("--console") { Description = "Accepted: a serial console (pty) is always added" };
        var serial = new Option<string[]>("--serial") { Description = "Accepted: a serial port (pty) is always added" };
        var rng = new Option<string?>("--rng") { Description = "Host entropy source, e.g. /dev/urandom" };
        var filesystem = new Option<string[]>("--filesystem") { Description = "SOURCE,TAG[,accessmode=passthrough|mapped|squash] (9p share)" };
        var controller = new Option<string[]>("--controller") { Description = "type=scsi,model=virtio-scsi | type=usb,model=qemu-xhci | …" };
        var autostart = new Option<bool>("--autostart") { Description = "Start the domain when the daemon starts" };
        var noAutoconsole = new Option<bool>("--noautoconsole") { Description = "Do not attach to the console" };
        var printXml = new Option<bool>("--print-xml") { Description = "Print the domain XML (what 'vireo define' takes) and stop" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Check everything, create nothing" };
        var cmd = new Command("install", "Create a domain the way virt-install does: disks, media, network, then define and start it")
        {
            name, memory, vcpus, cpu, machine, virtType, osVariant, disk, cdrom, location, boot, import, network, graphics, console, serial,
            rng, filesystem, controller, autostart, noAutoconsole, printXml, dryRun,
        };
        Client(cmd, async (pr, c, ct) =>
        {
            var caps = await c.JsonAsync("GET", "v1/capabilities", ApiJson.Default.CapabilitiesInfo, null, ct);
            var o = new InstallOptions
            {
                Name = pr.GetValue(name), Memory = pr.GetValue(memory), Vcpus = pr.GetValue(vcpus), Cpu = pr.GetValue(cpu),
                Machine = pr.GetValue(machine), VirtType = pr.GetValue(virtType), OsVariant = pr.GetValue(osVariant),
                Disks = [.. pr.GetValue(disk) ?? []], Cdrom = pr.GetValue(cdrom) is { } cd ? Path.GetFullPath(cd) : null, Location = pr.GetValue(location),
                Boot = pr.GetValue(boot), Import = pr.GetValue(import), Networks = [.. pr.GetValue(network) ?? []], Graphics = pr.GetValue(graphics),
                Rng = pr.GetValue(rng), Filesystems = [.. pr.GetValue(filesystem) ?? []], Controllers = [.. pr.GetValue(controller) ?? []],
            };
            InstallPlan plan;
            try { plan = InstallBuilder.Build(o, caps.KvmUsable); }
            catch (DefinitionException e) { throw new CliException(string.Join("\n", e.Problems.Select(p => p.Message))); }
            var xml = DomainXml.Write(plan.Domain);
            if (pr.GetValue(printXml)) { Console.Write(xml); return 0; }
            if ((await c.DomainsAsync(ct)).Any(x => x.Name == plan.Domain.Name))
                throw new CliException($"Domain '{plan.Domain.Name}' already exists; pick another --name (or 'vireo undefine {plan.Domain.Name}' first).");
            foreach (var w in plan.Warnings) Console.Error.WriteLine($"WARNING  {w}");
            if (plan.NewDisks.FirstOrDefault(n => n.Pool is null) is { } file)
                throw new CliException($"--disk path={file.Path},size= would create a file outside every pool; create it in a pool (pool=default,size=N) or make it first (vireo vol-create-as).");
            if (pr.GetValue(dryRun))
            {
                Console.WriteLine("Dry run completed successfully");
                return 0;
            }
            var made = new List<(string Pool, string Name)>();
            try
            {
                foreach (var nd in plan.NewDisks)
                {
                    var vol = $"<volume><name>{SecurityElement.Escape(nd.Name)}</name><capacity unit='bytes'>{nd.SizeBytes}</capacity><target><format type='{nd.Format}'/></target></volume>";
                    await c.JsonAsync("POST", $"v1/pools/{DaemonClient.E(nd.Pool!)}/volumes", ApiJson.Default.VolumeInfo, DaemonClient.Xml(vol), ct);
                    made.Add((nd.Pool!, nd.Name));
                    Console.WriteLine($"Allocating '{nd.Name}' ({ProgressBar.Bytes(nd.SizeBytes)}) in pool '{nd.Pool}'");
                }
                await c.JsonAsync("POST", "v1/domains", ApiJson.Default.DefineResult, DaemonClient.Xml(xml), ct);
            }
            catch (CliException)
            {
                // Nothing half-made stays: the volumes made for this domain go again.
                foreach (var (p, v) in made) try { (await c.SendAsync("DELETE", $"v1/pools/{DaemonClient.E(p)}/volumes/{DaemonClient.E(v)}", null, ct)).Dispose(); } catch (CliException) { }
                throw;
            }
            if (pr.GetValue(autostart)) await c.TextAsync("PUT", $"v1/domains/{DaemonClient.E(plan.Domain.Name)}/autostart?enable=true&format=tsv", null, ct);
            Console.WriteLine($"Creating domain '{plan.Domain.Name}' ({plan.Domain.Vcpus} vCPU, {plan.Domain.MemoryKiB / 1024} MiB, {plan.Domain.Type}, os-variant {plan.Os.Name})");
            await c.ActAsync(plan.Domain.Name, "start", "", ct);
            Console.WriteLine("Domain creation completed.");
            if (!pr.GetValue(noAutoconsole)) Console.WriteLine($"Connect to its console with: vireo console {plan.Domain.Name}");
            return 0;
        });
        root.Subcommands.Add(cmd);
    }
}
