using System.CommandLine;
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
        var location = new Option<string?>("--location", "-l") { Description = "Installer ISO or tree (a directory or an http(s) URL) whose kernel and initrd boot the first run: PATH|URL[,kernel=,initrd=]" };
        var extraArgs = new Option<string?>("--extra-args", "-x") { Description = "Kernel command line for --location's installer" };
        var cloudInit = new Option<string?>("--cloud-init") { Description = "NoCloud seed: user-data=,meta-data=,network-config=,root-password-generate=on,root-password-file=,ssh-key=,disable=on", Arity = ArgumentArity.ZeroOrOne };
        var transient = new Option<bool>("--transient") { Description = "Create a transient domain: gone when it stops" };
        var wait = new Option<int?>("--wait") { Description = "Minutes to wait for the install to finish (the guest to stop); -1: as long as it takes" };
        var boot = new Option<string?>("--boot") { Description = "hd,cdrom,network order; kernel=,initrd=,kernel_args=; menu=on" };
        var import = new Option<bool>("--import") { Description = "Boot the first disk as it is (no install media)" };
        var network = new Option<string[]>("--network", "-w") { Description = "network=NAME | bridge=BR | type=direct,source=DEV,source_mode=M | user | none; model=, mac=" };
        var graphics = new Option<string?>("--graphics") { Description = "none (default) or vnc[,listen=ADDR,port=N]" };
        var console = new Option<string[]>("--console") { Description = "Serial console: pty (default), file,path=, unix,path=,mode=bind; log.file=" };
        var serial = new Option<string[]>("--serial") { Description = "Serial ports, in order: pty (default), file,path=, unix,path=,mode=bind; log.file=" };
        var clock = new Option<string?>("--clock") { Description = "offset=utc|localtime, kvmclock_present=yes (KVM PTP), TIMER_tickpolicy=" };
        var channel = new Option<string[]>("--channel") { Description = "unix[,path=,mode=bind],target.type=virtio,target.name=NAME (default: a guest agent channel for Linux, Windows, BSD)" };
        var noAgent = new Option<bool>("--no-guest-agent") { Description = "No default guest agent channel" };
        var rng = new Option<string?>("--rng") { Description = "Host entropy source, e.g. /dev/urandom" };
        var filesystem = new Option<string[]>("--filesystem") { Description = "SOURCE,TAG[,accessmode=passthrough|mapped|squash] (9p share); SOURCE,TAG,driver.type=virtiofs" };
        var controller = new Option<string[]>("--controller") { Description = "type=scsi,model=virtio-scsi | type=usb,model=qemu-xhci | …" };
        var autostart = new Option<bool>("--autostart") { Description = "Start the domain when the daemon starts" };
        var noAutoconsole = new Option<bool>("--noautoconsole") { Description = "Do not attach to the console" };
        var printXml = new Option<bool>("--print-xml") { Description = "Print the domain XML (what 'vireo define' takes) and stop" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Check everything, create nothing" };
        var cmd = new Command("install", "Create a domain the way virt-install does: disks, media, network, then define and start it")
        {
            name, memory, vcpus, cpu, machine, virtType, osVariant, disk, cdrom, location, extraArgs, boot, import, network, graphics, console, serial,
            clock, channel, noAgent, rng, filesystem, controller, cloudInit, autostart, transient, wait, noAutoconsole, printXml, dryRun,
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
                Serials = [.. pr.GetValue(serial) ?? []], Consoles = [.. pr.GetValue(console) ?? []],
                Clock = pr.GetValue(clock), Channels = [.. pr.GetValue(channel) ?? []], NoGuestAgent = pr.GetValue(noAgent),
                ExtraArgs = pr.GetValue(extraArgs), Transient = pr.GetValue(transient),
                // A bare --cloud-init means its defaults.
                CloudInit = pr.GetResult(cloudInit) is null ? null : pr.GetValue(cloudInit) ?? "",
            };
            if (o.Location is { } loc && !loc.Contains("://"))   // a path; a URL (ftp:// too) is the builder's to judge
            {
                var src = loc.Split(',')[0];
                o.Location = Path.GetFullPath(src) + loc[src.Length..];
                o.LocationIsDirectory = Directory.Exists(Path.GetFullPath(src));
            }
            if (pr.GetValue(autostart) && o.Transient) throw new CliException("--autostart needs a persistent domain; drop --transient.");
            InstallPlan plan;
            try { plan = InstallBuilder.Build(o, caps.KvmUsable); }
            catch (DefinitionException e) { throw new CliException(string.Join("\n", e.Problems.Select(p => p.Message))); }
            var dom = plan.Domain;
            if (!pr.GetValue(printXml) && (await c.DomainsAsync(ct)).Any(x => x.Name == dom.Name))
                throw new CliException($"Domain '{dom.Name}' already exists; pick another --name (or 'vireo undefine {dom.Name}' first).");
            LocationResult? found = null;
            if (plan.Location is { } lp)
            {
                // The daemon finds (and unless only looking, extracts) the installer's kernel and initrd.
                // Only looked up here (for --print-xml and --dry-run, and an early error); the install itself copies them.
                found = await c.JsonAsync("POST", "v1/install/location", ApiJson.Default.LocationResult,
                    DaemonClient.Json(new LocationRequest(dom.Name, lp.Source, lp.Kernel, lp.Initrd, dom.Os.Cmdline), ApiJson.Default.LocationRequest), ct);
                dom.Os.Kernel = found.Kernel;
                dom.Os.Initrd = found.Initrd;
                dom.Os.Cmdline = found.Cmdline;
            }
            if (pr.GetValue(printXml))
            {
                if (plan.CloudInit is { } ci) Console.Error.WriteLine($"NOTE  the cloud-init seed (volume '{ci.Volume}' in pool '{ci.Pool}') is made by 'vireo install', not by --print-xml.");
                if (found is not null) Console.Error.WriteLine($"NOTE  the installer's kernel and initrd ({found.KernelInside}, {found.InitrdInside}) are copied by 'vireo install', not by --print-xml.");
                Console.Write(DomainXml.Write(dom));
                return 0;
            }
            string? password = null;
            var seedFiles = plan.CloudInit is { } cip ? CloudInitFiles(cip, dom, out password) : null;
            foreach (var w in plan.Warnings) Console.Error.WriteLine($"WARNING  {w}");
            if (plan.NewDisks.FirstOrDefault(n => n.Pool is null) is { } file)
                throw new CliException($"--disk path={file.Path},size= would create a file outside every pool; create it in a pool (pool=default,size=N) or make it first (vireo vol-create-as).");
            if (pr.GetValue(dryRun))
            {
                if (found is not null) Console.WriteLine($"Found the {found.Distro} installer: {found.KernelInside}, {found.InitrdInside}");
                Console.WriteLine("Dry run completed successfully");
                return 0;
            }
            // Listening before the start: a first run that ends quickly is not missed.
            var waitMinutes = pr.GetValue(wait);
            using var events = waitMinutes is not null and not 0 ? await c.SendAsync("GET", "v1/events", null, ct) : null;
            // The daemon carries the plan out (the same Installer as the web console's wizard).
            var req = new InstallRequest(o, seedFiles?.Select(f => new SeedFile(f.Name, f.Text)).ToArray(), pr.GetValue(autostart), Start: true);
            var remote = plan.Location is { } rl && LocationPlan.IsRemote(rl.Source);
            var bar = new ProgressBar("Retrieving the installer's kernel and initrd");
            var done = await JobAsync(c, "v1/install", DaemonClient.Json(req, ApiJson.Default.InstallRequest), bar, ct);
            if (remote) bar.Done();
            Console.WriteLine(done.Message);
            if (password is not null && plan.CloudInit!.GeneratePassword)
                Console.WriteLine($"Generated password for the first boot (root; it must be changed at the first login): {password}");
            if (events is not null)
            {
                Console.WriteLine(waitMinutes < 0 ? "Waiting for the installation to finish." : $"Waiting {waitMinutes} minute{(waitMinutes == 1 ? "" : "s")} for the installation to finish.");
                if (!await WaitStoppedAsync(events, dom.Name, waitMinutes!.Value, ct))
                {
                    Console.Error.WriteLine($"error: Domain '{dom.Name}' is still running after {waitMinutes} minute{(waitMinutes == 1 ? "" : "s")}; the installation may still be in progress.");
                    return 1;
                }
                Console.WriteLine(plan.Location is not null ? "Installation finished; the domain starts again from its disk." : "Installation finished: the domain has stopped.");
            }
            Console.WriteLine("Domain creation completed.");
            if (!pr.GetValue(noAutoconsole) && events is null) Console.WriteLine($"Connect to its console with: vireo console {dom.Name}");
            return 0;
        });
        root.Subcommands.Add(cmd);
    }

    /// <summary>vireo clone: virt-clone's options.</summary>
    private static void AddCloneCommand(RootCommand root)
    {
        var original = new Option<string>("--original", "-o") { Description = "The domain to copy (shut off)", Required = true };
        var name = new Option<string?>("--name", "-n") { Description = "Name of the clone (default: ORIGINAL-clone)" };
        var auto = new Option<bool>("--auto-clone") { Description = "Name the disk copies after the clone" };
        var file = new Option<string[]>("--file", "-f") { Description = "Destination of each disk to copy, in order" };
        var reflink = new Option<bool>("--reflink") { Description = "Copy-on-write copies (btrfs, XFS): instant" };
        var linked = new Option<bool>("--linked") { Description = "Linked clones: qcow2 overlays on the original's disks" };
        var mac = new Option<string[]>("--mac", "-m") { Description = "MAC of each NIC, in order (default: new ones)" };
        var cmd = new Command("clone", "Copy a domain: new name, UUID and MACs, its disks copied (virt-clone)") { original, name, auto, file, reflink, linked, mac };
        Client(cmd, async (pr, c, ct) =>
        {
            if (pr.GetValue(reflink) && pr.GetValue(linked)) throw new CliException("--reflink and --linked exclude each other.");
            var orig = pr.GetValue(original)!;
            var newName = pr.GetValue(name) ?? orig + "-clone";
            var req = new CloneRequest(newName, pr.GetValue(auto) || pr.GetValue(name) is null, [.. (pr.GetValue(file) ?? []).Select(Path.GetFullPath)],
                pr.GetValue(linked) ? "linked" : pr.GetValue(reflink) ? "reflink" : "copy", pr.GetValue(mac) ?? []);
            var bar = new ProgressBar($"Cloning {orig}");
            var done = await JobAsync(c, $"v1/domains/{DaemonClient.E(orig)}/clone", DaemonClient.Json(req, ApiJson.Default.CloneRequest), bar, ct);
            Console.WriteLine(done.Message);
            return 0;
        });
        root.Subcommands.Add(cmd);
    }

    /// <summary>The seed's files, reading what --cloud-init names; the root password chosen, if any.</summary>
    private static IReadOnlyList<(string Name, string Text)> CloudInitFiles(CloudInitPlan p, DomainDef dom, out string? password)
    {
        static string Read(string what, string path)
        {
            // The shell leaves a ~ inside an option string alone.
            if (path.StartsWith("~/")) path = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[2..]);
            try { return File.ReadAllText(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"Cannot read --cloud-init {what} '{path}': {e.Message}"); }
        }
        password = p.GeneratePassword ? CloudInitPlan.NewPassword()
            : p.PasswordFile is { } pf ? Read("root-password-file", pf).Split('\n')[0].TrimEnd('\r') : null;
        return p.Render(dom.Name, dom.Uuid == Guid.Empty ? Guid.NewGuid() : dom.Uuid, path =>
            Read(path == p.UserDataFile ? "user-data" : path == p.MetaDataFile ? "meta-data" : path == p.NetworkConfigFile ? "network-config" : "ssh-key", path), password);
    }

    /// <summary>--wait: true once the domain's first run ends (a Stopped event), false after the minutes given.</summary>
    private static async Task<bool> WaitStoppedAsync(HttpReply events, string name, int minutes, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (minutes > 0) cts.CancelAfter(TimeSpan.FromMinutes(minutes));
        try
        {
            using var reader = new StreamReader(events.Body);
            while (await reader.ReadLineAsync(cts.Token) is { } line)
            {
                var e = System.Text.Json.JsonSerializer.Deserialize(line, ApiJson.Default.EventInfo)!;
                if (e.Domain == name && e.Event == "Stopped") return true;
            }
            throw new CliException("The daemon closed its event stream.");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
    }
}
